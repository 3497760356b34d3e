#!/usr/bin/env bash
# Issue 10 item 10: Snowflake layouts that cannot work are refused at
# start-up with the reason, before anything is stored: an epoch in the
# future (txid requests used to sleep for ever), a time range already over
# (every request got SR_EEXHAUSTED), or one leaving under 10 years.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh" "$1"

refused() { # LAYOUT WORDS: the master exits 2 naming the problem
	local layout=$1 words=$2 rc
	set +e
	timeout 20 "$MASTER_BIN" --data-dir "$WORK/d" --listen "ipc://$WORK/l.ipc" \
		--layout "$layout" 2>"$WORK/err"
	rc=$?
	set -e
	((rc == 2)) || fail "--layout $layout: exit $rc ($(cat "$WORK/err"))"
	grep -q "$words" "$WORK/err" || fail "--layout $layout: $(cat "$WORK/err")"
	[[ ! -e $WORK/d/snowrange.db ]] || fail "--layout $layout: a store was created"
}

next_year=$(( $(date -u +%Y) + 1 ))
refused "41/10/12/1/$next_year-01-01T00:00:00Z" "in the future"
refused "41/10/12/1/9223372036854775000" "in the future"
refused "41/10/12/1/1950-01-01T00:00:00Z" "already over"
refused "38/13/12" "at least 10 years"
# The default and Sonyflake's layout start.
start_master --layout 39/16/8/10
stop master
log "bad_layout: OK"
