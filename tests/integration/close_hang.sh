#!/usr/bin/env bash
# The CLI never hangs in a connection's close: with nng_close made to block
# forever (tests/fault/nnghang.c, the nng 1.5.2 hang seen in the TLS churn
# run), a command still exits within a few seconds,
# says why on stderr, and keeps its output and exit status.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"

start_master
"$CLI" -m "$MASTER_URL" seq create h --chunk 100 >/dev/null
start_coord c1
SHIM=$BUILD/tests/libsr_nnghang.so
[[ -f $SHIM ]] || fail "no $SHIM"
# An ASan CLI insists on its runtime coming first; the shim is tiny.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

t0=$SECONDS
rc=0
LD_PRELOAD=$SHIM timeout 30 "$CLI" -c "$(coord_url c1)" next h -n 3 >"$WORK/out" 2>"$WORK/err" || rc=$?
took=$((SECONDS - t0))
((rc == 0)) || fail "next exited $rc (124: the close hung); stderr: $(cat "$WORK/err")"
((took <= 15)) || fail "next took $took s with a hung close"
(($(wc -l <"$WORK/out") == 3)) || fail "next printed $(wc -l <"$WORK/out") IDs, want 3"
grep -q "closing the connection hung" "$WORK/err" || fail "no word of the hung close on stderr"

rc=0
LD_PRELOAD=$SHIM timeout 30 "$CLI" -c "$(coord_url c1)" next nosuch >/dev/null 2>"$WORK/err2" || rc=$?
((rc == 1)) || fail "a failed next with a hung close exited $rc, want 1"
log "ok: a hung close costs 3 s, output and status kept"
