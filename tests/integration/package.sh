#!/usr/bin/env bash
# The Debian package as an operator installs it (issue 14, docs/operating.md):
# a build of the tree for /usr is packaged with CPack, checked with lintian
# (no errors, no warning about the copyright file, which carries LICENSE),
# listed, extracted into a temporary root; its units pass
# `systemd-analyze verify`; the units' own ExecStart commands start a master
# and a coordinator from that root with the packaged sample configs (plus
# the few keys a site sets), the packaged CLI draws IDs from them, and
# examples/embed.c compiles against the packaged library and runs.
#
# Usage: package.sh BUILD_DIR (the package is built in a build dir of its own)
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
need dpkg-deb dpkg
need dpkg-shlibdeps dpkg-dev
need lintian lintian
need systemd-analyze systemd
need cc build-essential
need pkg-config pkg-config

# Build and package (an optimised build without tests: what a package is).
cmake -S "$SRC" -B "$WORK/deb" -DCMAKE_INSTALL_PREFIX=/usr -DSNOWRANGE_TESTS=OFF \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >"$WORK/deb-configure.log" 2>&1 || fail "configure failed"
cmake --build "$WORK/deb" -j2 >"$WORK/deb-build.log" 2>&1 || fail "build failed"
(cd "$WORK/deb" && cpack -G DEB) >"$WORK/cpack.log" 2>&1 || fail "cpack failed: $(tail "$WORK/cpack.log")"
deb=$(ls "$WORK"/deb/snowrange_*.deb)
log "package: $(basename "$deb"), $(stat -c %s "$deb") bytes"

# lintian: errors fail the test; warnings are printed.
lintian --fail-on error --tag-display-limit 0 "$deb" >"$WORK/lintian.log" 2>&1 ||
	fail "lintian found errors: $(cat "$WORK/lintian.log")"
grep -v "root privileges" "$WORK/lintian.log" >"$WORK/lintian.tags" || true
grep -q . "$WORK/lintian.tags" && log "lintian: $(grep -c . "$WORK/lintian.tags") warnings: $(cut -d' ' -f3 "$WORK/lintian.tags" | tr '\n' ' ')"
# The copyright file is LICENSE's (MIT), which lintian accepts without a
# warning (before LICENSE it warned copyright-without-copyright-notice).
if grep -q copyright "$WORK/lintian.tags"; then
	fail "lintian on the copyright file: $(grep copyright "$WORK/lintian.tags")"
fi

# Contents: everything the issue lists.
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$WORK/contents"
for f in /usr/bin/snowrange /usr/bin/snowrange-master /usr/bin/snowrange-coordinator \
	/lib/systemd/system/snowrange-master.service /lib/systemd/system/snowrange-coordinator.service \
	/etc/snowrange/master.conf /etc/snowrange/coordinator.conf \
	/usr/share/man/man1/snowrange.1.gz /usr/share/man/man8/snowrange-master.8.gz \
	/usr/share/man/man8/snowrange-coordinator.8.gz \
	/usr/share/bash-completion/completions/snowrange \
	/usr/include/snowrange/coordinator.h /usr/lib/x86_64-linux-gnu/pkgconfig/snowrange.pc \
	/usr/lib/x86_64-linux-gnu/cmake/snowrange/snowrangeConfig.cmake \
	/usr/lib/x86_64-linux-gnu/libsnowrange.so.0 /usr/share/doc/snowrange/copyright; do
	grep -qx -- "$f" "$WORK/contents" || fail "the package lacks $f"
done
dpkg-deb -f "$deb" Depends | grep -q libnng1 || fail "no dependency on libnng1"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/snowrange/master.conf ||
	fail "master.conf is not a conffile"

ROOT=$WORK/root
dpkg-deb -x "$deb" "$ROOT"
"$ROOT/usr/bin/snowrange-master" --version | grep -q "snowrange-master 0\." || fail "packaged master --version"
"$ROOT/usr/bin/snowrange" --version >/dev/null || fail "packaged CLI --version"
zcat "$ROOT/usr/share/man/man8/snowrange-master.8.gz" | grep -q "worker\\\\-grace\\\\-ms" ||
	fail "the master's man page lacks worker-grace-ms"
