#!/usr/bin/env bash
# Issue 9, the rogue master: the master dies (kill -9) and an impostor
# without the cluster's credentials starts on its URL. With mutual TLS the
# coordinators verify the master's certificate, so they never talk to the
# impostor: it gets no join and no lease, and no ID or txid is handed out
# twice (without TLS this gave 311,760 duplicate IDs in 10 s). Once the real
# master is back the coordinators carry on.
set -euo pipefail
source "$(dirname "$0")/tls_lib.sh" "$1"

start_master $(master_creds) --lease-ttl-ms 3000
start_coord coord-1 $(coord_creds coord-1)
start_coord coord-2 $(coord_creds coord-2)
"$CLI" -m "$MASTER_URL" seq create s --chunk 100 --max-chunk 100 >/dev/null

C1=$(coord_url coord-1) C2=$(coord_url coord-2)
# Worker ids before the master dies (a master on a new store grants its
# first one TTL/3 + grace after it started, docs/snowflake.md, "Claims").
wait_worker coord-1
wait_worker coord-2
"$CLI" draw s -c "$C1" -c "$C2" --duration 8 --batch 10 --out "$WORK/ids.draw" \
	2>>"$WORK/draw.log" &
PIDS[draw]=$!
"$CLI" draw --txids -c "$C1" -c "$C2" --duration 8 --batch 10 --out "$WORK/tx.draw" \
	2>>"$WORK/draw.log" &
PIDS[drawtx]=$!
sleep 2
kill9 master

# The impostor: its own CA and certificate (scripts/mkcerts, another dir),
# the same URL, an empty store (it would hand out every range again).
"$ROOT/scripts/mkcerts" "$WORK/evil" 1 >/dev/null
"$MASTER_BIN" --data-dir "$WORK/evil-data" --listen "$MASTER_URL" \
	--tls-cert "$WORK/evil/master.pem" --tls-key "$WORK/evil/master.key" \
	--lease-ttl-ms 3000 >>"$WORK/evil.log" 2>&1 &
PIDS[evil]=$!
for ((i = 0; i < 50; i++)); do
	grep -q serving "$WORK/evil.log" 2>/dev/null && break
	sleep 0.1
done
grep -q serving "$WORK/evil.log" || fail "the impostor did not start"
# It even has the sequence the coordinators ask for.
SNOWRANGE_TLS_CA=$WORK/evil/ca.pem SNOWRANGE_TOKEN_FILE= "$CLI" -m "$MASTER_URL" \
	seq create s --chunk 100 --max-chunk 100 >/dev/null || fail "cannot set up the impostor"

wait "${PIDS[draw]}" || fail "draw failed"
wait "${PIDS[drawtx]}" || fail "txid draw failed"
unset "PIDS[draw]" "PIDS[drawtx]"
if grep -qE "joined|heartbeat|lease" "$WORK/evil.log"; then
	fail "a coordinator talked to the impostor: $(grep -E 'joined|heartbeat|lease' "$WORK/evil.log" | head -3)"
fi
st=$(SNOWRANGE_TLS_CA=$WORK/evil/ca.pem SNOWRANGE_TOKEN_FILE= "$CLI" -o json \
	-m "$MASTER_URL" status) || fail "no status from the impostor"
[[ $st != *coord-* ]] || fail "the impostor knows a coordinator: $st"
out=$("$CLI" verify "$WORK/ids.draw") || fail "IDs: $out"
[[ $out == *" dup=0 "* ]] || fail "duplicate IDs: $out"
out=$("$CLI" verify "$WORK/tx.draw") || fail "txids: $out"
[[ $out == *" dup=0 "* ]] || fail "duplicate txids: $out"
log "impostor refused: $out"

# The real master comes back; the coordinators lease from it again.
stop evil
start_master $(master_creds) --lease-ttl-ms 3000
"$CLI" draw s -c "$C1" -c "$C2" --duration 2 --batch 10 --out "$WORK/after.draw" \
	2>>"$WORK/draw.log"
out=$("$CLI" verify "$WORK/ids.draw" "$WORK/after.draw") || fail "after: $out"
[[ $out == *" dup=0 "* ]] || fail "duplicates after the master came back: $out"
n=$(awk '$1=="B"' "$WORK/after.draw" | wc -l)
((n > 0)) || fail "no ID from the coordinators after the master came back"
stop coord-1
stop coord-2
stop master
log "rogue_master: OK"
