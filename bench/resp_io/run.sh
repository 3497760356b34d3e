#!/usr/bin/env bash
# Compares RESP I/O engines (docs/benchmarks.md, "io_uring instead of
# epoll"): Redis, the coordinator's RESP port, and bench/resp_io/proto.c on
# epoll, io_uring (linked send + recv), io_uring multishot and SQPOLL. For
# each round and each cell (clients:pipeline) every server runs the same
# redis-benchmark command line as scripts/bench-compare, one after the
# other, under `perf stat -e task-clock,context-switches,raw_syscalls:sys_enter
# -p SERVER`, and a line gives requests/s, p99, and the server's CPU time,
# system calls and context switches per request. A summary of medians
# follows (the ratio columns are medians of same-round ratios).
#
#   bench/resp_io/run.sh BUILD_DIR [ROUNDS] [CELLS...]     e.g. build-rel 8 1:1 50:1
#
# Needs redis-server, redis-benchmark, perf, gcc and liburing-dev
# (scripts/deps bench). DURATION (seconds per run, default 2) and ENGINES
# (default "epoll uring multishot sqpoll") in the environment.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(realpath "${1:?usage: bench/resp_io/run.sh BUILD_DIR [ROUNDS] [CELLS...]}")
rounds=${2:-5}
shift $(($# < 2 ? $# : 2))
cells=("$@")
((${#cells[@]})) || cells=(1:1 50:1)
duration=${DURATION:-2}
engines=${ENGINES:-epoll uring multishot sqpoll}
for t in redis-server redis-cli redis-benchmark perf gcc; do
	command -v "$t" >/dev/null || {
		echo "run.sh: $t not found (scripts/deps bench)" >&2
		exit 2
	}
done

WORK=$(mktemp -d /tmp/resp-io.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
	local p
	for ((p = 20000 + RANDOM % 20000; ; p++)); do
		ss -ltn "sport = :$p" | grep -q LISTEN || {
			echo "$p"
			return
		}
	done
}
wait_pong() {
	local i
	for ((i = 0; i < 100; i++)); do
		# Not redis-benchmark: it retries a refused connection forever.
		[[ $(redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null) == PONG ]] && return
		sleep 0.1
	done
	echo "run.sh: nothing answers on port $1" >&2
	exit 1
}

gcc -O2 -Wall -Wextra -Icoordinator -o "$WORK/proto" bench/resp_io/proto.c coordinator/resp.c \
	-luring
servers=()
port=$(free_port)
redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$WORK" \
	--daemonize no --logfile "$WORK/redis.log" &
PIDS+=($!)
servers+=("redis:$port:$!")
wait_pong "$port"

"$build/snowrange-master" --data-dir "$WORK/srdata" --listen "ipc://$WORK/m.ipc" \
	>"$WORK/master.log" 2>&1 &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do
	"$build/snowrange" -m "ipc://$WORK/m.ipc" --timeout 500 status >/dev/null 2>&1 && break
	sleep 0.1
done
"$build/snowrange" -m "ipc://$WORK/m.ipc" seq create bench --chunk 1000000 \
	--min-chunk 1000000 --max-chunk 100000000 >/dev/null
port=$(free_port)
"$build/snowrange-coordinator" join "ipc://$WORK/m.ipc" --name bench \
	--listen "ipc://$WORK/c.ipc" --resp-listen "127.0.0.1:$port" >"$WORK/coord.log" 2>&1 &
PIDS+=($!)
servers+=("snowrange:$port:$!")
wait_pong "$port"

for e in $engines; do
	port=$(free_port)
	"$WORK/proto" "$port" "$e" &
	PIDS+=($!)
	servers+=("proto-$e:$port:$!")
	wait_pong "$port"
done

echo "# $(date -u), $(uptime)"
for ((r = 1; r <= rounds; r++)); do
	for cell in "${cells[@]}"; do
		c=${cell%:*}
		p=${cell#*:}
		for s in "${servers[@]}"; do
			IFS=: read -r name port pid <<<"$s"
			# A calibration run sizes -n to last about $duration s.
			rps=$(redis-benchmark -h 127.0.0.1 -p "$port" -c "$c" -P "$p" -n $((3000 * p)) \
				--csv INCR bench 2>/dev/null | awk -F'","' '!/^"test"/ { print $2; exit }')
			n=$(awk -v r="${rps:-0}" -v d="$duration" \
				'BEGIN { n = int(r * d); print n < 10000 ? 10000 : n }')
			out=$(perf stat -x, -e task-clock,context-switches,raw_syscalls:sys_enter \
				-p "$pid" -o "$WORK/perf" -- redis-benchmark -h 127.0.0.1 -p "$port" \
				-c "$c" -P "$p" -n "$n" --csv INCR bench 2>/dev/null |
				awk -F'","' '!/^"test"/ { print $2, $7; exit }')
			awk -F, -v r="$r" -v name="$name" -v c="$c" -v p="$p" -v n="$n" -v out="$out" \
				-v load="$(cut -d' ' -f1 /proc/loadavg)" '
				/task-clock/ { tc = $1 } /context-switches/ { cs = $1 } /sys_enter/ { sc = $1 }
				END {
					split(out, o, " ")
					printf "round %d %-15s c=%-2d P=%-2d rps %9.0f p99 %7s us/req %6.2f " \
					    "sys/req %5.2f cs/req %5.2f load %s\n", r, name, c, p, o[1], o[2],
					    tc * 1000 / n, sc / n, cs / n, load
				}' "$WORK/perf"
		done
	done
done | tee "$WORK/runs"
echo "# $(date -u), $(uptime)"

# Medians per server and cell; ratios are taken round by round.
awk '
function median(s,   a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	key = $3 " " $4 " " $5
	cell = $4 " " $5
	rps[$2, $3, cell] = $7
	R[key] = R[key] " " $7; U[key] = U[key] " " $11
	S[key] = S[key] " " $13; C[key] = C[key] " " $15
	if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
	rounds[$2] = 1
}
END {
	printf "%-15s %-5s %-5s %9s %9s %9s %7s %7s %7s\n", "server", "c", "P", "req/s",
	    "vs epoll", "vs redis", "us/req", "sys/req", "cs/req"
	for (k = 1; k <= nk; k++) {
		split(order[k], f, " ")
		cell = f[2] " " f[3]
		re = rr = ""
		for (r in rounds) {
			if (rps[r, "proto-epoll", cell] > 0)
				re = re " " rps[r, f[1], cell] / rps[r, "proto-epoll", cell]
			if (rps[r, "redis", cell] > 0)
				rr = rr " " rps[r, f[1], cell] / rps[r, "redis", cell]
		}
		printf "%-15s %-5s %-5s %9.0f %9.2f %9.2f %7.2f %7.2f %7.2f\n", f[1], f[2], f[3],
		    median(R[order[k]]), re == "" ? 0 : median(re), rr == "" ? 0 : median(rr),
		    median(U[order[k]]), median(S[order[k]]), median(C[order[k]])
	}
}' "$WORK/runs"
