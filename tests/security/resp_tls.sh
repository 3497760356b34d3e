#!/usr/bin/env bash
# TLS on the coordinator's RESP port (docs/security.md, "The RESP port"):
# `redis-cli --tls` with the cluster's credentials gets IDs, and still needs
# AUTH when the daemon has a token file; a client without a certificate,
# with one from another CA, or trusting another CA, and a client speaking
# plain RESP to the TLS port get nothing; careless listen addresses and bad
# TLS files are refused at start, saying why; a port with TLS but no CA
# serves any client that trusts it (server-authenticated TLS).
set -euo pipefail
source "$(dirname "$0")/tls_lib.sh" "$1"
need redis-cli redis-tools
need redis-benchmark redis-tools
# The help is taken whole first: a grep -q that stops early would make the
# pipeline fail (SIGPIPE, pipefail).
[[ $(redis-cli --help 2>&1 || true) == *--tls* ]] ||
	fail "this redis-cli has no --tls (Debian's redis-tools 7.0 has it)"

start_master $(master_creds)
"$CLI" -m "$MASTER_URL" seq create orders >/dev/null
"$CLI" -m "$MASTER_URL" seq create bench --chunk 100000 >/dev/null
"$ROOT/scripts/mkcerts" "$WORK/evil" 1 >/dev/null
client_tok=$(awk '$1 == "client" {print $2}' "$CREDS/admin.tokens")
reader_tok=$(awk '$1 == "reader" {print $2}' "$CREDS/admin.tokens")
[[ -n $client_tok && -n $reader_tok ]] || fail "mkcerts gave no client or reader token"

# ---- refused at start, with the reason ----
# refused WHAT PATTERN ARGS...: a coordinator started with ARGS exits
# non-zero before it joins, and says PATTERN.
refused() {
	local what=$1 pat=$2
	shift 2
	if timeout 30 "$COORD_BIN" join "$MASTER_URL" --name coord-3 "$@" >"$WORK/refused.log" 2>&1; then
		fail "$what: started"
	fi
	grep -q -- "$pat" "$WORK/refused.log" || fail "$what: $(cat "$WORK/refused.log")"
}
refused "tls+tcp:// without certificate" "needs --tls-cert and --tls-key" \
	--listen "ipc://$WORK/x.ipc" --resp-listen tls+tcp://127.0.0.1:0
refused "a key that is not the certificate's" "cannot use tls-cert" \
	--listen "ipc://$WORK/x.ipc" --tls-cert "$CREDS/coord-3.pem" \
	--tls-key "$WORK/evil/coord-1.key" --tls-ca "$CREDS/ca.pem" \
	--token-file "$CREDS/coord-3.tokens" --resp-listen tls+tcp://127.0.0.1:0
refused "plain RESP beyond loopback with TLS configured" "use --resp-listen tls+tcp://0.0.0.0:0" \
	--listen "ipc://$WORK/x.ipc" $(coord_creds coord-3) --resp-listen tcp://0.0.0.0:0
refused "TLS beyond loopback with neither tokens nor a CA" "neither a token file" \
	--listen "ipc://$WORK/x.ipc" --tls-cert "$CREDS/coord-3.pem" \
	--tls-key "$CREDS/coord-3.key" --resp-listen tls+tcp://0.0.0.0:0
refused "another scheme" "want tcp://HOST:PORT, tls+tcp://HOST:PORT or HOST:PORT" \
	--listen "ipc://$WORK/x.ipc" --resp-listen rediss://127.0.0.1:0
log "refused at start: no certificate, a wrong key, plain RESP beyond loopback next to TLS, TLS with no way to know clients, another scheme"

# ---- mutual TLS (the daemon has a CA) and tokens ----
start_coord coord-1 $(coord_creds coord-1) --resp-listen tls+tcp://127.0.0.1:0
P=$(sed -n 's/.*serving RESP on port \([0-9]*\) .*/\1/p' "$WORK/coord-1.log" | tail -n 1)
[[ -n $P ]] || fail "no RESP port in coord-1's log"
# tls CERT_NAME ARGS...: redis-cli over TLS with that certificate of the
# cluster (none: no client certificate), trusting the cluster CA.
tls() {
	local who=$1
	shift
	local c=()
	[[ $who == none ]] || c=(--cert "$CREDS/$who.pem" --key "$CREDS/$who.key")
	timeout 20 redis-cli -h 127.0.0.1 -p "$P" --tls --cacert "$CREDS/ca.pem" "${c[@]}" \
		--no-auth-warning "$@" 2>&1 || true
}
[[ $(tls client PING) == NOAUTH* ]] || fail "PING over TLS without AUTH: $(tls client PING)"
[[ $(tls client -a "$client_tok" PING) == PONG ]] || fail "PING with AUTH: $(tls client -a "$client_tok" PING)"
a=$(tls client -a "$client_tok" INCR orders)
b=$(tls client -a "$client_tok" SR.NEXT orders)
[[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]] && ((b > a)) || fail "INCR then SR.NEXT over TLS: $a, $b"
[[ $(tls client -a "$reader_tok" INCR orders) == *NOPERM* ]] || fail "a reader token took an ID over TLS"
[[ $(tls client -a "not-the-token-at-all-123" INCR orders) == *WRONGPASS* ]] || fail "a wrong token over TLS"
[[ $(tls client HELLO 2 AUTH default "$client_tok") == *snowrange* ]] || fail "HELLO 2 AUTH over TLS"
# A reply of 1.4 MB crosses many records and waits for the socket.
n=$(tls client -a "$client_tok" SR.NEXT orders 65536 | sort -un | wc -l)
((n == 65536)) || fail "SR.NEXT orders 65536 over TLS: $n distinct IDs"
# Pipelined: redis-benchmark sends 16 requests per write (several in one
# record, and records the server reads more of than one at a time).
out=$(timeout 60 redis-benchmark -h 127.0.0.1 -p "$P" --tls --cacert "$CREDS/ca.pem" \
	--cert "$CREDS/client.pem" --key "$CREDS/client.key" -a "$client_tok" \
	-c 4 -n 20000 -P 16 --csv INCR bench 2>&1) || fail "redis-benchmark --tls: $out"
