#!/usr/bin/env bash
# Snowflake txids with real processes (docs/guarantees.md, txids):
#  1. worker id reuse between holders whose clocks disagree (libfaketime),
#     with two worker ids (layout 50/1/12), TTL 1.5 s, grace 0.5 s:
#     a. the new holder's clock 3 s behind: c1 (clock in sync) is killed
#        with -9 while drawing; c3, 3 s behind, gets c1's worker id only
#        after c1's lease expired plus the grace period, and issues only
#        above the grant's floor, waiting for its clock to get there;
#     b. the old holder's clock ahead: c2 (1.8 s ahead) is killed with -9
#        while drawing; c5 (2 s behind) gets its worker id and issues only
#        above c2's last reported tick plus one TTL. c2's offset is above
#        the TTL, so that its report, not its lease's end, decides the
#        floor, and within the master's tolerated skew (2 s by default,
#        docs/decisions.md), which refuses reports further ahead. c5 is
#        behind because a holder in sync starts too late to reach the ticks
#        c2 issued after its last report: with skew up to the grace only
#        a new holder behind needs the + TTL.
#     In both, no txid of the new holder is <= any txid of the old one and
#     there is no duplicate. On one machine with clocks in sync the new
#     holder starts TTL + grace later, so only skewed clocks test the floor
#     (worker_apply in coordinator/worker.c, grants_pick in
#     master/grants.c).
#  2. clock stepped back 2 s under libfaketime: SR_ECLOCK is visible, and
#     there is no duplicate or order violation.
#  3. master unreachable (SIGSTOP) past the lease: SR_ENOWORKER, and after
#     SIGCONT txids resume with no duplicate.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
need_file "$FAKETIME_LIB" libfaketime

# start_coord_ft NAME OFFSET: a coordinator whose wall clock is OFFSET
# seconds off ("+1.8", "-3"), read from $WORK/NAME.ft (rewritten to step it).
# It starts in sync and is stepped once it answers: libfaketime 0.9.10 also
# shifts timed waits on CLOCK_MONOTONIC condition variables by the offset,
# and a daemon started 3 s behind once did not answer for minutes. Every
# caller steps before the coordinator issues a txid (it holds no worker id
# yet, or nobody asked it). In the sanitizer build ASan must not insist on
# being first in the preload list: libfaketime is preloaded before it.
start_coord_ft() {
	echo "+0" >"$WORK/$1.ft"
	LD_PRELOAD=$FAKETIME_LIB FAKETIME_TIMESTAMP_FILE="$WORK/$1.ft" FAKETIME_CACHE_DURATION=0 \
		FAKETIME_DONT_FAKE_MONOTONIC=1 \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		start_coord "$1"
	echo "$2" >"$WORK/$1.ft"
}

start_master --lease-ttl-ms 1500 --worker-grace-ms 500 --layout 50/1/12
start_coord c1
start_coord_ft c2 +1.8

worker_of() { # worker id in a txid, layout 50/1/12
	echo $(( ($1 >> 12) & 1 ))
}
# Largest / smallest txid of a draw file (awk compares these exactly only
# as strings of equal length, so compare by length first).
txid_max() { awk '$1=="B"{for(i=6;i<=NF;i++) if(length($i)>length(m)||(length($i)==length(m)&&$i>m)) m=$i} END{print m}' "$1"; }
txid_min() { awk '$1=="B"{for(i=6;i<=NF;i++) if(m==""||length($i)<length(m)||(length($i)==length(m)&&$i<m)) m=$i} END{print m}' "$1"; }

