#!/usr/bin/env bash
# NextIds as segments (issue 19) through real daemons: `next --segments`
# prints one "FIRST STEP COUNT" line per chunk touched, adding up to the
# count asked for; a million IDs of a big chunk are one segment; list and
# segment draws from two coordinators at once, on one sequence, check clean
# together with `snowrange verify` (S lines are checked without expanding
# them); the bounds are refused with a message.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"

start_master
# Fixed chunks of 1000: a batch of 2500 spans three or four chunks.
"$CLI" -m "$MASTER_URL" seq create s --chunk 1000 --min-chunk 1000 --max-chunk 1000 >/dev/null
"$CLI" -m "$MASTER_URL" seq create big --chunk 4000000 --min-chunk 4000000 \
	--max-chunk 4000000 >/dev/null
for c in c1 c2; do start_coord "$c"; done
C1=$(coord_url c1) C2=$(coord_url c2)

# sum_counts: the counts of "FIRST STEP COUNT" lines, checked to ascend.
sum_counts() {
	awk 'NF != 3 { print "bad line: " $0; exit 1 }
		$1 <= last { print "not ascending: " $0; exit 1 }
		{ n += $3; last = $1 + $2 * ($3 - 1) }
		END { print n + 0 }'
}

out=$("$CLI" -c "$C1" next s -n 2500 --segments)
echo "$out"
[[ $(sum_counts <<<"$out") == 2500 ]] || fail "segments do not add up to 2500: $out"
lines=$(wc -l <<<"$out")
((lines >= 3 && lines <= 4)) || fail "2500 IDs of 1000-ID chunks in $lines segments"
# The list call goes on above the last segment.
last=$(awk 'END { print $1 + $2 * ($3 - 1) }' <<<"$out")
id=$("$CLI" -c "$C1" next s)
((id > last)) || fail "next ID $id not above the last segment's $last"
# JSON: the same fields.
"$CLI" -c "$C1" -o json next s -n 3 --segments | grep -q '"segments"' ||
	fail "no segments in the JSON output"

out=$("$CLI" -c "$C2" next big -n 1000000 --segments)
echo "$out"
[[ $(wc -l <<<"$out") == 1 && $(awk '{ print $2, $3 }' <<<"$out") == "1 1000000" ]] ||
	fail "a million IDs of a 4M chunk are not one segment: $out"

# Draws: segments and lists, both coordinators, at the same time.
"$CLI" -c "$C1" -c "$C2" draw s --segments --batch 1700 --duration 2 \
	--out "$WORK/seg.draw" 2>"$WORK/seg.err" &
segpid=$!
"$CLI" -c "$C1" -c "$C2" draw s --batch 300 --duration 2 --out "$WORK/list.draw" 2>"$WORK/list.err"
wait "$segpid" || fail "draw --segments failed: $(cat "$WORK/seg.err")"
grep -q '^S ' "$WORK/seg.draw" || fail "draw --segments wrote no S lines"
"$CLI" -c "$C2" draw big --segments --batch 1000000 --duration 1 \
	--out "$WORK/big.draw" 2>"$WORK/big.err" || fail "draw big failed: $(cat "$WORK/big.err")"
"$CLI" verify "$WORK/seg.draw" "$WORK/list.draw" "$WORK/big.draw" ||
	fail "verify found violations in the segment and list draws"

# A copy of one segment line with its first ID moved one step down must be
# caught: it overlaps the previous batch of the same chunk.
awk '/^S / && $6 ~ /:/ { n++ } /^S / && n == 2 { split($6, a, ":");
	$6 = (a[1] - a[2]) ":" a[2] ":" a[3]; $2 = "forged"; print; exit }' \
	"$WORK/seg.draw" >"$WORK/forged.draw"
[[ -s $WORK/forged.draw ]] || fail "no second segment line to forge"
rc=0
"$CLI" verify "$WORK/seg.draw" "$WORK/forged.draw" >"$WORK/verify.out" 2>&1 || rc=$?
((rc == 1)) || fail "a segment one step low was not caught (exit $rc): $(cat "$WORK/verify.out")"
grep -q 'dup=[1-9]' "$WORK/verify.out" || fail "no duplicate counted: $(cat "$WORK/verify.out")"

# Bounds: a clear refusal, never a crash.
expect_usage() {
	local rc=0
	"$CLI" -c "$C1" "$@" >"$WORK/out" 2>&1 || rc=$?
	((rc == 2)) || fail "$* exited $rc, want 2: $(cat "$WORK/out")"
}
expect_usage next s -n 0 --segments
expect_usage next s -n 1048577 --segments
expect_usage next s -n 65537
grep -q -- "--segments" "$WORK/out" || fail "no hint at --segments: $(cat "$WORK/out")"

for c in c1 c2; do stop "$c"; done
stop master
log "segments: ok"
