#!/usr/bin/env bash
# Issue 10 item 2: a node holds at most one worker id. Repeated Join and
# Heartbeat(holds=0) by one node used to collect every free worker id and
# leave real coordinators with SR_ENOWORKER. Also: new node names beyond
# --max-nodes live nodes are refused.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh" "$1"
need jq jq
ATTACK=$BUILD/tests/attack

# Two worker ids (layout 50/1/12).
start_master --lease-ttl-ms 10000 --worker-grace-ms 500 --layout 50/1/12 --max-nodes 4
# A master on a new store grants its first worker id TTL/3 + grace after it
# started (docs/snowflake.md, "Claims"): the attacker joins until it does.
for ((i = 0; i < 100; i++)); do
	read -r ok node w _ < <("$ATTACK" "$MASTER_URL" join evil)
	[[ $ok == OK && $w != - ]] && break
	sleep 0.1
done
[[ $ok == OK && $w != - ]] || fail "attacker got no worker id"
# The loop does not renew the grant: on a loaded machine it can outlast the
# 10 s TTL, and a request after that may be granted the same id again
# (still one id per node); never the other one.
for ((i = 0; i < 20; i++)); do
	out=$("$ATTACK" "$MASTER_URL" beat "$node" 0 0 0)
	[[ $out == "OK - 0" || $out == "OK $w "* ]] ||
		fail "Heartbeat(holds=0) #$i got a second worker id: $out"
	out=$("$ATTACK" "$MASTER_URL" join evil)
	[[ $out == "OK $node - 0" || $out == "OK $node $w "* ]] ||
		fail "repeated Join #$i got a second worker id: $out"
done
# The attacker's own renewal still works, and keeps its one id.
out=$("$ATTACK" "$MASTER_URL" beat "$node" 1 "$w" 0)
[[ $out == "OK $w "* ]] || fail "renewal lost the attacker's id: $out"

# A real coordinator still gets the other worker id at once.
start_coord c1
"$CLI" -c "$(coord_url c1)" txid >/dev/null 2>"$WORK/err" ||
	fail "c1 issues no txid: $(cat "$WORK/err")"

# Worker claims (docs/snowflake.md, "Claims") collect nothing either: a
# claim on c1's live id is not adopted (evil keeps none, c1 keeps it), one
# outside the layout or from the far future is refused, and evil's claim
# on its own id keeps that one.
wc1=$("$CLI" -c "$(coord_url c1)" -o json status | jq -r .worker_id)
now_tick=$(($(date +%s%3N) - 1704067200000))
out=$("$ATTACK" "$MASTER_URL" join evil "$wc1" "$now_tick" 10000)
[[ $out == "OK $node - 0" ]] || fail "a claim on c1's live worker id $wc1 got: $out"
out=$("$ATTACK" "$MASTER_URL" join evil 5 "$now_tick" 10000)
[[ $out == EINVAL*"worker id 5"* ]] || fail "a claim on worker id 5 of 2: $out"
out=$("$ATTACK" "$MASTER_URL" join evil "$w" 9223372036854775807 10000)
[[ $out == EINVAL* ]] || fail "a claim with tick 2^63-1: $out"
out=$("$ATTACK" "$MASTER_URL" join evil "$w" "$now_tick" 18446744073709551615)
[[ $out == "OK $node $w "* ]] || fail "evil's claim on its own id $w (time left -1): $out"
"$CLI" -c "$(coord_url c1)" txid >/dev/null 2>"$WORK/err" ||
	fail "c1 issues no txid after the claims: $(cat "$WORK/err")"
[[ $("$CLI" -c "$(coord_url c1)" -o json status | jq -r .worker_id) == "$wc1" ]] ||
	fail "c1 lost its worker id $wc1 to a claim"
grep -q "claims worker id $wc1 .* which the store gives" "$WORK/master.log" ||
	fail "the contested claim was not logged"

# Live-node cap: evil and c1 are live; two more names fit, the third not.
"$ATTACK" "$MASTER_URL" join f1 | grep -q '^OK' || fail "f1 refused"
"$ATTACK" "$MASTER_URL" join f2 | grep -q '^OK' || fail "f2 refused"
out=$("$ATTACK" "$MASTER_URL" join f3)
[[ $out == EUNAVAILABLE*max-nodes* ]] || fail "a 5th live node was not refused: $out"
# A known name may always re-join.
"$ATTACK" "$MASTER_URL" join f1 | grep -q '^OK' || fail "f1 could not re-join"
stop c1
stop master
log "worker_exhaustion: OK"
