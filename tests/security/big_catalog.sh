#!/usr/bin/env bash
# Issue 10 items 3 and 4: a big catalog (48k sequences, 13k nodes, loaded
# straight into the data dir so that the test stays fast) must not break
# `status`, `seq list` or `node list` (the replies went over the client's
# 4 MiB cap), every item must be listed exactly once in a stable order, and
# readers looping over those lists must not stall heartbeats (each list took
# over a second under the master mutex).
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh" "$1"
ATTACK=$BUILD/tests/attack
NSEQ=${BIG_NSEQ:-48000}
NNODE=${BIG_NNODE:-13000}

# A first start creates the schema and stores the layout.
start_master
stop master
command -v sqlite3 >/dev/null || fail "sqlite3 (the CLI) is needed"
db=$(ls "$WORK"/data/*.db | head -1)
now=$(date +%s%3N)
sqlite3 "$db" <<SQL
BEGIN;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $NSEQ)
INSERT INTO sequences (name, start, hwm, chunk, min_chunk, max_chunk, max_value,
    spare, mode, dropped, prefetch)
SELECT printf('seq-%06d', i), 1, 0, 1000, 1, 67108864, 9223372036854775807, 0, 0,
    CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END, 1 FROM k;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $NNODE)
INSERT INTO nodes (id, name, url, last_seen_ms, "left")
SELECT i, printf('node-%06d', i), 'tcp://127.0.0.1:1', $now, 1 FROM k;
COMMIT;
SQL
live_seqs=$((NSEQ - NSEQ / 10))

start_master
t0=$(date +%s%3N)
"$CLI" -m "$MASTER_URL" seq list >"$WORK/seqs" 2>"$WORK/err" ||
	fail "seq list with $NSEQ sequences failed: $(cat "$WORK/err")"
t1=$(date +%s%3N)
log "seq list of $live_seqs sequences: $((t1 - t0)) ms"
grep -o 'seq-[0-9]*' "$WORK/seqs" >"$WORK/seqnames"
[[ $(wc -l <"$WORK/seqnames") -eq $live_seqs ]] ||
	fail "seq list shows $(wc -l <"$WORK/seqnames") sequences, not $live_seqs"
sort -c "$WORK/seqnames" || fail "seq list is not in name order"
[[ -z $(uniq -d "$WORK/seqnames") ]] || fail "seq list shows a sequence twice"
grep -q 'seq-000010' "$WORK/seqnames" && fail "a dropped sequence is listed"

"$CLI" -m "$MASTER_URL" node list >"$WORK/nodes" 2>"$WORK/err" ||
	fail "node list with $NNODE nodes failed: $(cat "$WORK/err")"
grep -o 'node-[0-9]*' "$WORK/nodes" >"$WORK/nodenames"
[[ $(wc -l <"$WORK/nodenames") -eq $NNODE ]] ||
	fail "node list shows $(wc -l <"$WORK/nodenames") nodes, not $NNODE"
sort -c "$WORK/nodenames" || fail "node list is not in id order"
[[ -z $(uniq -d "$WORK/nodenames") ]] || fail "node list shows a node twice"
"$CLI" -m "$MASTER_URL" -o json status >"$WORK/status.json" 2>"$WORK/err" ||
	fail "status failed: $(cat "$WORK/err")"
n=$(jq '.nodes | length' "$WORK/status.json")
s=$(jq '.sequences | length' "$WORK/status.json")
[[ $n -eq $NNODE && $s -eq $live_seqs ]] ||
	fail "status shows $n nodes and $s sequences, not $NNODE and $live_seqs"

# Heartbeats while two readers loop over the lists.
read -r ok id _ < <("$ATTACK" "$MASTER_URL" join beater)
[[ $ok == OK ]] || fail "join failed"
reader() {
	local end=$((SECONDS + 15))
	while ((SECONDS < end)); do
		"$CLI" -m "$MASTER_URL" "$@" >/dev/null 2>&1 || true
	done
}
reader seq list & r1=$!
reader status & r2=$!
sleep 1
out=$("$ATTACK" "$MASTER_URL" beatloop "$id" 200)
kill "$r1" "$r2" 2>/dev/null || true
wait "$r1" "$r2" 2>/dev/null || true
read -r ok p50 pmax <<<"$out"
[[ $ok == OK ]] || fail "heartbeats failed: $out"
log "heartbeat latency with 2 looping readers: p50 $p50 ms, max $pmax ms"
awk -v m="$pmax" 'BEGIN { exit !(m < 1000) }' ||
	fail "a heartbeat took $pmax ms while readers looped (limit 1000 ms)"
stop master
log "big_catalog: OK"
