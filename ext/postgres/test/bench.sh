#!/usr/bin/env bash
# pgbench: snowrange.nextval against PostgreSQL's native nextval, at 1 and 8
# clients, on one PostgreSQL 15 instance joined to a master on 127.0.0.1
# (the setup of test/postgres.sh), three ways:
#   - SELECT nextval: one ID per transaction (mostly the client round trip);
#   - INSERT ... DEFAULT: one row per transaction, the ID from the default;
#   - loop: SELECT count(nextval(...)) FROM generate_series(1, 100000), the
#     generator's own rate inside a backend (IDs/s = tps * 100000).
# Each cell is measured twice, native and snowrange alternating, and both
# runs are printed (the machine is shared: noise only slows a run down).
# Prints a Markdown table of IDs per second; docs/benchmarks.md records runs.
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
LOOP=100000
echo "SELECT count(nextval('s')) FROM generate_series(1, $LOOP);" >"$WORK/loop_native.sql"
echo "SELECT count(snowrange.nextval('s')) FROM generate_series(1, $LOOP);" >"$WORK/loop_sr.sql"

tps() {
	local script=$1 clients=$2 out
	out=$("$PG_BIN/pgbench" -h "$WORK/b1" -p "${PG_PORT[b1]}" -U postgres -n -M prepared \
		-c "$clients" -j "$((clients < 2 ? clients : 2))" -T "$SECS" -f "$WORK/$script.sql" \
		postgres 2>&1) || fail "pgbench $script: $out"
	sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out"
}

# row LABEL SCRIPT CLIENTS IDS_PER_TXN: native, snowrange, native, snowrange.
row() {
	local label=$1 script=$2 c=$3 per=$4 n1 s1 n2 s2
	n1=$(tps "${script}_native" "$c")
	s1=$(tps "${script}_sr" "$c")
	n2=$(tps "${script}_native" "$c")
	s2=$(tps "${script}_sr" "$c")
	awk -v l="$label" -v c="$c" -v p="$per" -v n1="$n1" -v s1="$s1" -v n2="$n2" -v s2="$s2" \
		'BEGIN { printf "| %s | %d | %.0f, %.0f | %.0f, %.0f |\n", l, c, n1*p, n2*p, s1*p, s2*p }'
}

echo "| statement | clients | native nextval (IDs/s, 2 runs) | snowrange.nextval (IDs/s, 2 runs) |"
echo "| --- | ---: | ---: | ---: |"
for c in 1 8; do
	row "SELECT nextval" sel "$c" 1
	row "INSERT ... DEFAULT" ins "$c" 1
	row "loop of $LOOP in one statement" loop "$c" "$LOOP"
done
waits=$(psqlq b1 "SELECT sum(waits) FROM snowrange.status")
echo
echo "(backend waits for a chunk during the runs: $waits)"
pg_stop b1
stop master
