#!/usr/bin/env bash
# The scale scenario of snowrange-bench, short (issue 10): one real
# snowrange-master, 200 simulated coordinators each serving 20 sequences
# (heartbeats every TTL/3, leases), `status` and `seq list` in a loop, 10 s
# measured. Checks what must hold on any machine: every coordinator joined
# and holds a worker id, no coordinator ever lost it (no grant refused, no
# lease view ran out: what a real coordinator answers SR_ENOWORKER for), no
# request failed, and the reads saw every node and sequence. Timings are not
# checked (a loaded test machine proves nothing); docs/benchmarks.md holds
# the full runs (1,000 x 100).
#
# Usage: bench_scale.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
BENCH=$BUILD/snowrange-bench
need pgrep procps

OUT=$WORK/scale.json
ERR=$WORK/scale.err
masters() { pgrep -f -- "--data-dir /tmp/sr-bench-" | sort || true; }
before=$(masters)

log "snowrange-bench -s scale: 200 coordinators x 20 sequences, 10 s"
if ! "$BENCH" --scenario scale --coordinators 200 --sequences 20 --duration 10 \
	-o json >"$OUT" 2>"$ERR"; then
	tail -n 30 "$ERR" >&2
	cat "$OUT" >&2
	fail "snowrange-bench -s scale exited non-zero"
fi

value() {
	local v
	v=$({ grep -o "\"$1\":[^,}]*" <<<"$2" || true; } | head -n 1 | cut -d: -f2)
	echo "${v:-missing}"
}

for s in heartbeat lease status seq_list master; do
	line=$(grep -F "\"scenario\":\"scale.$s.c200.s20\"" "$OUT") ||
		fail "no row scale.$s.c200.s20: $(cat "$OUT")"
	grep -q '"ok":true' <<<"$line" || fail "scale.$s failed: $line"
done
m=$(grep -F '"scenario":"scale.master.c200.s20"' "$OUT")
check() { # check KEY OP VALUE
	local v
	v=$(value "$1" "$m")
	[[ $v =~ ^[0-9]+$ ]] || fail "$1 is not a count ($v): $m"
	((v $2 $3)) || fail "$1 = $v, want $2 $3: $m"
}
check joined == 200
check with_worker == 200
check enoworker == 0
check no_grant == 0
check lease_view_lapses == 0
check errors == 0
# Every coordinator beat and leased in the window; both readers got answers
# (each compared the counts it saw with the 200 nodes and 20 sequences).
check heartbeats '>=' 200
check leases '>=' 200
check status_calls '>' 0
check seq_list_calls '>' 0

left=$(comm -13 <(echo "$before") <(masters))
[[ -z $left ]] || fail "a master started by the bench still runs: $left"
log "PASS: $(value heartbeats "$m") heartbeats, $(value leases "$m") leases, 0 ENOWORKER, 0 errors"
