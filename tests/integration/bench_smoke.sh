#!/usr/bin/env bash
# Smoke run of every snowrange-bench scenario with a tiny duration: each
# must run and produce numbers. The bench itself exits non-zero when a
# scenario failed or measured nothing; on top of that this script reads the
# JSON (one object a line, so grep and awk do; no jq) and checks that every
# expected row is there, ok, with a positive rate and latency (or RSS for the
# memory rows), that baselines and ratios are the numbers they claim to be,
# and that no txid rate passes its layout's ceiling. Targets are not
# checked: timings from a test run on a shared machine prove nothing;
# docs/benchmarks.md holds the real runs.
#
# The bench is its own binary; `snowrange bench` in the operator CLI runs
# it, which the usage checks at the end go through.
#
# Usage: bench_smoke.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
BENCH=$BUILD/snowrange-bench
need pgrep procps

OUT=$WORK/bench.json
ERR=$WORK/bench.err

# The children a bench starts: daemons, masters and echo servers.
bench_children() {
	pgrep -f -- "--echo-server tcp://127.0.0.1|--name bench-(daemon|mem)|--data-dir /tmp/sr-bench-" |
		sort || true
}
before=$(bench_children)

# --threads 1,2 keeps the remote rows few and small, and 300 sequences
# instead of 10,000 (one fsync each) keep the memory scenario short on a busy
# machine; every scenario still runs all its kinds of row.
log "snowrange-bench, every scenario, 0.05 s each"
if ! "$BENCH" --duration 0.05 --threads 1,2 --master-sequences 300 -o json \
	>"$OUT" 2>"$ERR"; then
	tail -n 30 "$ERR" >&2
	fail "snowrange-bench exited non-zero"
fi

# value KEY LINE: the value after "KEY": in one JSON line ("missing" if the
# key is absent).
value() {
	local v
	v=$({ grep -o "\"$1\":[^,}]*" <<<"$2" || true; } | head -n 1 | cut -d: -f2)
	echo "${v:-missing}"
}

positive() {
	awk -v v="$1" 'BEGIN { exit !(v != "null" && v != "missing" && v + 0 > 0) }'
}

rows=(
	baseline.atomic_fetch_add.t1 inproc.seq_next_id.t1 inproc.next_id.t1
	baseline.atomic_fetch_add.t2 inproc.seq_next_id.t2 inproc.next_id.t2
	inproc.next_ids.b16.t1 inproc.next_ids.b256.t1 inproc.next_ids.b4096.t1
	txid.next_txid.t1 txid.next_txids.b4096.t1
	baseline.nng_echo.b1.c1 remote.next_ids.b1.c1
	baseline.nng_echo.b1.c2 remote.next_ids.b1.c2
	baseline.nng_echo.b100.c1 remote.next_ids.b100.c1
	baseline.nng_echo.b1000.c2 remote.next_ids.b1000.c2
	switches.t1 switches.t2
	master.lease.c1 master.lease.c2
	tls.master.lease.tcp tls.master.lease.tls
	tls.remote.next_ids.b1.c1.tcp tls.remote.next_ids.b1.c1.tls
	tls.remote.next_ids.b1.c2.tcp tls.remote.next_ids.b1.c2.tls
	http.nng_http_static.c1 http.healthz.c1 http.ids.b1.c1 http.nng_next_ids.b1.c1
	http.nng_http_static.c2 http.healthz.c2 http.ids.b1.c2 http.nng_next_ids.b1.c2
)
for s in "${rows[@]}"; do
	line=$(grep -F "\"scenario\":\"$s\"" "$OUT") || fail "no row $s in the JSON"
	grep -q '"ok":true' <<<"$line" || fail "$s failed: $line"
	for k in ops_per_sec calls_per_sec p50_ns p99_ns p999_ns max_ns; do
		positive "$(value "$k" "$line")" || fail "$s: $k is not a positive number: $line"
	done
