#!/usr/bin/env bash
# pgbench: snowrange.nextval against PostgreSQL's native nextval, as a bare
# SELECT and as the DEFAULT of an INSERT, at 1 and 8 clients, on one
# PostgreSQL 15 instance joined to a master on 127.0.0.1 (the setup of
# test/postgres.sh). Prints a Markdown table of transactions (= IDs) per
# second; docs/benchmarks.md records a run.
#
# Usage: bench.sh BUILD_DIR [SECONDS per run, default 10]
set -euo pipefail
source "$(dirname "$0")/../../../tests/integration/lib.sh" "$1"
source "$(dirname "$0")/pgsetup.sh"
SECS=${2:-10}

pg_prepare
start_tcp_master
"$CLI" -m "$MASTER_URL" seq create s --chunk 10000 >/dev/null || fail "seq create s"
"$CLI" -m "$MASTER_URL" seq create t --chunk 10000 >/dev/null || fail "seq create t"
# Settings of a benchmark, not of a durable server: the WAL a native
# sequence writes every 32 values still goes through the buffer lock.
pg_new b1 "$(free_port)" max_connections=50 shared_buffers=128MB synchronous_commit=off
pg_start b1
psqlq b1 "CREATE EXTENSION snowrange" >/dev/null
psqlq b1 "CREATE SEQUENCE s; CREATE SEQUENCE t_native;
	CREATE UNLOGGED TABLE ins_native (id bigint PRIMARY KEY DEFAULT nextval('t_native'), v int);
	CREATE UNLOGGED TABLE ins_sr (id bigint PRIMARY KEY DEFAULT snowrange.nextval('t'), v int)" \
	>/dev/null
echo "SELECT nextval('s');" >"$WORK/sel_native.sql"
echo "SELECT snowrange.nextval('s');" >"$WORK/sel_sr.sql"
echo "INSERT INTO ins_native (v) VALUES (1);" >"$WORK/ins_native.sql"
echo "INSERT INTO ins_sr (v) VALUES (1);" >"$WORK/ins_sr.sql"

tps() {
	local script=$1 clients=$2 out
	out=$("$PG_BIN/pgbench" -h "$WORK/b1" -p "${PG_PORT[b1]}" -U postgres -n -M prepared \
		-c "$clients" -j "$((clients < 2 ? clients : 2))" -T "$SECS" -f "$WORK/$script.sql" \
		postgres 2>&1) || fail "pgbench $script: $out"
	sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | cut -d. -f1
}

echo "| statement | clients | native nextval (IDs/s) | snowrange.nextval (IDs/s) |"
echo "| --- | ---: | ---: | ---: |"
for c in 1 8; do
	echo "| SELECT nextval | $c | $(tps sel_native "$c") | $(tps sel_sr "$c") |"
	echo "| INSERT ... DEFAULT | $c | $(tps ins_native "$c") | $(tps ins_sr "$c") |"
done
waits=$(psqlq b1 "SELECT sum(waits) FROM snowrange.status")
echo
echo "(backend waits for a chunk during the runs: $waits)"
pg_stop b1
stop master
