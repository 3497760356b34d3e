#!/usr/bin/env bash
# Issue 13 item 4: every -o json of the snowrange tool prints 64-bit IDs as
# strings (jq, like JavaScript, reads JSON numbers as doubles: txid
# 386640268780109825 would come back as ...824 and max_value 2^63-1 as
# 2^63), and a failing command prints its error as a JSON object on stdout
# with a non-zero exit.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
need jq jq

start_master
"$CLI" -m "$MASTER_URL" -o json seq create orders >"$WORK/create.json"
jq -e '.max_value == "9223372036854775807" and .hwm == "0" and .start == "1"' \
	"$WORK/create.json" >/dev/null || fail "seq create: $(cat "$WORK/create.json")"
start_coord c1
wait_worker c1 # a new master's first worker id comes a moment after its start
C1=$(coord_url c1)

"$CLI" -c "$C1" -o json next orders -n 5 >"$WORK/next.json"
jq -e '.ids | length == 5 and all(type == "string")' "$WORK/next.json" >/dev/null ||
	fail "next: $(cat "$WORK/next.json")"
"$CLI" -c "$C1" -o json txid -n 3 >"$WORK/txid.json"
jq -e '.txids | length == 3 and all(type == "string")' "$WORK/txid.json" >/dev/null ||
	fail "txid: $(cat "$WORK/txid.json")"
# A txid survives a round trip through jq exactly, as a string.
tx=$(jq -r '.txids[0]' "$WORK/txid.json")
grep -q "\"$tx\"" "$WORK/txid.json" || fail "txid $tx changed in jq"
"$CLI" -m "$MASTER_URL" -o json decode "$tx" 386640268780109825 >"$WORK/decode.json"
jq -e --arg tx "$tx" '.txids[0].txid == $tx and (.txids[0].tick | type == "string")
	and .txids[1].txid == "386640268780109825"' "$WORK/decode.json" >/dev/null ||
	fail "decode: $(cat "$WORK/decode.json")"
"$CLI" -m "$MASTER_URL" -o json seq list >"$WORK/list.json"
jq -e '.sequences[0] | (.hwm | type == "string") and .max_value == "9223372036854775807"' \
	"$WORK/list.json" >/dev/null || fail "seq list: $(cat "$WORK/list.json")"
"$CLI" -m "$MASTER_URL" -o json status >"$WORK/status.json"
jq -e '(.term | type == "string") and (.nodes[0].id | type == "string")' \
	"$WORK/status.json" >/dev/null || fail "status: $(cat "$WORK/status.json")"
"$CLI" -c "$C1" -o json status >"$WORK/cstatus.json"
jq -e '(.node_id | type == "string") and (.chunks[0].start | type == "string")' \
	"$WORK/cstatus.json" >/dev/null || fail "coordinator status: $(cat "$WORK/cstatus.json")"
"$CLI" -m "$MASTER_URL" -o json node list | jq -e '.nodes[0].id == "1"' >/dev/null ||
	fail "node list"
"$CLI" -o json draw orders -c "$C1" --duration 0.5 --out "$WORK/d.draw" >"$WORK/draw.json"
jq -e '.sequence == "orders" and .ids > 0 and .errors_total == 0' "$WORK/draw.json" \
	>/dev/null || fail "draw: $(cat "$WORK/draw.json")"

# Errors: a JSON object on stdout, the message on stderr, non-zero exit.
expect_json_err() { # CODE EXIT ARGS...
	local code=$1 want=$2 rc=0
	shift 2
	"$CLI" -o json "$@" >"$WORK/err.json" 2>"$WORK/err.txt" || rc=$?
	((rc == want)) || fail "$* exited $rc, not $want"
	jq -e --arg c "$code" --argjson x "$want" '.error.code == $c and .error.exit == $x and
		(.error.message | length > 0)' "$WORK/err.json" >/dev/null ||
		fail "$*: stdout is not the JSON error: $(cat "$WORK/err.json")"
	[[ -s $WORK/err.txt ]] || fail "$*: nothing on stderr"
}
expect_json_err ENOTFOUND 1 -c "$C1" next nope
expect_json_err EINVAL 2 -c "$C1" next orders -n 0
expect_json_err EINVAL 2 decode not-a-txid --layout 41/10/12/1/2024-01-01T00:00:00Z
expect_json_err EEXISTS 1 -m "$MASTER_URL" seq create orders
expect_json_err ECONNECT 1 -m "ipc://$WORK/nothing.ipc" status
stop c1
stop master
log "cli_json: OK"