done
# Where the issue names a baseline, the row carries it and the ratio, and
# both are what they claim to be (numbers that can be wrong, unlike "> 0"):
# a measured baseline is the rate of the row it names, measured in the same
# run; the ratio is the row's rate over it.
close() { # close A B: equal to 1 part in 10^6
	awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-6 * (a < 0 ? -a : a) + 1e-9) }'
}
for s in inproc.seq_next_id.t1 inproc.next_id.t2 remote.next_ids.b1.c1 remote.next_ids.b1000.c2 \
	tls.master.lease.tls tls.remote.next_ids.b1.c2.tls http.ids.b1.c2 http.healthz.c1; do
	line=$(grep -F "\"scenario\":\"$s\"" "$OUT")
	name=$(grep -o '"baseline_name":"[^"]*"' <<<"$line" | cut -d'"' -f4) ||
		fail "$s: no baseline name: $line"
	base_line=$(grep -F "\"scenario\":\"$name\"" "$OUT") ||
		fail "$s: its baseline $name is no row of the run"
	base=$(value baseline "$line") rate=$(value ids_per_sec "$line")
	close "$base" "$(value ids_per_sec "$base_line")" ||
		fail "$s: baseline $base is not the rate of $name: $base_line"
	close "$(value ratio "$line")" "$(awk -v r="$rate" -v b="$base" 'BEGIN { printf "%.17g", r / b }')" ||
		fail "$s: ratio is not ids_per_sec / baseline: $line"
done
# The txid rows' baseline is no measurement but the layout's ceiling,
# 2^seq_bits txids per tick; the rate must not pass it (more would need a
# (tick, sequence) pair twice), allowing one tick at each end of a window of
# 50 ticks.
for s in txid.next_txid.t1 txid.next_txids.b4096.t1; do
	line=$(grep -F "\"scenario\":\"$s\"" "$OUT")
	name=$(grep -o '"baseline_name":"[^"]*"' <<<"$line" | cut -d'"' -f4)
	[[ $name =~ ^layout\ [0-9]+/[0-9]+/([0-9]+)\ @([0-9]+)ms ]] ||
		fail "$s: baseline is not a layout's ceiling: $line"
	want=$(awk -v b="${BASH_REMATCH[1]}" -v u="${BASH_REMATCH[2]}" 'BEGIN { printf "%.17g", 2 ^ b * 1000 / u }')
	close "$(value baseline "$line")" "$want" || fail "$s: baseline is not 2^seq_bits per tick ($want/s): $line"
	awk -v r="$(value ids_per_sec "$line")" -v w="$want" 'BEGIN { exit !(r > 0 && r <= w * 52 / 50) }' ||
		fail "$s: $(value ids_per_sec "$line") txids/s beats the layout's $want/s: $line"
done
line=$(grep -F '"scenario":"switches.t1"' "$OUT")
[[ $(value waits "$line") =~ ^[0-9]+$ ]] || fail "switches: no waits count: $line"
for s in memory.coordinator.seq100 memory.master.seq300; do
	line=$(grep -F "\"scenario\":\"$s\"" "$OUT") || fail "no row $s in the JSON"
	positive "$(value rss_kb "$line")" || fail "$s: no RSS: $line"
done
n=$(grep -c '"scenario":' "$OUT")
if grep -q '"ok":false' "$OUT"; then
	fail "failed rows: $(grep '"ok":false' "$OUT")"
fi

# The text table, and the usage errors through the CLI's `snowrange bench`.
"$BENCH" --scenario batch --duration 0.05 >"$WORK/bench.txt" 2>>"$ERR" ||
	fail "text run failed"
grep -q '^inproc.next_ids.b4096.t1 ' "$WORK/bench.txt" || fail "text table lacks its rows"
rc=0
"$CLI" bench --scenario nosuch >/dev/null 2>&1 || rc=$?
((rc == 2)) || fail "unknown scenario: exit $rc, want 2"
"$CLI" bench --help | grep -q 'remote-batch' || fail "--help does not list scenarios"
# Nothing the bench started may outlive it (compared with what ran before,
# so that another bench on the machine does not count).
left=$(comm -13 <(echo "$before") <(bench_children))
[[ -z $left ]] || fail "processes started by the bench still run: $left"
log "PASS: $n bench rows, all with numbers"
