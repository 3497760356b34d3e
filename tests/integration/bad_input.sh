#!/usr/bin/env bash
# Bad input against a real master and coordinator (see badinput.c).
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
start_master
"$CLI" -m "$MASTER_URL" seq create notes >/dev/null
start_coord c1
"$BUILD/tests/badinput" "$MASTER_URL" "$(coord_url c1)"
# The CLI reports bad input on stderr with a non-zero exit, never a crash.
set +e
"$CLI" -c "$(coord_url c1)" next notes -n 0 2>"$WORK/err"; rc=$?
set -e
((rc != 0)) || fail "next -n 0 succeeded"
grep -q . "$WORK/err" || fail "next -n 0 printed no error"
set +e
"$CLI" -c "$(coord_url c1)" next no-such-seq 2>"$WORK/err"; rc=$?
set -e
((rc == 1)) || fail "next on an unknown sequence exited $rc"
grep -q ENOTFOUND "$WORK/err" || fail "unknown sequence: $(cat "$WORK/err")"
stop c1
stop master
log "bad_input: OK"
