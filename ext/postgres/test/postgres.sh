#!/usr/bin/env bash
# The snowrange extension in real PostgreSQL 15 servers (docs/postgresql.md).
#
# Installs libsnowrange from BUILD into a temporary prefix, builds the
# extension against it with PGXS, starts a master on 127.0.0.1, a daemon
# coordinator, and two PostgreSQL instances (pg1, pg2) that preload the
# extension and join the master as nodes pg1 and pg2. Then:
#   1. the pg_regress suite (sql/snowrange.sql) runs on pg1 (installcheck);
#   2. IDs taken by one new backend after another are strictly increasing
#      (the order holds across backends);
#   3. pgbench clients insert rows with DEFAULT snowrange.nextval('orders')
#      (and record timed calls) into both instances while the daemon's IDs of 'orders' go to a file;
#      meanwhile a pg1 backend is killed with -9 (the postmaster resets
#      shared memory and restarts the worker), the master is killed with -9
#      and restarted, and pg2's postmaster is killed with -9 and started
#      again: its first ID after the restart lies above every ID it issued
#      before (no chunk is reused after a crash), and so does its first
#      txid (the worker id comes back with a floor);
#      While the master is down, a sequence not yet used fails with
#      SQLSTATE 08006 within seconds and status shows the master
#      unreachable.
#   4. no ID appears twice across both instances' tables and the daemon's
#      file, each source contributed; on each instance no call got an ID
#      below one a call that ended before it began got (calls recorded by
#      pgbench with their start and end times, across the crashes); the
#      order check passes again, 10,000 txids of both instances hold no
#      duplicate, and both report the master reachable;
#   5. everything is stopped (the servers with pg_ctl, the daemon with
#      SIGTERM: a clean exit).
#
# Usage: postgres.sh BUILD_DIR
set -euo pipefail
if grep -q '^SNOWRANGE_SANITIZE:BOOL=ON' "${1:?build dir}/CMakeCache.txt"; then
	echo "skipped: a sanitized libsnowrange cannot be loaded into postgres" \
		"(docs/postgresql.md)" >&2
	exit 77
fi
source "$(dirname "$0")/../../../tests/integration/lib.sh" "$1"
source "$(dirname "$0")/pgsetup.sh"

pg_prepare
start_tcp_master --lease-ttl-ms 2000 --worker-grace-ms 500
"$CLI" -m "$MASTER_URL" seq create orders --chunk 500 >/dev/null || fail "seq create orders"
"$CLI" -m "$MASTER_URL" seq create regress --chunk 100 >/dev/null || fail "seq create regress"
"$CLI" -m "$MASTER_URL" seq create cold --chunk 100 >/dev/null || fail "seq create cold"
start_coord d1
for n in pg1 pg2; do
	pg_new "$n" "$(free_port)" snowrange.lease_timeout_ms=5000
	pg_start "$n"
	psqlq "$n" "CREATE EXTENSION snowrange" || fail "CREATE EXTENSION on $n"
done

log "pg_regress (installcheck) on pg1"
cp -r "$EXT_SRC/sql" "$EXT_SRC/expected" "$WORK/ext/"
if ! make -C "$WORK/ext" PG_CONFIG="$PG_CONFIG" with_llvm=no installcheck \
	PGHOST="$WORK/pg1" PGPORT="${PG_PORT[pg1]}" PGUSER=postgres >"$WORK/regress.log" 2>&1; then
	cat "$WORK/ext/regression.diffs" >&2 2>/dev/null || true
	fail "pg_regress failed (see $WORK/regress.log)"
fi

# orders: the rows pgbench inserts. calls: IDs taken by take(), each with
# the time before and after the call, for the order check under load.
for n in pg1 pg2; do
	psqlq "$n" "CREATE TABLE orders (id bigint PRIMARY KEY
		DEFAULT snowrange.nextval('orders'), src text NOT NULL);
	CREATE TABLE calls (id bigint PRIMARY KEY, t0 timestamptz, t1 timestamptz);
	CREATE FUNCTION take() RETURNS void LANGUAGE plpgsql AS \$\$
	DECLARE
		t0 timestamptz := clock_timestamp();
		i bigint := snowrange.nextval('orders');
	BEGIN
		INSERT INTO calls VALUES (i, t0, clock_timestamp());
	END \$\$" || fail "create tables on $n"
done

