#!/usr/bin/env bash
# `snowrange txlog` and `snowrange decode` against real txids: txids from a
# coordinator go into a 2PC log written through the library; the CLI prints
# the log in txid order with each txid decoded (time, worker, node), lists
# the in-doubt one, and decode round-trips what `snowrange txid` printed.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
start_master
start_coord c1
wait_worker c1 # a new master's first worker id comes a moment after its start
C1=$(coord_url c1)
mapfile -t tx < <("$CLI" -c "$C1" txid -n 3)
((${#tx[@]} == 3)) || fail "txid -n 3 printed ${#tx[@]} lines"
worker=$("$CLI" -c "$C1" -o json txid | sed -n 's/.*"worker": *\([0-9]*\).*/\1/p')
[[ -n "$worker" ]] || fail "no worker in txid -o json"

# decode round trip: the same txid, c1's worker id and node name.
"$CLI" -m "$MASTER_URL" -o json decode "${tx[0]}" >"$WORK/dec.json"
grep -q "\"txid\": *\"${tx[0]}\"" "$WORK/dec.json" || fail "decode lost the txid (a string)"
grep -q "\"worker\": *$worker" "$WORK/dec.json" || fail "decode: wrong worker"
grep -q '"node": *"c1"' "$WORK/dec.json" || fail "decode: node not named"
"$CLI" decode --layout 41/10/12 "${tx[0]}" | grep -q "worker $worker " ||
	fail "decode --layout disagrees with the master's layout"

last=$("$BUILD/tests/mktxlog" "$WORK/tx.log" "${tx[@]}")
[[ "$last" == "${tx[2]}" ]] || fail "last txid $last, want ${tx[2]}"
"$CLI" -m "$MASTER_URL" txlog "$WORK/tx.log" >"$WORK/txlog.txt"
cat "$WORK/txlog.txt"
(($(grep -c . "$WORK/txlog.txt") == 8)) || fail "want a header and 7 records"
# txid order: every record of tx[0] before any of tx[1], and so on.
awk 'NR>1{print $1}' "$WORK/txlog.txt" | sort -c -n || fail "not in txid order"
grep -q "c1" "$WORK/txlog.txt" || fail "txlog does not name the node"
[[ $("$CLI" txlog --in-doubt "$WORK/tx.log" 2>/dev/null) == "${tx[1]}" ]] ||
	fail "in-doubt should be exactly ${tx[1]}"
"$CLI" -m "$MASTER_URL" -o json txlog "$WORK/tx.log" | grep -q '"records": *7' || fail "json records"
# A torn tail is reported, not hidden.
head -c -5 "$WORK/tx.log" >"$WORK/torn.log"
"$CLI" -m "$MASTER_URL" txlog "$WORK/torn.log" 2>"$WORK/err" >/dev/null
grep -q "6 records, a torn tail" "$WORK/err" || fail "torn tail: $(cat "$WORK/err")"
set +e
"$CLI" -m "$MASTER_URL" txlog "$WORK/no-such.log" 2>"$WORK/err"
rc=$?
set -e
((rc == 1)) || fail "missing file exited $rc"
stop c1
stop master
log "txlog_cli: OK"
