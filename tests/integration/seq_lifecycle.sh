#!/usr/bin/env bash
# Dropping and re-creating a sequence with real processes. Two coordinators
# hold most of a 1000-ID chunk each when the sequence is dropped: both must
# stop serving it within a heartbeat (SR_ENOTFOUND), long before their chunks
# run out. `seq create` of the same name then prints the raised start, and
# both coordinators serve the new sequence without a restart, above every ID
# issued under the name before (docs/guarantees.md, docs/decisions.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"

start_master --lease-ttl-ms 1500 # coordinators beat every 500 ms
"$CLI" -m "$MASTER_URL" seq create s --chunk 1000 --max-chunk 1000 >/dev/null
for c in c1 c2; do start_coord "$c"; done
C1=$(coord_url c1) C2=$(coord_url c2)

max=0
note() { ((${1:-0} > max)) && max=$1 || true; }
for url in "$C1" "$C2"; do
	for id in $("$CLI" -c "$url" next s -n 3); do note "$id"; done
done
log "before the drop: highest ID $max"

"$CLI" -m "$MASTER_URL" seq drop s
# poll URL WANT: single-ID calls every 50 ms, for at most 5 s, until WANT
# (ok or notfound); IDs served meanwhile must be old ones.
poll() {
	local url=$1 want=$2 i out rc
	for ((i = 0; i < 100; i++)); do
		rc=0
		out=$("$CLI" -c "$url" next s 2>&1) || rc=$?
		if ((rc == 0)); then
			[[ $want == ok ]] && { note "$out"; echo "$out"; return 0; }
		elif [[ $out == *"(ENOTFOUND)"* ]]; then
			[[ $want == notfound ]] && return 0
		else
			fail "next s from $url: $out"
		fi
		sleep 0.05
	done
	fail "$url: no $want within 5 s (last: $out)"
}
for url in "$C1" "$C2"; do poll "$url" notfound; done
log "both coordinators stopped serving s"

out=$("$CLI" -m "$MASTER_URL" seq create s --chunk 1000)
echo "$out"
start=$(sed -n 's/^created sequence s (start \([0-9]*\),.*/\1/p' <<<"$out")
[[ -n $start ]] || fail "no start in: $out"
((start > max)) || fail "re-created s starts at $start, not above $max"
[[ $out == *"start raised from 1"* ]] || fail "seq create does not say the start was raised: $out"
"$CLI" -m "$MASTER_URL" -o json seq list | grep -Eq "\"start\": ?\"$start\"" ||
	fail "seq list does not show start $start"

for url in "$C1" "$C2"; do
	id=$(poll "$url" ok)
	((id >= start)) || fail "$url served $id after the re-create, below start $start"
	log "$url serves s again: $id"
done

for c in c1 c2; do stop "$c"; done
stop master
log "seq_lifecycle: OK"
