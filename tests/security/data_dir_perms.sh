#!/usr/bin/env bash
# Issue 10 item 7: the master refuses a group- or world-writable data dir
# (saying what to chmod), creates a new one 0700 and its database files
# 0600, and makes the files of an older store 0600.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh" "$1"
umask 022

mode() { stat -c %a "$1"; }

for m in 777 775 757; do
	mkdir -m "$m" "$WORK/open$m"
	set +e
	timeout 20 "$MASTER_BIN" --data-dir "$WORK/open$m" --listen "ipc://$WORK/o.ipc" \
		2>"$WORK/err"
	rc=$?
	set -e
	((rc == 1)) || fail "a $m data dir: exit $rc"
	grep -q "chmod 700 $WORK/open$m" "$WORK/err" || fail "no chmod advice: $(cat "$WORK/err")"
	[[ ! -e $WORK/open$m/snowrange.db ]] || fail "the store was created in a $m dir"
done

start_master
"$CLI" -m "$MASTER_URL" seq create s >/dev/null
[[ $(mode "$WORK/data") == 700 ]] || fail "data dir is $(mode "$WORK/data")"
for f in snowrange.db snowrange.db-wal snowrange.db-shm LOCK; do
	[[ -e $WORK/data/$f ]] || fail "$f missing"
	[[ $(mode "$WORK/data/$f") == 600 ]] || fail "$f is $(mode "$WORK/data/$f")"
done
stop master

# An older store with readable files: made 0600 at the next start.
chmod 644 "$WORK"/data/snowrange.db*
start_master
for f in snowrange.db snowrange.db-wal snowrange.db-shm; do
	[[ $(mode "$WORK/data/$f") == 600 ]] || fail "$f left at $(mode "$WORK/data/$f")"
done
"$CLI" -m "$MASTER_URL" seq list | grep -q '^s' || fail "the store lost its sequence"
stop master
log "data_dir_perms: OK"
