#!/usr/bin/env bash
# The RESP port's busy poll (--resp-busy-poll-us, docs/operating.md): a
# coordinator whose two loops poll without sleeping after each event serves
# INCR like any other (unique, ascending per connection), polls while a
# client keeps it busy (INFO counts the turns), and goes back to sleep once
# its clients are quiet: an idle port costs no CPU whatever the setting.
# Bad values are refused with a message naming the flag.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
need redis-cli redis-tools

# The flag's range, as an operator mistypes it: exit 2, the flag named.
for bad in -1 100001 5us; do
	rc=0
	"$COORD_BIN" join "$MASTER_URL" --name x --resp-busy-poll-us "$bad" \
		>"$WORK/bad.out" 2>&1 || rc=$?
	((rc == 2)) || fail "--resp-busy-poll-us $bad exited $rc, want 2"
	grep -q -- "--resp-busy-poll-us: expected a whole number in 0..100000, got '$bad'" \
		"$WORK/bad.out" || fail "--resp-busy-poll-us $bad: $(cat "$WORK/bad.out")"
done

start_master
"$CLI" -m "$MASTER_URL" seq create orders --chunk 100 >/dev/null
start_coord c1 --resp-listen 127.0.0.1:0 --resp-threads 2 --resp-busy-poll-us 5000
PORT=$(sed -n 's/.*serving RESP on port \([0-9]*\) .*/\1/p' "$WORK/c1.log" | tail -n 1)
[[ -n $PORT ]] || fail "no RESP port in the log"
grep -q "RESP loops poll without sleeping for 5000 us after each event" "$WORK/c1.log" ||
	fail "the log does not say the port busy-polls"
PID=${PIDS[c1]}

# cpu_ticks: the coordinator's user + system time so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)

# ---- it serves: 4 pipelined connections, every ID unique, each ascending ----
# pipe N: N INCR orders in one write, then the N replies, one ID a line.
pipe() {
	local n=$1 i req="" line
	for ((i = 0; i < n; i++)); do req+=$'*2\r\n$4\r\nINCR\r\n$6\r\norders\r\n'; done
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf '%s' "$req" >&"$fd"
	for ((i = 0; i < n; i++)); do
		IFS= read -r -t 30 -u "$fd" line || { echo "no reply $i"; return 1; }
		line=${line%$'\r'}
		[[ $line == :* ]] || { echo "unexpected reply $line"; return 1; }
		echo "${line#:}"
	done
	exec {fd}>&-
}
pids=()
for j in 1 2 3 4; do
	pipe 3000 >"$WORK/ids.$j" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a pipelined client failed"; done
for f in "$WORK"/ids.*; do
	grep -qv '^[0-9]*$' "$f" && fail "$f: $(grep -v '^[0-9]*$' "$f" | head -1)"
	(($(wc -l <"$f") == 3000)) || fail "$f: $(wc -l <"$f") IDs, want 3000"
	sort -n -c "$f" 2>/dev/null || fail "$f: IDs of one connection do not ascend"
done
dups=$(cat "$WORK"/ids.* | sort -n | uniq -d | wc -l)
((dups == 0)) || fail "$dups IDs issued twice"
log "busy poll: 12000 IDs over 4 pipelined connections, unique, each ascending"

# ---- busy while a client is: one PING every ~10 ms, 100 times ----
# After each reply the loop polls for 5 ms before it sleeps: INFO counts
# the turns. Each PING is followed by at least one unless the loop thread
# was kept off its CPU for the whole 5 ms; on an unloaded machine there are
# thousands. (Counted, not timed: CPU time would shrink with the machine's
# load. Each request goes out in one write: split, its second half would
# wait for a delayed ACK.)
# turns: the busy_poll_turns line of the port's INFO.
turns() {
	redis-cli -h 127.0.0.1 -p "$PORT" INFO | tr -d '\r' | sed -n 's/^busy_poll_turns://p'
}
redis-cli -h 127.0.0.1 -p "$PORT" INFO | grep -q "^resp_busy_poll_us:5000" ||
	fail "INFO does not show resp_busy_poll_us:5000"
ping=$'*1\r\n$4\r\nPING\r\n'
exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
n0=$(turns)
t0=$(cpu_ticks)
for ((i = 0; i < 100; i++)); do
	printf '%s' "$ping" >&"$fd"
	IFS= read -r -t 10 -u "$fd" line || fail "no PONG"
	[[ ${line%$'\r'} == +PONG ]] || fail "PING answered '$line'"
	sleep 0.01
done
t1=$(cpu_ticks)
n1=$(turns)
exec {fd}>&-
[[ $n0 =~ ^[0-9]+$ && $n1 =~ ^[0-9]+$ ]] || fail "no busy_poll_turns in INFO: '$n0' '$n1'"
log "busy poll: $((n1 - n0)) turns and $((t1 - t0)) ticks (of $HZ a second) during 100 PINGs 10 ms apart"
((n1 - n0 >= 100)) || fail "only $((n1 - n0)) polling turns for 100 requests: the loop did not poll"

# ---- idle: back to sleep ----
# Once the clients are quiet the loops must sleep: 2 s of idling may cost a
# few ticks (the daemon's own heartbeats), at most 0.2 s, never the two
# cores (4 s) that loops that kept polling would burn.
sleep 0.5
t0=$(cpu_ticks)
sleep 2
t1=$(cpu_ticks)
idle=$((t1 - t0))
log "busy poll: $idle ticks in 2 s idle"
((idle * 5 <= HZ)) || fail "$idle ticks in 2 s with no client: the loops kept polling"

# The port still answers after the idle spell, and the daemon stops cleanly.
[[ $(redis-cli -h 127.0.0.1 -p "$PORT" PING) == PONG ]] || fail "PING after idling"
stop c1
log "resp_busy_poll: ok"