grep -q '"INCR bench","[0-9]' <<<"$out" || fail "redis-benchmark --tls -P 16: $out"
# A thousand IDs one after another over one connection ascend.
prev=0
while read -r id; do
	[[ $id =~ ^[0-9]+$ ]] && ((id > prev)) || fail "sequential INCR over TLS: $id after $prev"
	prev=$id
done < <(for ((i = 0; i < 1000; i++)); do echo "INCR orders"; done |
	tls client -a "$client_tok")
log "mutual TLS: AUTH still required, roles enforced, a 1.4 MB reply, pipelining, 1,000 ascending IDs"

# ---- clients that must get nothing ----
ids_in() { grep -qE '^[0-9]+$|PONG' <<<"$1"; }
out=$(tls none -a "$client_tok" INCR orders)
ids_in "$out" && fail "IDs without a client certificate: $out"
log "no client certificate: $(head -c 200 <<<"$out")"
out=$(timeout 20 redis-cli -h 127.0.0.1 -p "$P" --tls --cacert "$CREDS/ca.pem" \
	--cert "$WORK/evil/client.pem" --key "$WORK/evil/client.key" --no-auth-warning \
	-a "$client_tok" INCR orders 2>&1 || true)
ids_in "$out" && fail "IDs with another CA's certificate: $out"
log "another CA's certificate: $(head -c 200 <<<"$out")"
out=$(timeout 20 redis-cli -h 127.0.0.1 -p "$P" --tls --cacert "$WORK/evil/ca.pem" \
	--cert "$CREDS/client.pem" --key "$CREDS/client.key" --no-auth-warning \
	-a "$client_tok" INCR orders 2>&1 || true)
ids_in "$out" && fail "IDs for a client that trusts another CA: $out"
log "trusting another CA: $(head -c 200 <<<"$out")"
grep -qi "certificate verify failed\|SSL" <<<"$out" || fail "a client trusting another CA: $out"
out=$(timeout 20 redis-cli -h 127.0.0.1 -p "$P" --no-auth-warning -a "$client_tok" INCR orders 2>&1 || true)
ids_in "$out" && fail "IDs over plain RESP to the TLS port: $out"
log "plain RESP: $(head -c 200 <<<"$out")"
grep -q "TLS handshake with 127.0.0.1 .* failed" "$WORK/coord-1.log" ||
	fail "failed handshakes are not logged"
[[ $(tls client -a "$client_tok" PING) == PONG ]] || fail "the port stopped answering"
log "no IDs without a client certificate, with another CA's, trusting another CA, or in the clear"
! grep -qF -e "$client_tok" -e "$reader_tok" "$WORK"/*.log || fail "a token appears in a log"
stop coord-1
stop master

# ---- TLS without a CA: any client that trusts the server ----
# A plain cluster on ipc://, a coordinator with a certificate and no CA:
# clients need no certificate; the token file is what tells them apart.
MASTER_URL=ipc://$WORK/m2.ipc
"$MASTER_BIN" --data-dir "$WORK/data2" --listen "$MASTER_URL" >>"$WORK/master2.log" 2>&1 &
PIDS[master2]=$!
for ((i = 0; i < 100; i++)); do
	"$CLI" -m "$MASTER_URL" --timeout 500 status >/dev/null 2>&1 && break
	sleep 0.1
done
"$CLI" -m "$MASTER_URL" seq create orders >/dev/null
: >>"$WORK/c2.log" # polled below before the daemon may have opened it
"$COORD_BIN" join "$MASTER_URL" --name c2 --listen "ipc://$WORK/c2.ipc" \
	--tls-cert "$CREDS/coord-2.pem" --tls-key "$CREDS/coord-2.key" \
	--resp-listen tls+tcp://127.0.0.1:0 >>"$WORK/c2.log" 2>&1 &
PIDS[c2]=$!
P=
for ((i = 0; i < 100; i++)); do
	P=$(sed -n 's/.*serving RESP on port \([0-9]*\) .*/\1/p' "$WORK/c2.log" | tail -n 1)
	[[ -n $P ]] && break
	sleep 0.1
done
[[ -n $P ]] || fail "c2 did not start its RESP port"
id=$(tls none INCR orders)
[[ $id =~ ^[0-9]+$ ]] || fail "TLS without a CA, no client certificate: $id"
out=$(timeout 20 redis-cli -h 127.0.0.1 -p "$P" INCR orders 2>&1 || true)
ids_in "$out" && fail "IDs over plain RESP to the TLS port: $out"
log "TLS without a CA: served without a client certificate; plain RESP gets nothing"
stop c2
stop master2
log "resp_tls: OK"
