#!/usr/bin/env bash
# The master on an etcd store (issue 11, item 1), with real processes: a
# one-member etcd started here, a master with --store etcd://..., two
# coordinators and two clients drawing IDs and txids while the master is
# killed with -9 and restarted on the same etcd prefix (a new fencing term,
# its state loaded from etcd). The checker must find zero duplicates and
# zero per-coordinator order violations.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh" "$1"
source "$(dirname "$0")/etcd_lib.sh"
DURATION=${SR_IT_DURATION:-10}

start_etcd 1
start_etcd_master() {
	"$MASTER_BIN" --store "$ETCD_URL" --listen "$MASTER_URL" --lease-ttl-ms 2000 \
		>>"$WORK/master.log" 2>&1 &
	PIDS[master]=$!
	wait_ready "$MASTER_URL"
}
start_etcd_master
grep -q "serving $MASTER_URL from $ETCD_URL (term 1)" "$WORK/master.log" ||
	fail "first master did not take term 1 on etcd"
# Small chunks: leases (etcd commits) all through the run.
"$CLI" -m "$MASTER_URL" seq create ids --chunk 200 >/dev/null
for c in c1 c2; do start_coord "$c" --lease-timeout-ms 5000; done
C1=$(coord_url c1) C2=$(coord_url c2)
# A master on a new prefix grants the first worker ids TTL/3 + grace after
# it started (2.7 s here, docs/snowflake.md "Claims"), about the txid
# draw's 3 s timeout: wait for them first.
for c in c1 c2; do wait_worker "$c"; done
"$CLI" --timeout 3000 draw ids --batch 50 -c "$C1" -c "$C2" --duration "$DURATION" \
	--out "$WORK/ids.draw" 2>>"$WORK/draw.log" &
PIDS[ids]=$!
"$CLI" --timeout 3000 draw --txids --batch 50 -c "$C1" -c "$C2" --duration "$DURATION" \
	--out "$WORK/tx.draw" 2>>"$WORK/draw.log" &
PIDS[tx]=$!

sleep 3
log "kill -9 master"
kill9 master
sleep 1
log "restart master on the same etcd prefix"
start_etcd_master
grep -q "serving $MASTER_URL from $ETCD_URL (term 2)" "$WORK/master.log" ||
	fail "restarted master did not take term 2"
for d in ids tx; do wait "${PIDS[$d]}" || fail "client $d drew nothing"; unset "PIDS[$d]"; done

# The hwm the restarted master loaded from etcd is above every ID drawn.
hwm=$("$CLI" -m "$MASTER_URL" -o json seq list | jq -r '.sequences[] | select(.name=="ids") | .hwm')
max=$(awk '/^B /{for (i = 6; i <= NF; i++) if ($i + 0 > m) m = $i + 0} END {print m}' \
	"$WORK/ids.draw")
((hwm >= max)) || fail "hwm $hwm in etcd is below the highest ID drawn, $max"
ETCDCTL_API=3 etcdctl --endpoints "${ETCD_EP[1]}" get /snowrange/term --print-value-only |
	grep -qx 2 || fail "etcd's /snowrange/term is not 2"

for f in ids tx; do
	summary=$("$CLI" verify "$WORK/$f.draw") || fail "verify $f: $summary"
	echo "$f: $summary"
done
for c in c1 c2; do stop "$c"; done
stop master
log "etcd_store: OK"
