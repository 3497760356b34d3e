#!/usr/bin/env bash
# A master started on an empty store while a coordinator from before still
# holds its worker id (docs/snowflake.md, "Claims"; docs/ha.md,
# "Recovering"): the operator deleted the data dir, restored the wrong
# backup, pointed the master at an empty etcd prefix.
#
# Coordinator a holds worker id 0 (layout 50/1/12: two ids) and draws txids
# all along. The master is killed with -9, its data dir deleted, and it is
# started again, empty. Coordinator b joins it first and draws too; a
# reaches it 1.5 s later (its old master socket is gone; a symlink to the
# new one makes the order certain: the new master hears b before a, as it
# may when a's network is slower). Before the fix the empty master gave b
# worker id 0 with floor 0 at once, while a still issued under it: both
# minted txids under one worker id in the same milliseconds. Now the master
# grants nothing for a heartbeat interval plus the grace (TTL/3 + grace =
# 3.5 s here), a's heartbeat claims id 0 in that window, a keeps it without
# a pause, and b gets id 1. Checked: no txid of b under a's worker id, no
# duplicate between a and b, a drew on after the new master took it, the
# master logged the lost state, and decode names a for a's txids.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"

FLAGS=(--lease-ttl-ms 9000 --worker-grace-ms 500 --layout 50/1/12)
start_master "${FLAGS[@]}"
start_coord a

worker_of() { echo $((($1 >> 12) & 1)); } # layout 50/1/12
# txids FILE: the txids of a draw file, one a line.
txids() { awk '$1=="B"{for(i=6;i<=NF;i++) print $i}' "$1"; }

tx=$(txid a)
wa=$(worker_of "$tx")
log "a holds worker id $wa; a draws txids for 10 s"
"$CLI" draw --txids -c "$(coord_url a)" --timeout 500 --duration 10 --batch 20 \
	--out "$WORK/a.draw" 2>>"$WORK/draw.log" &
PIDS[d_a]=$!
sleep 1

log "kill -9 the master, delete its data dir, start it empty"
kill9 master
rm -rf "$WORK/data"
rm -f "$WORK/master.ipc" # a's master is gone until the symlink below
M2=ipc://$WORK/master2.ipc
"$MASTER_BIN" --data-dir "$WORK/data" --listen "$M2" "${FLAGS[@]}" \
	>>"$WORK/master.log" 2>&1 &
PIDS[master]=$!
wait_ready "$M2"
"$COORD_BIN" join "$M2" --name b --listen "$(coord_url b)" >>"$WORK/b.log" 2>&1 &
PIDS[b]=$!
wait_ready "$(coord_url b)"
b_joined_ms=$(date +%s%3N)
"$CLI" draw --txids -c "$(coord_url b)" --timeout 500 --duration 7 --batch 20 \
	--out "$WORK/b.draw" 2>>"$WORK/draw.log" &
PIDS[d_b]=$!
sleep 1.5
log "a reaches the new master"
ln -s master2.ipc "$WORK/master.ipc"
reach_ms=$(date +%s%3N)
wait "${PIDS[d_a]}" || true
unset "PIDS[d_a]"
wait "${PIDS[d_b]}" || true
unset "PIDS[d_b]"

txids "$WORK/a.draw" >"$WORK/a.txids"
txids "$WORK/b.draw" >"$WORK/b.txids"
na=$(wc -l <"$WORK/a.txids")
nb=$(wc -l <"$WORK/b.txids")
log "a drew $na txids, b $nb"
((nb > 0)) || fail "b never got a worker id"
# Every txid of b under a's worker id is a txid two nodes minted under one
# id while a's lease was live (a holds it to the end: it keeps drawing).
shared=$(awk -v w="$wa" '{ if (int($1 / 4096) % 2 == w) n++ } END { print n + 0 }' \
	"$WORK/b.txids")
((shared == 0)) || fail "b issued $shared txids under a's worker id $wa while a held it"
dups=$(sort "$WORK/a.txids" "$WORK/b.txids" | uniq -d | wc -l)
((dups == 0)) || fail "$dups txids issued twice by a and b"
"$CLI" verify "$WORK/a.draw" "$WORK/b.draw" || fail "a and b: not unique and increasing"
# tick TXID: its ms since the layout's epoch (2024-01-01, the default).
EPOCH_MS=1704067200000
# a issued on, under its own id, 2 s after it reached the new master.
late=$(awk -v t=$((reach_ms - EPOCH_MS + 2000)) -v w="$wa" \
	'{ if (int($1 / 8192) > t && int($1 / 4096) % 2 == w) n++ } END { print n + 0 }' \
	"$WORK/a.txids")
((late > 0)) || fail "a drew nothing under worker id $wa after it reached the new master"
# and without a pause: the new master adopted its claim, so its lease
# view went on (the draw's "E" line counts each error kind).
! grep -q "ENOWORKER=" "$WORK/a.draw" ||
	fail "a lost its worker id on the new master: $(grep '^E' "$WORK/a.draw")"
grep -q "master state was lost" "$WORK/master.log" ||
	fail "the master did not log the lost state"
first_b=$(awk '{ t = int($1 / 8192); if (m == "" || t < m) m = t } END { printf "%d\n", m }' \
	"$WORK/b.txids")
log "b's first txid $((first_b + EPOCH_MS - b_joined_ms)) ms after it joined the empty master"
last_a=$(tail -n 1 "$WORK/a.txids")
out=$("$CLI" -m "$M2" decode "$last_a")
echo "$out"
[[ $out == *"(a)"* ]] || fail "decode of a's txid: $out"
stop b
stop a
stop master
log "PASS"