# Strictly increasing per instance, whichever backend asked: no call may
# have a smaller ID than a call that returned before it started. For each
# call b, the largest ID among calls that ended before b began (a running
# maximum over calls ordered by end time) must be below b's.
check_calls() {
	local n=$1 bad
	bad=$(psqlq "$n" "CREATE TEMP TABLE pref AS SELECT t1, max(id) OVER (ORDER BY t1
		ROWS UNBOUNDED PRECEDING) AS runmax FROM calls;
	CREATE INDEX ON pref (t1);
	SELECT count(*) FROM calls b, LATERAL (SELECT runmax FROM pref WHERE pref.t1 < b.t0
		ORDER BY t1 DESC LIMIT 1) p WHERE p.runmax > b.id") || fail "order check on $n"
	[[ $bad == 0 ]] || fail "$n: $bad calls got an ID below one issued before they began"
}

# Each psql is a new backend: its ID must lie above the previous one's.
check_order() {
	local n=$1 i id last=0
	for ((i = 0; i < 20; i++)); do
		id=$(psqlq "$n" "SELECT snowrange.nextval('orders')") || fail "nextval on $n"
		((id > last)) || fail "$n: backend $i got $id after $last (order across backends)"
		last=$id
	done
}
check_order pg1
check_order pg2

for n in pg1 pg2; do
	echo "INSERT INTO orders (src) VALUES ('$n');" >"$WORK/insert-$n.sql"
done
echo "SELECT take();" >"$WORK/take.sql"

# load NAME: pgbench rounds until the stop file appears; a round that a
# crash cut short is logged and the next one starts.
load() {
	local n=$1
	while [[ ! -e $WORK/stop-$n ]]; do
		"$PG_BIN/pgbench" -h "$WORK/$n" -p "${PG_PORT[$n]}" -U postgres -n -c 4 -j 2 -T 2 \
			-f "$WORK/insert-$n.sql" -f "$WORK/take.sql" postgres >>"$WORK/pgbench-$n.log" 2>&1 ||
			sleep 0.3
	done
}

draw_daemon() {
	while [[ ! -e $WORK/stop-d1 ]]; do
		"$CLI" -c "$(coord_url d1)" --timeout 2000 next orders -n 200 >>"$WORK/d1.ids" 2>>"$WORK/d1-next.log" ||
			sleep 0.2
	done
}

log "load: pgbench on pg1 and pg2, the daemon's IDs into a file"
load pg1 &
PIDS[load1]=$!
load pg2 &
PIDS[load2]=$!
draw_daemon &
PIDS[drawd]=$!
sleep 3

