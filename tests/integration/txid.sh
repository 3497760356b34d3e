#!/usr/bin/env bash
# Snowflake txids with real processes (docs/design.md §4-5):
#  1. worker id reuse: with two worker ids (layout 50/1/12), c1 is killed
#     with -9 and a new node c3 gets c1's worker id only after c1's lease
#     expired plus the grace period; no txid of c3 is <= any txid of c1.
#  2. clock stepped back 2 s under libfaketime: SR_ECLOCK is visible, and
#     there is no duplicate or order violation.
#  3. master unreachable (SIGSTOP) past the lease: SR_ENOWORKER, and after
#     SIGCONT txids resume with no duplicate.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
need_file "$FAKETIME_LIB" libfaketime

start_master --lease-ttl-ms 1500 --worker-grace-ms 500 --layout 50/1/12
start_coord c1
start_coord c2
C1=$(coord_url c1) C2=$(coord_url c2) C3=$(coord_url c3)

worker_of() { # worker id in a txid, layout 50/1/12
	echo $(( ($1 >> 12) & 1 ))
}

log "1. worker id reuse after kill -9"
"$CLI" draw --txids -c "$C1" --duration 1 --batch 50 --out "$WORK/c1.draw" 2>>"$WORK/draw.log"
# Largest / smallest txid of a draw file (awk compares these exactly only
# as strings of equal length, so compare by length first).
txid_max() { awk '$1=="B"{for(i=6;i<=NF;i++) if(length($i)>length(m)||(length($i)==length(m)&&$i>m)) m=$i} END{print m}' "$1"; }
txid_min() { awk '$1=="B"{for(i=6;i<=NF;i++) if(m==""||length($i)<length(m)||(length($i)==length(m)&&$i<m)) m=$i} END{print m}' "$1"; }
c1_last=$(txid_max "$WORK/c1.draw")
c1_worker=$(worker_of "$c1_last")
kill9 c1
start_coord c3
# c3 holds no worker id until c1's lease (1.5 s) plus grace (0.5 s) passed.
set +e
"$CLI" -c "$C3" txid 2>"$WORK/err"
rc=$?
set -e
((rc != 0)) || fail "c3 issued a txid while both worker ids were leased"
grep -q ENOWORKER "$WORK/err" || fail "expected ENOWORKER, got: $(cat "$WORK/err")"
"$CLI" draw --txids -c "$C3" --duration 4 --batch 50 --out "$WORK/c3.draw" 2>>"$WORK/draw.log"
c3_first=$(txid_min "$WORK/c3.draw")
[[ -n "$c3_first" ]] || fail "c3 never got a worker id"
[[ $(worker_of "$c3_first") == "$c1_worker" ]] || fail "c3 did not reuse c1's worker id $c1_worker"
((c3_first > c1_last)) || fail "c3's first txid $c3_first <= c1's last $c1_last"
"$CLI" -m "$MASTER_URL" decode "$c3_first" | grep -q "(c3)" || fail "decode does not name c3"
"$CLI" verify "$WORK/c1.draw" "$WORK/c3.draw" || fail "duplicates across c1 and c3"

log "2. clock stepped back 2 s (libfaketime) on c4"
echo "+0" >"$WORK/faketime"
stop c2 # frees a worker id (after the grace period)
# In the sanitizer build ASan must not insist on being first in the preload
# list: libfaketime is preloaded before it.
LD_PRELOAD=$FAKETIME_LIB FAKETIME_TIMESTAMP_FILE="$WORK/faketime" FAKETIME_CACHE_DURATION=0 \
	FAKETIME_DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
	start_coord c4
for ((i = 0; i < 50; i++)); do
	"$CLI" -c "$(coord_url c4)" txid >/dev/null 2>&1 && break
	sleep 0.1
done
"$CLI" draw --txids -c "$(coord_url c4)" --duration 5 --batch 10 --out "$WORK/c4.draw" \
	2>>"$WORK/draw.log" &
PIDS[d4]=$!
sleep 1.5
echo "-2" >"$WORK/faketime"
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
"$CLI" draw --txids -c "$C3" --duration 1 --batch 10 --out "$WORK/before.draw" 2>>"$WORK/draw.log"
kill -STOP "${PIDS[master]}"
sleep 2.5 # > the 1.5 s lease
set +e
"$CLI" -c "$C3" txid 2>"$WORK/err"
rc=$?
set -e
kill -CONT "${PIDS[master]}"
((rc != 0)) || fail "c3 issued a txid without a live worker lease"
grep -q ENOWORKER "$WORK/err" || fail "expected ENOWORKER, got: $(cat "$WORK/err")"
"$CLI" draw --txids -c "$C3" --duration 3 --batch 10 --out "$WORK/after.draw" 2>>"$WORK/draw.log" ||
	fail "c3 did not resume after the master came back"
"$CLI" verify "$WORK/c1.draw" "$WORK/c3.draw" "$WORK/before.draw" "$WORK/after.draw" "$WORK/c4.draw" ||
	fail "duplicate txids across the run"
stop c3
stop c4
stop master
log "txid: OK"
