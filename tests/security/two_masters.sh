#!/usr/bin/env bash
# Issue 10 item 6: a second master on the same data dir refuses before it
# touches the store (flock on DIR/LOCK), whatever URL it is given, and the
# first keeps committing; a second master on a used URL fails before it takes
# a fencing term; and a master that finds itself fenced stops serving and
# exits non-zero with a clear log line.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh" "$1"
source "$(dirname "$0")/../integration/need.sh"
need sqlite3 sqlite3

term() { sqlite3 "$1/snowrange.db" "SELECT value FROM meta WHERE key = 'term'"; }

start_master
"$CLI" -m "$MASTER_URL" seq create s >/dev/null
t1=$(term "$WORK/data")
for url in "$MASTER_URL" "ipc://$WORK/other.ipc"; do
	set +e
	timeout 20 "$MASTER_BIN" --data-dir "$WORK/data" --listen "$url" 2>"$WORK/err"
	rc=$?
	set -e
	((rc == 1)) || fail "second master on the same dir ($url) exited $rc"
	grep -q "in use by another master (pid ${PIDS[master]}" "$WORK/err" ||
		fail "no clear refusal: $(cat "$WORK/err")"
done
[[ $(term "$WORK/data") == "$t1" ]] || fail "the second master took a fencing term"
"$CLI" -m "$MASTER_URL" seq create t >/dev/null || fail "the first master was fenced"

# Another data dir, the same URL: the bind fails before the term is taken.
# (Over tcp: a second ipc listener probes the path with a connection that
# it drops mid-handshake, which stops nng 1.5.2's listener from accepting,
# nng issue #1518; docs/reliability.md.)
port=$((20000 + RANDOM % 20000))
for ((i = 0; i < 20; i++)); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
	port=$((20000 + RANDOM % 20000))
done
TCP_URL=tcp://127.0.0.1:$port
"$MASTER_BIN" --data-dir "$WORK/data3" --listen "$TCP_URL" >>"$WORK/m3.log" 2>&1 &
PIDS[m3]=$!
wait_ready "$TCP_URL"
set +e
timeout 20 "$MASTER_BIN" --data-dir "$WORK/data2" --listen "$TCP_URL" 2>"$WORK/err"
rc=$?
set -e
((rc == 1)) || fail "second master on the same URL exited $rc"
grep -q "cannot listen" "$WORK/err" || fail "bind failure not named: $(cat "$WORK/err")"
[[ ! -e $WORK/data2/snowrange.db ]] || fail "the store was opened before the bind"
"$CLI" -m "$TCP_URL" seq create v >/dev/null || fail "the first master on $TCP_URL was fenced"
stop m3

# Fenced: another holder of the store moves the term (as a master on
# another host sharing the volume would). The next commit fails ESTALE; the
# master stops serving and exits 1.
sqlite3 "$WORK/data/snowrange.db" "UPDATE meta SET value = value + 1 WHERE key = 'term'"
set +e
"$CLI" -m "$MASTER_URL" --timeout 3000 seq create u 2>"$WORK/err"
rc=$?
set -e
((rc != 0)) || fail "a fenced master committed"
grep -q ESTALE "$WORK/err" || fail "expected ESTALE: $(cat "$WORK/err")"
pid=${PIDS[master]}
for ((i = 0; i < 100; i++)); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "the fenced master still runs"
rc=0
wait "$pid" || rc=$?
unset "PIDS[master]"
((rc == 1)) || fail "the fenced master exited $rc, expected 1"
grep -q "FENCED: another master took the fencing term" "$WORK/master.log" ||
	fail "no FENCED line in the log"
log "two_masters: OK"
