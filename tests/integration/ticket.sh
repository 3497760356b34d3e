#!/usr/bin/env bash
# A strict global ticket server with real processes: a sequence with chunk 1,
# block mode and prefetch off leases every ID from the master when a caller
# asks for it, so sequential calls spread round-robin over three coordinators
# get IDs that increase in the order the calls were made, across the whole
# cluster (docs/guarantees.md). The same calls on a sequence that prefetches
# are ordered per coordinator only; that is logged, not asserted.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
CALLS=120

start_master
out=$("$CLI" -m "$MASTER_URL" seq create tickets --chunk 1 --block --no-prefetch)
echo "$out"
[[ $out == *"no prefetch"* ]] || fail "seq create does not show prefetch off: $out"
"$CLI" -m "$MASTER_URL" seq create ahead --chunk 1 --max-chunk 1 --block >/dev/null
list=$("$CLI" -m "$MASTER_URL" seq list)
echo "$list"
grep -Eq '^tickets +[0-9]+ +1 +block +off ' <<<"$list" || fail "seq list: tickets not block/off"
grep -Eq '^ahead +[0-9]+ +1 +block +on ' <<<"$list" || fail "seq list: ahead not block/on"
"$CLI" -m "$MASTER_URL" -o json seq list | grep -Eq '"prefetch": ?false' ||
	fail "seq list -o json has no prefetch: false"
for c in c1 c2 c3; do start_coord "$c"; done

# draw_calls SEQ: CALLS sequential single-ID calls, round-robin; prints the IDs.
draw_calls() {
	local seq=$1 i id
	for ((i = 0; i < CALLS; i++)); do
		id=$("$CLI" -c "$(coord_url "c$((i % 3 + 1))")" next "$seq") ||
			fail "call $i on $seq failed"
		echo "$id"
	done
}
# count_drops: how many IDs are not above the one before.
count_drops() { awk 'NR > 1 && $1 <= prev { n++ } { prev = $1 } END { print n + 0 }'; }

draw_calls tickets >"$WORK/tickets.ids"
[[ $(wc -l <"$WORK/tickets.ids") -eq $CALLS ]] || fail "not $CALLS IDs"
drops=$(count_drops <"$WORK/tickets.ids")
head -n 9 "$WORK/tickets.ids" | tr '\n' ' ' >&2
echo >&2
((drops == 0)) || fail "prefetch off: $drops IDs below an earlier call's ($(head -n 9 "$WORK/tickets.ids" | tr '\n' ' '))"
# No coordinator holds a ticket between calls.
for c in c1 c2 c3; do
	if "$CLI" -c "$(coord_url "$c")" status | grep -q '^tickets .*prefetched'; then
		fail "$c holds a prefetched ticket"
	fi
done

draw_calls ahead >"$WORK/ahead.ids"
log "prefetch on: $(count_drops <"$WORK/ahead.ids") of $CALLS calls below an earlier call's ID (allowed)"

for c in c1 c2 c3; do stop "$c"; done
stop master
log "ticket: OK"
