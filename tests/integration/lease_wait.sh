#!/usr/bin/env bash
# Many requests waiting for a chunk at once must not stall the daemon. A
# handler that waits for the next chunk used to wait inside nng's callback,
# on one of nng's few task threads (2 per CPU); once every task thread held
# such a waiter, nng could not deliver the lease reply they were waiting for,
# and all of them failed with SR_EUNAVAILABLE after lease-timeout-ms (issue
# 19: million-ID segments from 8 clients ran chunks out in a fraction of a
# second and hit it every time). Here a sequence without prefetch makes
# every caller at a chunk's end wait for a lease: 12 clients draw from one
# coordinator, and no request may fail.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"

start_master
"$CLI" -m "$MASTER_URL" seq create w --block --chunk 500 --no-prefetch >/dev/null
start_coord c1 --workers 32 --lease-timeout-ms 3000
C1=$(coord_url c1)

pids=()
for i in $(seq 1 12); do
	"$CLI" -c "$C1" --timeout 10000 draw w --batch 100 --duration 3 \
		--out "$WORK/w$i.draw" 2>"$WORK/w$i.err" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
cat "$WORK"/w*.err >&2
out=$("$CLI" verify "$WORK"/w*.draw) || fail "verify: $out"
echo "$out"
[[ $out == *" errors=0"* ]] || fail "requests failed while waiting for chunks: $out"

stop c1
stop master
log "lease_wait: ok"
