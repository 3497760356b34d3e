#!/usr/bin/env bash
# The coordinator's RESP port (issue 15, docs/protocol.md "RESP"), driven by
# redis-cli and by a pipelined client: two coordinators serve INCR, SR.NEXT,
# SR.TXID and SR.DECODE; every ID is unique across both, each connection's
# IDs ascend (per-coordinator order), txids decode to the coordinator's
# worker id; malformed requests get a clear error and the port keeps serving.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
need redis-cli redis-tools

start_master
"$CLI" -m "$MASTER_URL" seq create orders --chunk 50 >/dev/null
"$CLI" -m "$MASTER_URL" seq create bench >/dev/null
# resp_port NAME: the port the coordinator's log says it bound (port 0 lets
# the kernel choose one nobody uses).
resp_port() {
	sed -n 's/.*serving RESP on port \([0-9]*\) .*/\1/p' "$WORK/$1.log" | tail -n 1
}
start_coord c1 --resp-listen 127.0.0.1:0
wait_worker c1 # worker id 0, before c2 joins (a new master grants a moment after its start)
P1=$(resp_port c1)
start_coord c2 --resp-listen tcp://127.0.0.1:0 --resp-threads 2
P2=$(resp_port c2)
[[ -n $P1 && -n $P2 ]] || fail "no RESP port in the logs"

rc() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }

