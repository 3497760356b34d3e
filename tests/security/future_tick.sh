#!/usr/bin/env bash
# Issue 10 item 1: a Heartbeat or Leave reporting a tick from the far future
# (2^63-1) is refused and logged, never stored, so the next holders of those
# worker ids can still issue txids, also after a master restart. A tick a
# little ahead of the master's clock (within --max-clock-skew-ms) is taken.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh" "$1"
ATTACK=$BUILD/tests/attack
BIG=9223372036854775807

# Two worker ids (layout 50/1/12): the attacker holds both.
start_master --lease-ttl-ms 1500 --worker-grace-ms 500 --layout 50/1/12
# A master on a new store grants its first worker id TTL/3 + grace after it
# started (docs/snowflake.md, "Claims"): join until it does.
for ((i = 0; i < 100; i++)); do
	read -r ok1 n1 w1 _ < <("$ATTACK" "$MASTER_URL" join evil1)
	[[ $ok1 == OK && $w1 != - ]] && break
	sleep 0.1
done
read -r ok2 n2 w2 _ < <("$ATTACK" "$MASTER_URL" join evil2)
[[ $ok1 == OK && $ok2 == OK && $w1 != - && $w2 != - ]] || fail "attacker got no worker ids"

# Within the tolerated skew (default 2 s): accepted.
near=$(( $(date +%s%3N) - 1704067200000 + 500 ))
out=$("$ATTACK" "$MASTER_URL" beat "$n1" 1 "$w1" "$near")
[[ $out == OK* ]] || fail "a tick 0.5 s ahead was refused: $out"

for n in "$n1:$w1" "$n2:$w2"; do
	out=$("$ATTACK" "$MASTER_URL" beat "${n%:*}" 1 "${n#*:}" "$BIG")
	[[ $out == EINVAL* ]] || fail "heartbeat with tick 2^63-1 not refused: $out"
	far=$(( $(date +%s%3N) - 1704067200000 + 60000 ))
	out=$("$ATTACK" "$MASTER_URL" beat "${n%:*}" 1 "${n#*:}" "$far")
	[[ $out == EINVAL* ]] || fail "heartbeat with a tick 60 s ahead not refused: $out"
	out=$("$ATTACK" "$MASTER_URL" leave "${n%:*}" "$BIG")
	[[ $out == EINVAL* ]] || fail "leave with tick 2^63-1 not refused: $out"
	# It can still leave honestly.
	out=$("$ATTACK" "$MASTER_URL" leave "${n%:*}" 0)
	[[ $out == OK ]] || fail "honest leave refused: $out"
done
grep -q "heartbeat refused: .*tick $BIG" "$WORK/master.log" || fail "refusal not logged"
grep -q "leave refused: " "$WORK/master.log" || fail "leave refusal not logged"

# Nothing was stored: after a restart, coordinators on both worker ids issue.
stop master
start_master --lease-ttl-ms 1500 --worker-grace-ms 500 --layout 50/1/12
start_coord c1
start_coord c2
for c in c1 c2; do
	for ((i = 0; i < 100; i++)); do
		"$CLI" -c "$(coord_url $c)" txid >/dev/null 2>"$WORK/err" && break
		sleep 0.2
	done
	((i < 100)) || fail "$c issues no txid after the attack: $(cat "$WORK/err")"
done
stop c1
stop c2
stop master
log "future_tick: OK"
