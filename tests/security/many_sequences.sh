#!/usr/bin/env bash
# Issue 10 item 8: a coordinator's sequence table was a fixed 4096 slots
# (3072 sequences); once full, every new sequence got SR_ENOMEM until the
# coordinator restarted, so one client asking for many distinct sequences
# locked the others out. The table now grows. Names the master does not know
# never enter it (they are leased before they are inserted), so random names
# cost nothing.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh" "$1"
ATTACK=$BUILD/tests/attack

start_master
start_coord c1
# Random names: refused by the master, never kept.
out=$("$ATTACK" "$(coord_url c1)" seqs - 500 bogus)
[[ $out == "OK 0 500" ]] || fail "bogus names: $out"
# More real sequences than the old table held.
out=$("$ATTACK" "$(coord_url c1)" seqs "$MASTER_URL" 3200 s)
[[ $out == "OK 3200 0" ]] || fail "3200 sequences: $out"
# A new sequence still works, and the first ones still serve.
"$CLI" -m "$MASTER_URL" seq create real >/dev/null || fail "cannot create real"
"$CLI" -c "$(coord_url c1)" next real >/dev/null 2>"$WORK/err" ||
	fail "a new sequence after 3200 others: $(cat "$WORK/err")"
"$CLI" -c "$(coord_url c1)" next s0 >/dev/null 2>"$WORK/err" ||
	fail "s0 after the table grew: $(cat "$WORK/err")"
stop c1
stop master
log "many_sequences: OK"