# ---- redis-cli: every command once ----
[[ $(rc "$P1" PING) == PONG ]] || fail "PING"
[[ $(rc "$P1" PING hello) == hello ]] || fail "PING with a message"
[[ $(rc "$P1" ECHO hi) == hi ]] || fail "ECHO"
a=$(rc "$P1" INCR orders)
b=$(rc "$P1" SR.NEXT orders)
((a >= 1 && b > a)) || fail "INCR then SR.NEXT: $a, $b"
mapfile -t five < <(rc "$P1" SR.NEXT orders 5)
((${#five[@]} == 5 && five[0] > b)) || fail "SR.NEXT orders 5: ${five[*]}"
for ((i = 1; i < 5; i++)); do ((five[i] > five[i - 1])) || fail "batch not ascending"; done
# Segments: (first, step, count) per chunk touched (orders starts with
# chunks of 50, so 120 IDs span at least two chunks), ascending and above
# the list's. redis-cli prints the nested arrays flat, three lines each.
mapfile -t seg < <(rc "$P1" SR.NEXT orders 120 SEGMENTS)
((${#seg[@]} % 3 == 0 && ${#seg[@]} >= 6)) || fail "SR.NEXT orders 120 SEGMENTS: ${seg[*]}"
total=0 prev=${five[4]}
for ((i = 0; i < ${#seg[@]}; i += 3)); do
	((seg[i] > prev && seg[i + 1] >= 1 && seg[i + 2] >= 1)) || fail "segment ${seg[*]:i:3} after $prev"
	prev=$((seg[i] + seg[i + 1] * (seg[i + 2] - 1)))
	total=$((total + seg[i + 2]))
done
((total == 120)) || fail "segments hold $total IDs, want 120"
((${five[4]} < seg[0])) || fail "segments not above the list"
((i=$(rc "$P1" INCR orders), i > prev)) || fail "INCR after segments not above them"
rc "$P1" SR.NEXT orders 5 SEGMENTZ | grep -q "syntax error" || fail "SR.NEXT with a bad option"
rc "$P1" SR.NEXT orders 1048577 SEGMENTS | grep -q "not an integer in 1..1048576" ||
	fail "segments count too big"
tx=$(rc "$P1" SR.TXID)
((tx > 0)) || fail "SR.TXID: $tx"
mapfile -t txs < <(rc "$P1" SR.TXID 3)
((${#txs[@]} == 3 && txs[0] > tx)) || fail "SR.TXID 3: ${txs[*]}"
mapfile -t dec < <(rc "$P1" SR.DECODE "$tx")
[[ ${dec[0]} == unix_ms && ${dec[6]} == worker && ${dec[7]} =~ ^[0-9]+$ ]] ||
	fail "SR.DECODE: ${dec[*]}"
# c1 joined first, so it holds worker id 0; c2's txids carry another.
((dec[7] == 0)) || fail "c1's txid decodes to worker ${dec[7]}"
mapfile -t dec2 < <(rc "$P2" SR.DECODE "$(rc "$P2" SR.TXID)")
((dec2[7] != dec[7])) || fail "c1 and c2 mint txids under one worker id"
rc "$P1" INFO | grep -q '^node_name:c1' || fail "INFO names the node"
rc "$P1" HELLO 2 | grep -q snowrange || fail "HELLO 2"
rc "$P1" HELLO 3 | grep -q NOPROTO || fail "HELLO 3 is refused with NOPROTO"
rc "$P1" SELECT 0 | grep -q OK || fail "SELECT 0"
# Errors name what was wrong.
rc "$P1" INCR nosuch | grep -q "ENOTFOUND no sequence 'nosuch'" || fail "unknown sequence"
rc "$P1" INCR 'Bad:Name' | grep -q "invalid sequence name" || fail "bad name"
rc "$P1" SR.NEXT orders 0 | grep -q "not an integer in 1..65536" || fail "count 0"
rc "$P1" SR.NEXT orders -5 | grep -q "not an integer in 1..65536" || fail "negative count"
rc "$P1" SR.NEXT orders 65537 | grep -q "not an integer in 1..65536" || fail "count too big"
rc "$P1" SR.NEXT orders abc | grep -q "not an integer" || fail "count not a number"
rc "$P1" INCR | grep -q "wrong number of arguments" || fail "INCR without a key"
rc "$P1" FLUSHALL | grep -q "unknown command 'FLUSHALL'" || fail "unknown command"
rc "$P1" AUTH sometoken | grep -q "without any token file" || fail "AUTH without tokens"
rc "$P1" SR.DECODE 0 | grep -q "not an integer in 1..2^63-1" || fail "decode 0"

# ---- pipelined clients on both coordinators, at the same time ----
# pipe PORT N: N requests in one write (INCR orders, and every 10th an
# SR.NEXT orders 3), then every reply, one ID a line.
pipe() {
	local port=$1 n=$2 i req="" line k
	for ((i = 0; i < n; i++)); do
		if ((i % 10 == 9)); then
			req+=$'*3\r\n$7\r\nSR.NEXT\r\n$6\r\norders\r\n$1\r\n3\r\n'
		else
			req+=$'*2\r\n$4\r\nINCR\r\n$6\r\norders\r\n'
		fi
	done
	exec {fd}<>"/dev/tcp/127.0.0.1/$port"
	printf '%s' "$req" >&"$fd"
	for ((i = 0; i < n; i++)); do
		IFS= read -r -t 30 -u "$fd" line || { echo "no reply $i"; return 1; }
		line=${line%$'\r'}
		case $line in
		:*) echo "${line#:}" ;;
		'*3')
			for ((k = 0; k < 3; k++)); do
				IFS= read -r -t 30 -u "$fd" line || return 1
				line=${line%$'\r'}
				echo "${line#:}"
			done
			;;
		*) echo "unexpected reply $line"; return 1 ;;
		esac
	done
	exec {fd}>&-
}
pipes=()
for c in 1 2; do
	port=$P1
	((c == 1)) || port=$P2
	for j in 1 2; do
		pipe "$port" 2000 >"$WORK/ids.c$c.$j" &
		pipes+=($!)
	done
done
for p in "${pipes[@]}"; do wait "$p" || fail "a pipelined client failed"; done
total=0
for f in "$WORK"/ids.c*; do
	grep -qv '^[0-9]*$' "$f" && fail "$f: $(grep -v '^[0-9]*$' "$f" | head -1)"
	n=$(wc -l <"$f")
	((n == 2400)) || fail "$f: $n IDs, want 2400 (2000 requests, 200 of them 3 IDs)"
	sort -n -c "$f" 2>/dev/null || fail "$f: IDs of one connection do not ascend"
	[[ -z $(uniq -d "$f") ]] || fail "$f: an ID twice"
	total=$((total + n))
done
dups=$(cat "$WORK"/ids.c* | sort -n | uniq -d | wc -l)
((dups == 0)) || fail "$dups IDs issued twice across connections and coordinators"
log "pipelined: $total IDs from 4 connections on 2 coordinators, all unique, each ascending"

# The same with redis-benchmark's pipelining, then the port still answers.
if command -v redis-benchmark >/dev/null; then
	redis-benchmark -h 127.0.0.1 -p "$P2" -c 8 -P 16 -n 20000 -q INCR bench >/dev/null 2>&1 ||
		fail "redis-benchmark -P 16 INCR"
fi

# ---- malformed requests: an error, then the connection closes ----
# raw PORT BYTES: sends the bytes, prints what came back before the close.
raw() {
	exec {fd}<>"/dev/tcp/127.0.0.1/$1"
	printf '%b' "$2" >&"$fd"
	timeout 5 cat <&"$fd" || true
	exec {fd}>&-
}
raw "$P1" '*2\r\n$4\r\nINCR\r\n$99999999999\r\n' | grep -q "bulk string of 99999999999 bytes" ||
	fail "huge bulk length"
raw "$P1" '*2\r\n$4\r\nINCR\r\n$-3\r\n' | grep -q "invalid bulk length" || fail "negative bulk length"
raw "$P1" '*2\r\n*1\r\n$4\r\nPING\r\n' | grep -q "expected '\$', got '\*'" || fail "nested array"
raw "$P1" '*100\r\n' | grep -q "100 arguments, at most 8" || fail "too many arguments"
raw "$P1" '*1\r\n$4\r\nPINGxx' | grep -q "not followed by CRLF" || fail "bad terminator"
# Half a frame, then close: nothing comes back, nothing breaks.
out=$( (exec 3<>"/dev/tcp/127.0.0.1/$P1"; printf '*2\r\n$4\r\nINCR\r\n$6\r\nord' >&3) 2>&1)
[[ -z $out ]] || fail "half a frame: $out"
# Unknown commands do not close the connection: the next request is served.
r=$(raw "$P1" 'NOSUCH\r\nPING\r\nQUIT\r\n')
grep -q "unknown command 'NOSUCH'" <<<"$r" && grep -q PONG <<<"$r" ||
	fail "unknown command then PING: $r"
[[ $(rc "$P1" PING) == PONG ]] || fail "the port stopped answering after malformed input"
[[ $(rc "$P2" PING) == PONG ]] || fail "c2 stopped answering"

# Refused at start: a RESP port beyond loopback without a token file.
if "$COORD_BIN" join "$MASTER_URL" --name c3 --listen "$(coord_url c3)" \
	--resp-listen 0.0.0.0:0 >"$WORK/c3.log" 2>&1; then
	fail "a RESP port on 0.0.0.0 without tokens was accepted"
fi
grep -q "refusing to serve RESP on 0.0.0.0" "$WORK/c3.log" || fail "c3: $(cat "$WORK/c3.log")"

stop c1
stop c2
stop master
log "resp_port: OK"