victim=$(psqlq pg1 "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench'
	AND state <> 'idle' LIMIT 1" || true)
[[ -n $victim ]] || victim=$(psqlq pg1 "SELECT pid FROM pg_stat_activity
	WHERE application_name = 'pgbench' LIMIT 1")
[[ -n $victim ]] || fail "no pgbench backend on pg1 to kill"
log "kill -9 pg1 backend $victim (crash restart of pg1)"
kill -9 "$victim"
sleep 3

log "kill -9 the master; a cold sequence fails cleanly; start the master again"
kill9 master
# 'cold' was never used here: its first chunk needs the master, so the call
# fails with 08006 (EUNAVAILABLE) after snowrange.lease_timeout_ms (5 s)
# instead of hanging.
t0=$(date +%s)
out=$(psqlq pg1 "SELECT snowrange.nextval('cold')" 2>&1) && fail "cold nextval without a master: $out"
grep -q "snowrange: EUNAVAILABLE: cold: no chunk within" <<<"$out" ||
	fail "cold nextval: unexpected error: $out"
(($(date +%s) - t0 <= 15)) || fail "cold nextval took $(($(date +%s) - t0)) s to fail"
code=$(psqlq pg1 "DO \$\$ BEGIN PERFORM snowrange.nextval('cold');
	EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'code %', SQLSTATE; END \$\$" 2>&1 || true)
grep -q "code 08006" <<<"$code" || fail "cold nextval: SQLSTATE is not 08006: $code"
# The worker id lease (2 s less a fifth) has lapsed by now.
ok=""
for ((i = 0; i < 20; i++)); do
	ok=$(psqlq pg1 "SELECT master_reachable FROM snowrange.status WHERE sequence IS NULL")
	[[ $ok == f ]] && break
	sleep 0.5
done
[[ $ok == f ]] || fail "pg1 reports the master reachable while it is down"
start_tcp_master --lease-ttl-ms 2000 --worker-grace-ms 500
sleep 2

log "kill -9 pg2's postmaster, start it again"
touch "$WORK/stop-pg2"
wait "${PIDS[load2]}" || true
unset "PIDS[load2]"
tx_before=$(psqlq pg2 "SELECT max(snowrange.txid()) FROM generate_series(1, 1000)") ||
	fail "txids on pg2"
before=$(psqlq pg2 "SELECT max(id) FROM orders") || fail "max on pg2"
[[ -n $before ]] || fail "pg2 has no rows before its crash (see $WORK/pgbench-pg2.log)"
pg_kill9 pg2
sleep 1
pg_start pg2
after=""
for ((i = 0; i < 30; i++)); do
	after=$(psqlq pg2 "SELECT snowrange.nextval('orders')" 2>>"$WORK/pg2-retry.log") && break
	sleep 0.5
done
[[ -n $after ]] || fail "pg2 serves no ID after its restart"
((after > before)) || fail "pg2 after its crash: $after, not above $before issued before"
log "pg2 resumed at $after (above $before)"
tx_after=""
for ((i = 0; i < 30; i++)); do
	tx_after=$(psqlq pg2 "SELECT snowrange.txid()" 2>>"$WORK/pg2-retry.log") && break
	sleep 0.5
done
[[ -n $tx_after ]] || fail "pg2 mints no txid after its restart"
((tx_after > tx_before)) || fail "pg2's txid after its crash: $tx_after, not above $tx_before"
rm -f "$WORK/stop-pg2"
load pg2 &
PIDS[load2]=$!
sleep 4

touch "$WORK/stop-pg1" "$WORK/stop-pg2" "$WORK/stop-d1"
for p in load1 load2 drawd; do
	wait "${PIDS[$p]}" || true
	unset "PIDS[$p]"
done

log "check: no duplicates across pg1, pg2 and the daemon"
for n in pg1 pg2; do
	psqlq "$n" "SELECT id FROM orders UNION ALL SELECT id FROM calls" >"$WORK/$n.ids" ||
		fail "read $n"
	c=$(psqlq "$n" "SELECT count(*) FROM calls")
	((c >= 100)) || fail "$n: only $c calls recorded"
	check_calls "$n"
	log "$n: $c calls in order"
done
grep -E '^[0-9]+$' "$WORK/d1.ids" >"$WORK/d1.clean" || true
for f in pg1 pg2 d1; do
	c=$(grep -c . "$WORK/$f.ids" || true)
	((c >= 200)) || fail "$f contributed only $c IDs"
	log "$f: $c IDs"
done
# Within an instance the primary keys refuse a duplicate, so an ID issued
# twice shows up as a failed insert: there must be none.
for n in pg1 pg2; do
	c=$(grep -c "duplicate key value violates unique constraint" "$WORK/$n/server.log" || true)
	((c == 0)) || fail "$n issued an ID twice: $c inserts hit a duplicate key"
done
dups=$(cat "$WORK/pg1.ids" "$WORK/pg2.ids" "$WORK/d1.clean" | sort -n | uniq -d | head -5)
[[ -z $dups ]] || fail "duplicate IDs across instances: $dups"
grep -q "server process (PID $victim) was terminated by signal 9" "$WORK/pg1/server.log" ||
	fail "pg1 did not see its backend $victim killed"
check_order pg1
check_order pg2
# txids: unique across the instances (each holds its own worker id).
for n in pg1 pg2; do
	psqlq "$n" "SELECT snowrange.txid() FROM generate_series(1, 5000)" >"$WORK/$n.txids" ||
		fail "txids on $n"
done
dups=$(sort -n "$WORK/pg1.txids" "$WORK/pg2.txids" | uniq -d | head -3)
[[ -z $dups ]] || fail "txids minted by both instances: $dups"
for n in pg1 pg2; do
	ok=""
	for ((i = 0; i < 20; i++)); do
		ok=$(psqlq "$n" "SELECT master_reachable FROM snowrange.status WHERE sequence IS NULL")
		[[ $ok == t ]] && break
		sleep 0.5
	done
	[[ $ok == t ]] || fail "$n does not report the master reachable"
done

pg_stop pg1
pg_stop pg2
stop d1
stop master
log "OK"
