#!/usr/bin/env bash
# The core guarantee under churn, with real processes: a master and three
# coordinators serve four client processes on two sequences while the master
# is killed with -9 and restarted, a coordinator is killed with -9 and
# restarted under the same name, and a fourth coordinator joins mid-run.
# At least 1,000,000 IDs are drawn; the checker must find zero duplicates and
# zero per-coordinator order violations.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
DURATION=${SR_IT_DURATION:-16}

start_master --lease-ttl-ms 2000
"$CLI" -m "$MASTER_URL" seq create notes --chunk 500 >/dev/null
"$CLI" -m "$MASTER_URL" seq create tasks --chunk 2000 --spare 1 >/dev/null
for c in c1 c2 c3; do start_coord "$c" --lease-timeout-ms 5000; done

C1=$(coord_url c1) C2=$(coord_url c2) C3=$(coord_url c3) C4=$(coord_url c4)
draw() {
	local out=$1
	shift
	"$CLI" --timeout 3000 draw "$@" --duration "$DURATION" --out "$WORK/$out.draw" \
		2>>"$WORK/draw.log" &
	PIDS[$out]=$!
}
# Batched and single-ID clients; one also knows c4, which joins later.
draw d1 notes --batch 1000 -c "$C1" -c "$C2"
draw d2 notes --batch 1 -c "$C3" -c "$C4"
draw d3 tasks --batch 1000 -c "$C2" -c "$C3" -c "$C4"
draw d4 tasks --batch 7 -c "$C1"

sleep 3
log "kill -9 master"
kill9 master
sleep 1
log "restart master"
start_master --lease-ttl-ms 2000
sleep 2
log "kill -9 c2"
kill9 c2
sleep 1
log "restart c2 under the same name"
start_coord c2 --lease-timeout-ms 5000
sleep 1
log "c4 joins"
start_coord c4 --lease-timeout-ms 5000

for d in d1 d2 d3 d4; do wait "${PIDS[$d]}" || fail "client $d drew nothing"; unset "PIDS[$d]"; done

"$CLI" -m "$MASTER_URL" status
"$CLI" -m "$MASTER_URL" -o json status >"$WORK/status.json"
grep -q '"c4"' "$WORK/status.json" || fail "c4 missing from master status"
"$CLI" -c "$C4" status

summary=$("$CLI" verify "$WORK"/d*.draw) || fail "verify: $summary"
echo "$summary"
ids=$(sed -n 's/.*ids=\([0-9]*\).*/\1/p' <<<"$summary")
((ids >= 1000000)) || fail "only $ids IDs drawn, want >= 1000000"
# Every coordinator, including the joiner and the restarted one, served.
for c in c1 c2 c3 c4; do
	grep -q "^B $c " "$WORK"/d*.draw || fail "no IDs from $c"
done
for c in c1 c2 c3 c4; do stop "$c"; done
stop master
log "cluster: OK"
