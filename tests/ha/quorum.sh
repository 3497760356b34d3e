#!/usr/bin/env bash
# etcd losing its quorum under masters on etcd (issue 11, item 5), with real
# processes: a 3-member etcd cluster, two masters, two coordinators given the
# list, and clients drawing a chunked sequence and txids. The test kills one
# etcd member (nothing changes), then a second (quorum lost): the masters
# can commit nothing, so the leader's etcd lease runs out and it stops
# leading, while the coordinators keep serving IDs from the chunks they hold.
# Then both members come back: a master leads again by itself and leases
# resume. Zero duplicates and zero order violations; IDs were served while
# the quorum was gone.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh" "$1"
source "$(dirname "$0")/etcd_lib.sh"

start_etcd 3
for m in m1 m2; do
	"$MASTER_BIN" --store "$ETCD_URL" --listen "ipc://$WORK/$m.ipc" >>"$WORK/$m.log" 2>&1 &
	PIDS[$m]=$!
done
MASTERS=ipc://$WORK/m1.ipc,ipc://$WORK/m2.ipc
for ((i = 0; i < 100; i++)); do
	"$CLI" -m "$MASTERS" --timeout 1000 status >/dev/null 2>&1 && break
	sleep 0.1
done
# Chunks big enough to last through the outage at this rate.
"$CLI" -m "$MASTERS" seq create ids --chunk 200000 --min-chunk 200000 >/dev/null
for c in c1 c2; do
	"$COORD_BIN" join "$MASTERS" --name "$c" --listen "$(coord_url "$c")" \
		--lease-timeout-ms 3000 >>"$WORK/$c.log" 2>&1 &
	PIDS[$c]=$!
	wait_ready "$(coord_url "$c")"
done
C1=$(coord_url c1) C2=$(coord_url c2)
# A slow steady client: one ID every few ms, so the chunks last.
"$CLI" --timeout 5000 draw ids --batch 1 -c "$C1" -c "$C2" --duration 16 \
	--out "$WORK/ids.draw" 2>>"$WORK/draw.log" &
PIDS[ids]=$!

sleep 2
log "kill etcd member 1: the quorum holds"
kill_etcd 1
sleep 2
# A master leads before the second kill. Member 1 may have been etcd's
# leader: its election can outlast the master's etcd lease (2 s) on a loaded
# machine, and the master then hands over (docs/ha.md); the loss counted
# below must be the quorum's.
for ((i = 0; i < 100; i++)); do
	"$CLI" -m "$MASTERS" --timeout 1000 status >/dev/null 2>&1 && break
	sleep 0.1
done
((i < 100)) || fail "no master leads with two etcd members of three"
lost() { cat "$WORK"/m1.log "$WORK"/m2.log | grep -c "LEADERSHIP LOST" || true; }
before=$(lost)
log "kill etcd member 2: quorum lost"
kill_etcd 2
# The leader cannot renew its etcd lease: it must stop leading (bounded).
for ((i = 0; i < 100; i++)); do
	(($(lost) > before)) && break
	sleep 0.1
done
(($(lost) > before)) || fail "no master stopped leading within 10 s of losing the etcd quorum"
log "   the leader stopped leading; coordinators serve from their chunks"
sleep 3
"$CLI" -m "$MASTERS" --timeout 1000 status >/dev/null 2>&1 &&
	fail "a master answered status as the leader without an etcd quorum"
log "bring members 1 and 2 back"
restart_etcd 1
restart_etcd 2
for ((i = 0; i < 200; i++)); do
	"$CLI" -m "$MASTERS" --timeout 1000 status >/dev/null 2>&1 && break
	sleep 0.1
done
"$CLI" -m "$MASTERS" --timeout 1000 status >/dev/null || fail "no master leads after the quorum returned"
log "   a master leads again"
# A new sequence needs a lease: the service is whole again.
"$CLI" -m "$MASTERS" seq create after --chunk 10 >/dev/null
"$CLI" --timeout 5000 -c "$C1" next after -n 5 >/dev/null || fail "no lease after the quorum returned"
wait "${PIDS[ids]}" || fail "the client drew nothing"
unset "PIDS[ids]"

summary=$("$CLI" verify "$WORK/ids.draw") || fail "verify: $summary"
echo "$summary"
# IDs kept coming while the quorum was gone: the longest gap is well below
# the outage (about 8 s from the second kill to the leader's return).
gap=$(awk '/^B /{ if (p && $5 - p > g) g = $5 - p; p = $5 } END { printf "%d", g / 1000 }' "$WORK/ids.draw")
log "longest gap between IDs: $gap ms"
((gap < 4000)) || fail "callers waited $gap ms: the coordinators did not serve from their chunks"
for c in c1 c2; do stop "$c"; done
log "quorum: OK"
