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
# Sequences created after the coordinators started are usable at once.
"$CLI" -m "$MASTER_URL" seq create late >/dev/null
"$CLI" -c "$(coord_url c1)" next late -n 3 >/dev/null || fail "new sequence unusable"
stop c1
stop master

# Bad Snowflake layouts are refused at start-up, naming the problem, and a
# data dir keeps the layout it was created with.
set +e
"$MASTER_BIN" --data-dir "$WORK/l1" --listen "ipc://$WORK/l1.ipc" --layout 41/10/13 2>"$WORK/err"
rc=$?
set -e
((rc == 2)) || fail "--layout 41/10/13 exited $rc"
grep -q "63" "$WORK/err" || fail "layout error does not say why: $(cat "$WORK/err")"
set +e
timeout 10 "$MASTER_BIN" --data-dir "$WORK/data" --listen "ipc://$WORK/l2.ipc" \
	--layout 39/16/8/10 2>"$WORK/err"
rc=$?
set -e
((rc == 1)) || fail "changed layout on an existing data dir exited $rc"
grep -q "refusing" "$WORK/err" || fail "changed layout: $(cat "$WORK/err")"
log "bad_input: OK"
