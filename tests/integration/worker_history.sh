#!/usr/bin/env bash
# The worker history survives the master (issue 14): `decode` and `txlog`
# name the node that held a txid's worker id when the txid was made, also
# after the master was killed with -9 and restarted, because every grant to
# a new holder is stored with the grant itself. With two worker ids (layout
# 50/1/12), c1 and c2 hold both; c1 leaves and c3 gets its id. After the
# restart c1's txid still names c1, c3's names c3, with certainty.
#
# Then a data dir of the schema before the history (version 2, no
# worker_history table) is made from this one with the sqlite3 CLI: the
# master upgrades it in place, names the holder it cannot know as the
# current one ("... now; earlier holders are not recorded"), records the
# next handover again, and never names a later holder for an older txid.
# Last, an attacker's joins under new names (issue 10) keep the table at
# --worker-history rows.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
need sqlite3 sqlite3

MASTER_FLAGS=(--lease-ttl-ms 1500 --worker-grace-ms 500 --layout 50/1/12)
start_master "${MASTER_FLAGS[@]}"
start_coord c1
start_coord c2

worker_of() { # the worker id in a txid of layout 50/1/12
	echo $((($1 >> 12) & 1))
}

# decoded TXID: decode's text line.
decoded() {
	"$CLI" -m "$MASTER_URL" decode "$1"
}

# hand_over WORKER OLD NEW: OLD leaves, NEW joins and takes OLD's worker id
# WORKER; TX is a txid of NEW. (Not in a subshell: PIDS must see NEW.)
hand_over() {
	local old_worker=$1 old=$2 new=$3
	stop "$old"
	start_coord "$new"
	TX=$(txid "$new")
	[[ $(worker_of "$TX") == "$old_worker" ]] ||
		fail "$new got worker $(worker_of "$TX"), not $old's $old_worker"
}

tx1=$(txid c1)
tx2=$(txid c2)
w1=$(worker_of "$tx1")
hand_over "$w1" c1 c3
tx3=$TX
decoded "$tx1" | grep -q "(c1)" || fail "before the restart: $(decoded "$tx1")"
decoded "$tx3" | grep -q "(c3)" || fail "before the restart: $(decoded "$tx3")"

log "kill -9 the master and start it again on the same data dir"
kill9 master
start_master "${MASTER_FLAGS[@]}"
out=$(decoded "$tx1")
echo "$out"
[[ $out == *"(c1)"* ]] || fail "after the restart c1's txid names: $out"
decoded "$tx3" | grep -q "(c3)" || fail "after the restart: $(decoded "$tx3")"
"$CLI" -m "$MASTER_URL" -o json decode "$tx1" >"$WORK/d.json"
grep -q '"node": *"c1"' "$WORK/d.json" || fail "json: $(cat "$WORK/d.json")"
grep -q '"node_certain": *true' "$WORK/d.json" || fail "json: $(cat "$WORK/d.json")"
# txlog: each record's holder at its tick, none marked uncertain ("c1?").
"$BUILD/tests/mktxlog" "$WORK/tx.log" "$tx1" "$tx2" "$tx3" >/dev/null
"$CLI" -m "$MASTER_URL" txlog "$WORK/tx.log" >"$WORK/txlog.txt"
cat "$WORK/txlog.txt"
grep "^$tx1 " "$WORK/txlog.txt" | grep -q " c1 " || fail "txlog: c1's txid"
grep "^$tx3 " "$WORK/txlog.txt" | grep -q " c3 " || fail "txlog: c3's txid"
if grep -q "?" "$WORK/txlog.txt"; then fail "txlog marks a holder uncertain"; fi

log "a data dir of schema version 2 (no worker_history) is upgraded"
kill9 master
sqlite3 "$WORK/data/snowrange.db" \
	"DROP TABLE worker_history; UPDATE meta SET value = 2 WHERE key = 'schema_version';"
start_master "${MASTER_FLAGS[@]}"
[[ $(sqlite3 "$WORK/data/snowrange.db" \
	"SELECT value FROM meta WHERE key = 'schema_version'") == 3 ]] ||
	fail "the schema was not upgraded"
out=$(decoded "$tx1")
echo "$out"
[[ $out == *"(c3 now; earlier holders are not recorded)"* ]] ||
	fail "an unrecorded holder is not said to be unknown: $out"
hand_over "$w1" c3 c4
tx4=$TX
decoded "$tx4" | grep -q "(c4)" || fail "after the upgrade: $(decoded "$tx4")"
kill9 master
start_master "${MASTER_FLAGS[@]}"
decoded "$tx4" | grep -q "(c4)" || fail "after the upgrade and a restart: $(decoded "$tx4")"
# c1's txid is older than every recorded era of its id: no holder is
# named, certainly not c4.
if decoded "$tx1" | grep -q "c4"; then
	fail "c1's txid, from before the upgrade, names c4: $(decoded "$tx1")"
fi

stop c2
stop c4
stop master

log "joins under new names keep at most --worker-history eras"
# Every join of a new name takes a freed worker id (grace 0): a new holder,
# an era. The history table stays at 5 rows, the newest.
start_master --lease-ttl-ms 1500 --worker-grace-ms 0 --layout 50/1/12 --worker-history 5
# (The grants stored before the restart count as live for one TTL: the
# first joins wait for that, bounded.)
for ((i = 0; i < 30; i++)); do
	for ((j = 0; j < 50; j++)); do
		read -r ok node w _ < <("$BUILD/tests/attack" "$MASTER_URL" join "evil-$i")
		[[ $ok == OK && $w != - ]] && break
		sleep 0.1
	done
	[[ $ok == OK && $w != - ]] || fail "evil-$i got no worker id: $ok $node $w"
	[[ $("$BUILD/tests/attack" "$MASTER_URL" leave "$node" 0) == OK ]] || fail "evil-$i leave"
done
rows=$(sqlite3 "$WORK/data/snowrange.db" "SELECT count(*), max(seq) - min(seq) FROM worker_history")
[[ $rows == "5|4" ]] || fail "the history holds $rows (count|span), want 5|4"
last=$(sqlite3 "$WORK/data/snowrange.db" "SELECT name FROM worker_history ORDER BY seq DESC LIMIT 1")
[[ $last == evil-29 ]] || fail "the newest era names $last"
stop master
log "worker_history: OK"
