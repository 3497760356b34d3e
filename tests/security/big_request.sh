#!/usr/bin/env bash
# Issue 10 item 9: one NextIds(count=65536) on a block-mode sequence with
# chunk 5 used to make thousands of durable master commits, drop the IDs it
# had taken and be answered "master unreachable". A call now swaps in at most
# 256 chunks (CACHE_MAX_SWAPS, docs/decisions.md) and is refused with
# SR_ETOOBIG saying why.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh" "$1"

start_master
"$CLI" -m "$MASTER_URL" seq create tiny --block --chunk 5 --max-chunk 5 >/dev/null ||
	fail "cannot create tiny"
# A long lease timeout: 1000 IDs below are 200 leases in one call, which
# under the sanitizers on a loaded machine took longer than the default 3 s.
start_coord c1 --lease-timeout-ms 30000
"$CLI" -c "$(coord_url c1)" next tiny >/dev/null || fail "tiny serves no ID"

rc=0
"$CLI" --timeout 40000 -c "$(coord_url c1)" next tiny -n 65536 >"$WORK/out" 2>"$WORK/err" || rc=$?
cp "$WORK/err" "$WORK/err65536"
((rc != 0)) || fail "65536 IDs of 5-ID chunks were served in one call"
grep -q "chunks" "$WORK/err" || fail "the refusal does not say why: $(cat "$WORK/err")"
grep -qi "unreachable" "$WORK/err" && fail "reported as unreachable: $(cat "$WORK/err")"

# The master's high-water mark says how many IDs were leased: at most the
# 256 chunks of the call plus a few prefetched ones, not thousands.
hwm=$("$CLI" -m "$MASTER_URL" seq list | awk '$1 == "tiny" {print $2}')
[[ $hwm =~ ^[0-9]+$ ]] || { "$CLI" -m "$MASTER_URL" seq list >&2; fail "no hwm for tiny"; }
((hwm <= 5 * 270)) || fail "one call leased $hwm IDs (more than 270 chunks)"

# The sequence still serves, and a count that fits in 256 chunks works.
"$CLI" --timeout 40000 -c "$(coord_url c1)" next tiny -n 1000 >/dev/null 2>"$WORK/err" ||
	fail "1000 IDs refused: $(cat "$WORK/err")"
stop c1
stop master
log "big_request: OK (hwm $hwm; $(cat "$WORK/err65536"))"
