#!/usr/bin/env bash
# A master on an empty etcd prefix while a coordinator holds chunks from the
# prefix the cluster ran on (issue 11, item 4): the "master state was lost"
# refusal works on etcd as on SQLite. A coordinator draws IDs from a master
# on prefix /a/; the master is stopped and one is started on the empty
# prefix /b/ of the same etcd (a wrong --store, or etcd restored empty), and
# the operator, seeing no sequence, creates it again. The coordinator's next
# lease says it holds IDs above the sequence's hwm: the master refuses it
# (EINVAL), logs why, and commits no range; no ID at or below the ones
# drawn from /a/ is ever handed out again.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh" "$1"
source "$(dirname "$0")/etcd_lib.sh"
need jq jq

start_etcd 1
URL_A="${ETCD_URL%snowrange/}a/"
URL_B="${ETCD_URL%snowrange/}b/"
# Heartbeats every 500 ms: the coordinator hears of the new master soon.
start_on() {
	"$MASTER_BIN" --store "$1" --listen "$MASTER_URL" --lease-ttl-ms 1500 \
		>>"$WORK/$2.log" 2>&1 &
	PIDS[$2]=$!
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q "leading: serving" "$WORK/$2.log" && return 0
		sleep 0.1
	done
	fail "$2 did not lead on $1"
}

start_on "$URL_A" ma
"$CLI" -m "$MASTER_URL" seq create ids --chunk 50 >/dev/null
start_coord c1 --lease-timeout-ms 2000
C1=$(coord_url c1)
"$CLI" -c "$C1" next ids -n 120 >"$WORK/a.ids"
max_a=$(sort -n "$WORK/a.ids" | tail -1)
log "drew up to $max_a from $URL_A"
stop ma

log "a master on the empty prefix $URL_B; the sequence created again"
start_on "$URL_B" mb
"$CLI" -m "$MASTER_URL" seq create ids --chunk 50 >/dev/null

# The coordinator may still serve what it holds from /a/ (all above max_a)
# until it needs a lease; then every request fails with EINVAL. Bounded.
refused=0
for ((i = 0; i < 100; i++)); do
	if "$CLI" -c "$C1" --timeout 3000 next ids -n 20 >>"$WORK/b.ids" 2>"$WORK/next.err"; then
		sleep 0.1
		continue
	fi
	# Before the sequence was created again the new master said it does
	# not exist; that passes with the next heartbeat.
	if grep -q "ENOTFOUND" "$WORK/next.err"; then
		sleep 0.1
		continue
	fi
	grep -q "EINVAL" "$WORK/next.err" || fail "unexpected error: $(cat "$WORK/next.err")"
	refused=1
	break
done
((refused)) || fail "the coordinator's lease above the hwm was never refused"
if [[ -s $WORK/b.ids ]]; then
	low=$(sort -n "$WORK/b.ids" | head -1)
	((low > max_a)) || fail "ID $low handed out again (already drawn up to $max_a)"
fi
grep -q "lease refused: .*master state was lost.*$URL_B is not the store" "$WORK/mb.log" ||
	fail "the master did not log the refusal"
# Nothing was leased from the empty prefix: its hwm is where it started.
hwm=$("$CLI" -m "$MASTER_URL" -o json seq list | jq -r '.sequences[] | select(.name=="ids") | .hwm')
((hwm == 0)) || fail "a range was committed on the empty prefix (hwm $hwm)"
stop c1
stop mb
log "state_lost: OK"
