#!/usr/bin/env bash
# Attacks on the coordinator's RESP port over TLS (docs/security.md, "The
# RESP port"): 1,000 clients that start a handshake and stall, 300 that
# send half a ClientHello, 700 that send garbage instead of one, and a
# client that pipelines without ever reading its replies. Handshakes never
# block the event loop (one loop thread here, the default): the port
# answers others during each attack, stalled handshakes are cut at their
# deadline, memory stays bounded and no descriptor is left behind.
set -euo pipefail
source "$(dirname "$0")/tls_lib.sh" "$1"
# In a sanitizer build freed memory waits in ASan's quarantine (256 MB by
# default), which would read as growth here; a small one keeps the memory
# bounds meaningful. Other builds ignore it.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16
need redis-cli redis-tools
ATTACK=$BUILD/tests/resptlsattack

start_master $(master_creds)
"$CLI" -m "$MASTER_URL" seq create bench >/dev/null
client_tok=$(awk '$1 == "client" {print $2}' "$CREDS/admin.tokens")
[[ -n $client_tok ]] || fail "mkcerts gave no client token"
# The idle timeout, and with it the handshake deadline (the shorter of the
# two, at most 10 s), is short so that the stalled handshakes are seen cut
# within the test.
start_coord coord-1 $(coord_creds coord-1) --resp-listen tls+tcp://127.0.0.1:0 \
	--resp-idle-timeout-ms 3000
pid=${PIDS[coord-1]}
P=$(sed -n 's/.*serving RESP on port \([0-9]*\) .*/\1/p' "$WORK/coord-1.log" | tail -n 1)
[[ -n $P ]] || fail "no RESP port in coord-1's log"
rc() {
	timeout 20 redis-cli -h 127.0.0.1 -p "$P" --tls --cacert "$CREDS/ca.pem" \
		--cert "$CREDS/client.pem" --key "$CREDS/client.key" -a "$client_tok" \
		--no-auth-warning "$@" 2>&1 || true
}
alive() {
	local id
	id=$(rc INCR bench)
	[[ $id =~ ^[0-9]+$ ]] || fail "the RESP port stopped serving IDs ($1): $id"
}
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$pid/status"; }
nfds() { find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l; }
# attack_while NAME ARGS...: runs the attacker in the background, asks for
# an ID every second while it runs (each must come), and prints the
# daemon's largest RSS growth in MB; the attacker's output goes to
# $WORK/NAME.out.
attack_while() {
	local name=$1 r0 peak r a
	shift
	"$ATTACK" "$P" "$@" >"$WORK/$name.out" &
	a=$!
	r0=$(rss_kb)
	peak=$r0
	while kill -0 "$a" 2>/dev/null; do
		r=$(rss_kb)
		((r > peak)) && peak=$r
		sleep 1
		kill -0 "$a" 2>/dev/null && alive "during $name"
	done
	wait "$a" || fail "resptlsattack $* failed: $(cat "$WORK/$name.out")"
	echo $(((peak - r0) / 1024))
}
alive "before the attacks"
fds0=$(nfds)
rss0=$(rss_kb)

# ---- 1,000 handshakes started and left ----
# The attacker waits until the server has cut them all (at most 60 s: the
# deadline is 3 s, but a loaded machine may take a while to even read 1,000
# ClientHellos, each an ECDHE and a signature).
grew=$(attack_while stall stall 1000 60)
read -r _ held open secs <"$WORK/stall.out"
log "1,000 stalled handshakes: $held held at once, the daemon grew by $grew MB; all but $open cut after $secs s (deadline 3 s)"
# Held (not refused at once), so that the loop really had them to carry.
((held >= 500)) || fail "only $held of 1,000 stalled handshakes were held"
((open == 0)) || fail "$open stalled handshakes were kept for 60 s, past the handshake deadline"
((grew < 96)) || fail "1,000 stalled handshakes grew the daemon by $grew MB"

# ---- half a ClientHello ----
grew=$(attack_while partial partial 300 60)
read -r _ held open secs <"$WORK/partial.out"
log "300 half ClientHellos: $held held, grew $grew MB, all but $open cut after $secs s"
((held >= 150)) || fail "only $held of 300 half ClientHellos were held"
((open == 0)) || fail "$open half ClientHellos were kept for 60 s, past the handshake deadline"

# ---- garbage instead of a ClientHello ----
grew=$(attack_while garbage garbage 700 60)
read -r _ closed open answered <"$WORK/garbage.out"
log "700 connections sending garbage: $closed closed, $open open, $answered answered in RESP"
((closed == 700 && open == 0)) || fail "garbage: $closed of 700 closed, $open open"
((answered == 0)) || fail "$answered garbage connections got a RESP reply from the TLS port"
grep -q "TLS handshake with 127.0.0.1 .* failed" "$WORK/coord-1.log" ||
	fail "the refused handshakes were not logged"
(($(grep -c "TLS handshake with" "$WORK/coord-1.log") < 20)) ||
	fail "failed handshakes flood the log (at most one line per 10 s is wanted)"

# ---- a client that never reads ----
export RESPATTACK_CA=$CREDS/ca.pem RESPATTACK_CERT=$CREDS/client.pem \
	RESPATTACK_KEY=$CREDS/client.key RESPATTACK_TOKEN=$client_tok
grew=$(attack_while noread noread 5)
log "a TLS client pipelining SR.NEXT bench 65536 without reading for 5 s: sent $(cut -d' ' -f2 "$WORK/noread.out") bytes, the daemon grew by $grew MB"
((grew < 80)) || fail "a TLS client that does not read grew the daemon by $grew MB"
alive "after a client that never reads"

# ---- nothing left behind ----
# Every attacker has exited; the daemon closes what it still held within
# the idle timeout (the never-reading client's socket, drained).
ok=0
for ((i = 0; i < 100; i++)); do
	if [[ $(rc INFO) == *connected_clients:1* ]]; then
		ok=1
		break
	fi
	sleep 0.2
done
((ok)) || fail "connections left open: $(rc INFO | grep connected_clients)"
sleep 0.5
fds1=$(nfds)
log "descriptors before the attacks $fds0, after $fds1; RSS $((rss0 / 1024)) MB -> $(($(rss_kb) / 1024)) MB"
((fds1 <= fds0 + 2)) || fail "descriptors leaked: $fds0 before, $fds1 after"
alive "at the end"
stop coord-1
stop master
log "resp_tls_attacks: OK"