bash -n "$ROOT/usr/share/bash-completion/completions/snowrange" || fail "completion script"
grep -qx "License: Expat" "$ROOT/usr/share/doc/snowrange/copyright" &&
	grep -q "^ Permission is hereby granted" "$ROOT/usr/share/doc/snowrange/copyright" ||
	fail "the copyright file does not carry LICENSE: $(cat "$ROOT/usr/share/doc/snowrange/copyright")"

# The units, pointed at the extracted root, pass systemd-analyze verify.
mkdir -p "$WORK/units"
for u in snowrange-master snowrange-coordinator; do
	sed -e "s|/usr/bin/|$ROOT/usr/bin/|g" -e "s|/etc/snowrange/|$ROOT/etc/snowrange/|g" \
		"$ROOT/lib/systemd/system/$u.service" >"$WORK/units/$u.service"
done
# (--man=no: the man pages are in the root, not where man looks.)
systemd-analyze verify --man=no "$WORK"/units/*.service >"$WORK/verify.log" 2>&1 ||
	fail "systemd-analyze verify: $(cat "$WORK/verify.log")"
if grep -q . "$WORK/verify.log"; then
	fail "systemd-analyze verify complains: $(cat "$WORK/verify.log")"
fi

# The units' commands, as systemd would run them: the site's keys go after
# the packaged sample (into its own section), $STATE_DIRECTORY is a temp dir.
mkdir -p "$WORK/etc" "$WORK/state"
cp "$ROOT/etc/snowrange/master.conf" "$ROOT/etc/snowrange/coordinator.conf" "$WORK/etc/"
echo "listen = $MASTER_URL" >>"$WORK/etc/master.conf"
printf 'master = %s\nname = pkg-1\nlisten = %s\n' "$MASTER_URL" "$(coord_url pkg-1)" \
	>>"$WORK/etc/coordinator.conf"
exec_start() {
	grep '^ExecStart=' "$ROOT/lib/systemd/system/$1.service" | cut -d= -f2- |
		sed -e "s|/usr/bin/|$ROOT/usr/bin/|g" -e "s|/etc/snowrange/|$WORK/etc/|g" \
			-e "s|\${STATE_DIRECTORY}|$WORK/state|g"
}
read -r -a cmd <<<"$(exec_start snowrange-master)"
log "master: ${cmd[*]}"
"${cmd[@]}" >>"$WORK/master.log" 2>&1 &
PIDS[master]=$!
wait_ready "$MASTER_URL"
[[ -f $WORK/state/master/snowrange.db ]] || fail "the master's store is not under the StateDirectory"
read -r -a cmd <<<"$(exec_start snowrange-coordinator)"
log "coordinator: ${cmd[*]}"
"${cmd[@]}" >>"$WORK/pkg-1.log" 2>&1 &
PIDS[pkg-1]=$!
wait_ready "$(coord_url pkg-1)"
CLI=$ROOT/usr/bin/snowrange
"$CLI" -m "$MASTER_URL" seq create orders >/dev/null || fail "packaged CLI: seq create"
ids=$("$CLI" -c "$(coord_url pkg-1)" next orders -n 3) || fail "packaged CLI: next"
[[ $(echo "$ids" | wc -l) -eq 3 ]] || fail "next printed: $ids"
# The embedding example takes a txid right after its join: wait until this
# new master grants worker ids (TTL/3 + grace after its start,
# docs/snowflake.md, "Claims").
wait_worker pkg-1

# The embedding example against the packaged library (pkg-config finds the
# prefix from the .pc file's own place).
PCDIR=$ROOT/usr/lib/x86_64-linux-gnu/pkgconfig
mkdir -p "$WORK/app"
# shellcheck disable=SC2046
cc -std=c11 -o "$WORK/app/embed" "$SRC/examples/embed.c" \
	$(PKG_CONFIG_PATH=$PCDIR pkg-config --cflags --libs snowrange) 2>"$WORK/cc.log" ||
	fail "embed.c does not build against the package: $(cat "$WORK/cc.log")"
out=$(LD_LIBRARY_PATH=$ROOT/usr/lib/x86_64-linux-gnu "$WORK/app/embed" "$MASTER_URL" app-1 orders 2 2>>"$WORK/embed.log") ||
	fail "embed failed: $(cat "$WORK/embed.log")"
grep -q '^txid [0-9]' <<<"$out" || fail "embed printed: $out"

stop pkg-1
stop master
log "package: OK"
