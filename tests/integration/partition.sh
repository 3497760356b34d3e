#!/usr/bin/env bash
# A coordinator cut off from its master (the master stopped with SIGSTOP: its
# socket stays open but nothing answers, as behind a dropped network link):
#  1. it keeps serving sequence IDs from the chunks it holds, and only from
#     them, until they run out; then SR_EUNAVAILABLE. None is lost but the
#     few a batch took when it found too few left (a batch is all or none);
#  2. it stops issuing txids once its worker lease lapses (SR_ENOWORKER),
#     within the lease TTL;
#  3. when the master is back (SIGCONT) it resumes by itself, IDs and
#     txids, without being restarted;
#  4. no duplicate and no order violation over the whole run.
# The same again with the master killed and restarted instead of stopped.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
need jq jq

TTL=1500
start_master --lease-ttl-ms "$TTL"
"$CLI" -m "$MASTER_URL" seq create p --chunk 500 --min-chunk 500 --max-chunk 500 >/dev/null
start_coord c1 --lease-timeout-ms 300 --rpc-timeout-ms 500
wait_worker c1 # a new master's first worker id comes a moment after its start
C1=$(coord_url c1)

# Draws in the background for SECONDS into NAME.draw: draw_bg NAME SECONDS ARGS...
draw_bg() {
	local name=$1 secs=$2
	shift 2
	"$CLI" --timeout 2000 draw "$@" -c "$C1" --duration "$secs" --out "$WORK/$name.draw" \
		2>>"$WORK/draw.log" &
	PIDS[$name]=$!
}
wait_draw() {
	wait "${PIDS[$1]}" || true
	unset "PIDS[$1]"
}
ids_in() { awk '$1=="B"{n+=NF-5} END{print n+0}' "$@"; }
# When (CLOCK_MONOTONIC us) the first and the last successful batch of a
# draw file were requested.
first_t0() { awk '$1=="B"{print $4; exit}' "$1"; }
last_t0() { awk '$1=="B"{t=$4} END{printf "%.0f\n", t}' "$1"; }
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# Every ID in the draw files must lie in one of the chunks listed in a
# coordinator status (JSON): id(k, i) = start + 1 + k + n*(i-1), i = 1..c.
only_from_chunks() {
	local status=$1
	shift
	jq -r '.chunks[] | select(.sequence=="p") | "\(.start) \(.n) \(.k) \(.c)"' "$status" >"$WORK/chunks"
	awk 'NR==FNR { s[NR]=$1; n[NR]=$2; k[NR]=$3; c[NR]=$4; nc=NR; next }
	     $1=="B" { for (f = 6; f <= NF; f++) {
		ok = 0
		for (j = 1; j <= nc; j++) {
			d = $f - s[j] - 1 - k[j]
			if (d >= 0 && d % n[j] == 0 && d / n[j] < c[j]) { ok = 1; break }
		}
		if (!ok) { print "ID " $f " is in no chunk the coordinator held"; bad = 1; exit }
	     } }
	     END { exit bad }' "$WORK/chunks" "$@"
}

for how in stop kill; do
	log "== master cut off ($how)"
	"$CLI" draw p --batch 10 -c "$C1" --duration 1 --out "$WORK/$how.before.draw" 2>>"$WORK/draw.log"
	"$CLI" draw --txids --batch 10 -c "$C1" --duration 1 --out "$WORK/$how.txbefore.draw" 2>>"$WORK/draw.log"
	if [[ $how == stop ]]; then
		kill -STOP "${PIDS[master]}"
	else
		kill9 master
	fi
	# What c1 holds at the cut; its status needs no master.
	"$CLI" -c "$C1" -o json status >"$WORK/$how.held.json"
	held=$(jq '[.chunks[] | select(.sequence=="p") | .c - .used] | add // 0' "$WORK/$how.held.json")
	log "1. c1 holds $held unused IDs of p; they are served, then EUNAVAILABLE"
	draw_bg "$how.cut" 3 p --batch 10
	draw_bg "$how.txcut" 3 --txids --batch 10
	wait_draw "$how.cut"
	wait_draw "$how.txcut"
	# The draws began right after the cut: the first batch's request time
	# is the cut on the draws' clock (CLOCK_MONOTONIC), a few ms late.
	cut_at=$(first_t0 "$WORK/$how.cut.draw")
	n=$(ids_in "$WORK/$how.cut.draw")
	((n > 0)) || fail "$how: c1 served nothing from its held chunks"
	# Every held ID is served, in whole batches of 10: the batch that finds
	# fewer left and no next chunk fails with EUNAVAILABLE, and the held % 10
	# IDs it took are dropped with it (a gap, never reissued; a NextIds
	# reply carries all the IDs asked for or none: coordinator/daemon.c).
	# Nothing else draws p meanwhile, so the count is exact.
	want=$((held - held % 10))
	((n == want)) ||
		fail "$how: c1 served $n IDs while cut off, holding $held (want $want: all but the $((held % 10)) of the failed batch)"
	only_from_chunks "$WORK/$how.held.json" "$WORK/$how.cut.draw" ||
		fail "$how: an ID served while cut off came from no held chunk"
	grep -q "EUNAVAILABLE=" "$WORK/$how.cut.draw" || fail "$how: no EUNAVAILABLE once the chunks ran out"
	log "   served $n IDs from held chunks, then EUNAVAILABLE"

	log "2. txids stop within the lease ($TTL ms): ENOWORKER"
	grep -q "ENOWORKER=" "$WORK/$how.txcut.draw" || fail "$how: txids never stopped ($(tail -n 1 "$WORK/$how.txcut.draw"))"
	# The coordinator checks its lease when the request arrives, after
	# t0: a txid requested later than a TTL after the cut had no lease.
	last=$(last_t0 "$WORK/$how.txcut.draw")
	if ((last > 0)); then
		((last - cut_at < TTL * 1000)) ||
			fail "$how: a txid was requested $(((last - cut_at) / 1000)) ms after the cut and issued, lease $TTL ms"
	fi
	log "   last txid requested $(((last > 0 ? last - cut_at : 0) / 1000)) ms after the cut"

	log "3. master back: c1 resumes by itself"
	if [[ $how == stop ]]; then
		kill -CONT "${PIDS[master]}"
	else
		start_master --lease-ttl-ms "$TTL"
	fi
	back=$(now_ms)
	for ((i = 0; i < 100; i++)); do
		"$CLI" -c "$C1" next p >/dev/null 2>&1 && "$CLI" -c "$C1" txid >/dev/null 2>&1 && break
		sleep 0.1
	done
	((i < 100)) || fail "$how: c1 did not resume within 10 s of the master's return"
	log "   serving again after $(($(now_ms) - back)) ms"
	"$CLI" draw p --batch 10 -c "$C1" --duration 1 --out "$WORK/$how.after.draw" 2>>"$WORK/draw.log"
	"$CLI" draw --txids --batch 10 -c "$C1" --duration 1 --out "$WORK/$how.txafter.draw" 2>>"$WORK/draw.log"
	[[ $(first_t0 "$WORK/$how.after.draw") != "" ]] || fail "$how: no IDs after the master came back"
done

log "4. no duplicate, no order violation"
"$CLI" verify "$WORK"/{stop,kill}.{before,cut,after}.draw || fail "sequence IDs"
"$CLI" verify "$WORK"/{stop,kill}.tx{before,cut,after}.draw || fail "txids"
stop c1
stop master
log "partition: OK"
