#!/usr/bin/env bash
# CREATE EXTENSION from the Debian package (ext/postgres/mkdeb.sh): the
# package is built from BUILD, must depend on postgresql-15 and nng but not
# on libsnowrange (linked in statically, its symbols not exported by the
# module), and, unpacked into a private PostgreSQL tree (dpkg-deb -x, so
# nothing is installed on the machine), must load at server start, join a
# master on 127.0.0.1 and serve IDs and txids.
#
# Usage: deb.sh BUILD_DIR
set -euo pipefail
if grep -q '^SNOWRANGE_SANITIZE:BOOL=ON' "${1:?build dir}/CMakeCache.txt"; then
	echo "skipped: a sanitized libsnowrange cannot be loaded into postgres" \
		"(docs/postgresql.md)" >&2
	exit 77
fi
source "$(dirname "$0")/../../../tests/integration/lib.sh" "$1"
source "$(dirname "$0")/pgsetup.sh"
need dpkg-shlibdeps dpkg-dev
need nm binutils

chmod 755 "$WORK"
log "mkdeb"
deb=$("$EXT_SRC/mkdeb.sh" "$BUILD" "$WORK/out" 2>"$WORK/mkdeb.log") ||
	fail "mkdeb failed (see $WORK/mkdeb.log)"
[[ $(basename "$deb") == postgresql-15-snowrange_*.deb ]] || fail "unexpected package $deb"
depends=$(dpkg-deb -f "$deb" Depends)
for want in postgresql-15 libnng1 libprotobuf-c1; do
	grep -q "$want" <<<"$depends" || fail "Depends lacks $want: $depends"
done
! grep -q snowrange <<<"$depends" || fail "the package depends on libsnowrange: $depends"
dpkg-deb -x "$deb" "$WORK/pg"
module=$PGTREE/lib/postgresql/15/lib/snowrange.so
for f in "$module" "$PGTREE/share/postgresql/15/extension/snowrange.control" \
	"$PGTREE/share/postgresql/15/extension/snowrange--0.1.sql" \
	"$WORK/pg/usr/share/doc/postgresql-15-snowrange/copyright"; do
	[[ -e $f ]] || fail "not in the package: ${f#"$WORK/pg"}"
done
! nm -D --defined-only "$module" | grep -q ' sr_' ||
	fail "the module exports libsnowrange's symbols"
pg_tree

start_tcp_master
"$CLI" -m "$MASTER_URL" seq create orders --chunk 100 >/dev/null || fail "seq create"
pg_new d1 "$(free_port)"
pg_start d1
psqlq d1 "CREATE EXTENSION snowrange" || fail "CREATE EXTENSION from the package"
ids=$(psqlq d1 "SELECT snowrange.nextvals('orders', 3)") || fail "nextvals"
[[ $ids == "{1,2,3}" ]] || fail "first IDs $ids, not {1,2,3}"
# A new master grants its first worker id TTL/3 + grace after its start
# (docs/snowflake.md, "Claims"); a txid waits for it up to the lease timeout.
for ((i = 0; i < 20; i++)); do
	psqlq d1 "SELECT snowrange.txid() > 0" 2>/dev/null | grep -qx t && break
	sleep 0.5
done
psqlq d1 "SELECT snowrange.txid() > 0" | grep -qx t || fail "txid"
pg_stop d1
stop master
log "OK"