# handover OLD NEW NEW_OFFSET: OLD is killed with -9 in the middle of a
# draw; NEW (clock offset NEW_OFFSET, "" for none) gets OLD's worker id
# after its lease expired plus the grace period, and issues only above
# every txid of OLD.
handover() {
	local old=$1 new=$2 offset=$3 rc
	"$CLI" draw --txids -c "$(coord_url "$old")" --timeout 500 --duration 2 --batch 50 \
		--out "$WORK/$old.draw" 2>>"$WORK/draw.log" &
	PIDS[d_$old]=$!
	sleep 1.5
	local killed_ms
	killed_ms=$(date +%s%3N)
	kill9 "$old" # mid-draw: the old holder issued after its last heartbeat
	if [[ -n $offset ]]; then
		start_coord_ft "$new" "$offset"
	else
		start_coord "$new"
	fi
	# NEW holds no worker id until OLD's lease (1.5 s from its last renewal,
	# at most 0.5 s before the kill) plus grace (0.5 s) passed.
	set +e
	"$CLI" -c "$(coord_url "$new")" txid 2>"$WORK/err"
	rc=$?
	set -e
	# OLD's grant ends 1.0 to 1.5 s after the kill and is free 0.5 s later:
	# only an answer within 1.5 s of the kill must be a refusal. On a
	# loaded machine (the sanitizer pass) NEW may start later than that,
	# and then holding the id is right.
	if (($(date +%s%3N) - killed_ms < 1500)); then
		((rc != 0)) || fail "$new issued a txid while both worker ids were leased"
		grep -q ENOWORKER "$WORK/err" || fail "expected ENOWORKER, got: $(cat "$WORK/err")"
	else
		log "$new answered more than 1.5 s after the kill: the refusal is not checked"
	fi
	wait "${PIDS[d_$old]}" || true
	unset "PIDS[d_$old]"
	local old_last old_worker
	old_last=$(txid_max "$WORK/$old.draw")
	[[ -n $old_last ]] || fail "$old drew no txid"
	old_worker=$(worker_of "$old_last")
	# Up to 1.5 s + 0.5 s for the grant, then up to TTL + 3 s of skew until
	# the new holder's clock passes the floor.
	"$CLI" draw --txids -c "$(coord_url "$new")" --duration 7 --batch 50 \
		--out "$WORK/$new.draw" 2>>"$WORK/draw.log" || true
	local new_first
	new_first=$(txid_min "$WORK/$new.draw")
	[[ -n "$new_first" ]] || fail "$new never got a worker id"
	[[ $(worker_of "$new_first") == "$old_worker" ]] ||
		fail "$new did not reuse $old's worker id $old_worker"
	"$CLI" verify "$WORK/$old.draw" "$WORK/$new.draw" ||
		fail "duplicates across $old and $new"
	((new_first > old_last)) || fail "$new's first txid $new_first <= $old's last $old_last"
	"$CLI" -m "$MASTER_URL" decode "$new_first" | grep -q "($new)" ||
		fail "decode does not name $new"
	# A txid from before the handover names the holder of then, not the
	# holder of now (the master's grant history).
	"$CLI" -m "$MASTER_URL" decode "$old_last" | grep -q "($old)" ||
		fail "decode of $old's last txid does not name $old: $("$CLI" -m "$MASTER_URL" decode "$old_last")"
}

log "1a. worker id handover to a holder whose clock is 3 s behind"
handover c1 c3 -3
log "1b. worker id handover from a holder whose clock was 1.8 s ahead, to one 2 s behind"
handover c2 c5 -2

log "2. clock stepped back 2 s (libfaketime) on c4"
stop c3 # frees a worker id (after the grace period)
start_coord_ft c4 +0
for ((i = 0; i < 50; i++)); do
	"$CLI" -c "$(coord_url c4)" txid >/dev/null 2>&1 && break
	sleep 0.1
done
"$CLI" draw --txids -c "$(coord_url c4)" --duration 5 --batch 10 --out "$WORK/c4.draw" \
	2>>"$WORK/draw.log" &
PIDS[d4]=$!
sleep 1.5
echo "-2" >"$WORK/c4.ft"
wait "${PIDS[d4]}" || fail "c4 drew no txid"
unset "PIDS[d4]"
grep -q "ECLOCK=" "$WORK/c4.draw" || fail "no ECLOCK after the clock went back 2 s"
"$CLI" verify "$WORK/c4.draw" || fail "c4 txids not unique and increasing"
# It issued again once the clock had caught up: the last batch came after
# the step (the draw ran 3.5 s past it).
last_t0=$(awk '$1=="B"{t=$4} END{print t}' "$WORK/c4.draw")
first_t0=$(awk '$1=="B"{print $4; exit}' "$WORK/c4.draw")
((last_t0 - first_t0 > 3000000)) || fail "c4 did not resume after the clock step"

log "3. master unreachable past the lease"
# On a coordinator whose clock is in sync: c6 takes c5's worker id once c5
# left (its floor, c5's last tick + TTL, lies behind c6's clock).
stop c5
start_coord c6
C6=$(coord_url c6)
for ((i = 0; i < 50; i++)); do
	"$CLI" -c "$C6" txid >/dev/null 2>&1 && break
	sleep 0.1
done
"$CLI" draw --txids -c "$C6" --duration 1 --batch 10 --out "$WORK/before.draw" 2>>"$WORK/draw.log"
kill -STOP "${PIDS[master]}"
sleep 2.5 # > the 1.5 s lease
set +e
"$CLI" -c "$C6" txid 2>"$WORK/err"
rc=$?
set -e
kill -CONT "${PIDS[master]}"
((rc != 0)) || fail "c6 issued a txid without a live worker lease"
grep -q ENOWORKER "$WORK/err" || fail "expected ENOWORKER, got: $(cat "$WORK/err")"
"$CLI" draw --txids -c "$C6" --duration 3 --batch 10 --out "$WORK/after.draw" 2>>"$WORK/draw.log" ||
	fail "c6 did not resume after the master came back"
"$CLI" verify "$WORK/c1.draw" "$WORK/c2.draw" "$WORK/c3.draw" "$WORK/c5.draw" "$WORK/before.draw" \
	"$WORK/after.draw" "$WORK/c4.draw" ||
	fail "duplicate txids across the run"
stop c6
stop c4
stop master
log "txid: OK"
