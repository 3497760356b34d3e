#!/usr/bin/env bash
# Issue 13: what an attacker or a careless operator tries on the
# coordinator's HTTP port. Huge and malformed requests, bad counts, path
# traversal, missing or wrong tokens, bodies, slowloris and idle
# connections: each is refused with a fitting status (or the connection
# closed), the daemon keeps answering HTTP and nng throughout, and no
# token reaches a log. A slow sender (one byte a second, which restarts
# the idle timeout every time) is closed once its request has not arrived
# whole within the request bound: 10 s, or the idle timeout if shorter. A plain-http or 0.0.0.0 listener without
# credentials is refused at start.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh" "$1"
need curl curl
need jq jq
HTTPATTACK=$BUILD/tests/httpattack

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
HP=$((20000 + RANDOM % 12000))
while port_taken "$HP"; do HP=$((20000 + RANDOM % 12000)); done
H=http://127.0.0.1:$HP
MP=$((20000 + RANDOM % 12000))
while [[ $MP == "$HP" ]] || port_taken "$MP"; do MP=$((20000 + RANDOM % 12000)); done
MH=http://127.0.0.1:$MP

T_CLIENT=client-token-0123456789abcdef
T_READER=reader-token-0123456789abcdef
T_ADMIN=admin-token-0123456789abcdefgh
T_NODE=node-token-0123456789abcdefghij
printf 'client %s\nreader %s\nadmin %s\nnode:c1 %s\n' "$T_CLIENT" "$T_READER" \
	"$T_ADMIN" "$T_NODE" >"$WORK/c1.tokens"
chmod 600 "$WORK/c1.tokens"
# The snowrange tool (status probes over nng) as an admin.
printf 'admin %s\nreader %s\n' "$T_ADMIN" "$T_READER" >"$WORK/cli.tokens"
chmod 600 "$WORK/cli.tokens"
export SNOWRANGE_TOKEN_FILE=$WORK/cli.tokens

# The master's HTTP port keeps the default idle timeout (60 s): its request
# bound is the default 10 s.
start_master --http-listen "$MH"
"$CLI" -m "$MASTER_URL" seq create orders >/dev/null
# A careless operator first: every listen address beyond loopback without
# credentials, and plain http next to TLS files, are refused at start.
if "$COORD_BIN" join "$MASTER_URL" --name c0 --listen "$(coord_url c0)" \
	--http-listen "http://0.0.0.0:$HP" >"$WORK/c0.log" 2>&1; then
	fail "an HTTP listener on 0.0.0.0 without credentials was accepted"
fi
grep -q "refusing to serve HTTP on http://0.0.0.0:$HP without client credentials" \
	"$WORK/c0.log" || fail "0.0.0.0 refused without saying why: $(cat "$WORK/c0.log")"
for bad in "tcp://127.0.0.1:$HP" "http://127.0.0.1" "http://127.0.0.1:99999" \
	"https://127.0.0.1:$HP"; do
	if "$COORD_BIN" join "$MASTER_URL" --name c0 --listen "$(coord_url c0)" \
		--http-listen "$bad" >"$WORK/c0.log" 2>&1; then
		fail "--http-listen $bad was accepted"
	fi
	grep -q "HTTP listen URL" "$WORK/c0.log" || fail "$bad: $(cat "$WORK/c0.log")"
done
log "careless listen URLs refused at start"

start_coord c1 --http-listen "$H" --token-file "$WORK/c1.tokens" --idle-timeout-ms 2000
auth() { echo "Authorization: Bearer $1"; }
code() { curl -s -o "$WORK/body" -w '%{http_code}' --max-time 10 "$@"; }
alive() {
	[[ $(code -H "$(auth "$T_CLIENT")" "$H/v1/sequences/orders/ids?count=2") == 200 ]] ||
		fail "HTTP stopped serving after $1: $(cat "$WORK/body")"
	"$CLI" -c "$(coord_url c1)" --timeout 3000 status >/dev/null ||
		fail "nng stopped serving after $1"
}
alive "start"

# Tokens: none, unknown, in the query string, of the wrong role.
[[ $(code "$H/v1/sequences/orders/ids") == 401 ]] || fail "no token: not 401"
jq -e '.error.code == "EACCES"' "$WORK/body" >/dev/null || fail "$(cat "$WORK/body")"
curl -s -D - -o /dev/null "$H/v1/txids" | grep -qi '^www-authenticate: Bearer' ||
	fail "401 without WWW-Authenticate"
[[ $(code -H "$(auth wrong-token-0123456789abcdef)" "$H/v1/txids") == 401 ]] ||
	fail "unknown token: not 401"
[[ $(code -H "Authorization: Bearer" "$H/v1/txids") == 401 ]] || fail "empty bearer"
[[ $(code -H "Authorization: Basic $T_CLIENT" "$H/v1/txids") == 401 ]] || fail "basic auth"
[[ $(code "$H/v1/txids?token=$T_CLIENT") == 401 ]] || fail "token in the query accepted"
[[ $(code -H "$(auth "$T_READER")" "$H/v1/txids") == 403 ]] || fail "reader got txids"
[[ $(code -H "$(auth "$T_NODE")" "$H/v1/sequences/orders/ids") == 403 ]] ||
	fail "a node token got IDs"
[[ $(code -H "$(auth "$T_READER")" "$H/v1/decode/386640268780109825") == 200 ]] ||
	fail "reader cannot decode"
# A master on a new store grants its first worker id TTL/3 + grace after it
# started (docs/snowflake.md, "Claims"): until then a txid is 503.
for ((i = 0; i < 100; i++)); do
	[[ $(code -H "$(auth "$T_ADMIN")" "$H/v1/txids?count=3") == 503 ]] || break
	sleep 0.1
done
[[ $(code -H "$(auth "$T_ADMIN")" "$H/v1/txids?count=3") == 200 ]] || fail "admin txids"
# Probes need no token (they tell nothing but up/ready).
[[ $(code "$H/healthz") == 200 ]] || fail "healthz needs no token"
log "tokens: missing, unknown, misplaced and wrong-role all refused"

# Bad counts and names: 400 with the sr_err name, never an ID.
for c in 0 -1 1e3 0x10 65537 99999999999999999999999 "" "1%00" "1;2" "%20"; do
	[[ $(code -H "$(auth "$T_CLIENT")" "$H/v1/sequences/orders/ids?count=$c") == 400 ]] ||
		fail "count '$c': $(cat "$WORK/body")"
	jq -e '.error.code == "EINVAL"' "$WORK/body" >/dev/null || fail "count '$c' body"
done
name=$(head -c 300 /dev/zero | tr '\0' a)
[[ $(code -H "$(auth "$T_CLIENT")" "$H/v1/sequences/$name/ids") == 400 ]] ||
	fail "a 300-byte name not 400"
log "bad counts and names: 400"

# Path traversal: nothing here serves files; every form is a 404 or 400
# and nothing from the file system comes back.
for p in "/../../../../etc/passwd" "/v1/sequences/..%2F..%2F..%2Fetc%2Fpasswd/ids" \
	"/v1/decode/..%2F..%2Fetc%2Fpasswd" "/%2e%2e/%2e%2e/etc/passwd" \
	"/v1/sequences/orders/ids/../../../../etc/passwd" "/healthz/..%00/etc/passwd" \
	"/.%2e/.%2e/proc/self/environ"; do
	c=$(code --path-as-is -H "$(auth "$T_ADMIN")" "$H$p")
	[[ $c == 404 || $c == 400 ]] || fail "traversal $p gave $c"
	! grep -q "root:" "$WORK/body" || fail "traversal $p leaked a file"
done
log "path traversal: 404/400, nothing leaked"

# Raw requests: malformed, huge, with bodies. Each gets an error status
# or a closed connection, and the daemon carries on.
raw() { # raw BYTES-FILE: prints the status line's code, or "closed"
	local line
	line=$(
		exec 3<>"/dev/tcp/127.0.0.1/$HP"
		cat "$1" >&3 2>/dev/null || true
		timeout 5 head -1 <&3 2>/dev/null || true
	)
	line=${line%$'\r'}
	[[ $line =~ ^HTTP/1\.[01]\ ([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo closed
}
expect_raw() { # expect_raw WHAT FILE CODES...
	local what=$1 file=$2 got
	shift 2
	got=$(raw "$file")
	[[ " $* closed " == *" $got "* ]] || fail "$what: got $got, expected one of $* or closed"
	log "$what: $got"
}
printf 'GARBAGE\r\n\r\n' >"$WORK/r1"
expect_raw "garbage request line" "$WORK/r1" 400 505
head -c 4096 /dev/urandom >"$WORK/r2"
expect_raw "4 KiB of random bytes" "$WORK/r2" 400 505
printf 'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n' >"$WORK/r3"
expect_raw "HTTP/9.9" "$WORK/r3" 505 400
printf 'GET /healthz HTTP/1.1\r\n\r\n' >"$WORK/r4"
expect_raw "HTTP/1.1 without Host" "$WORK/r4" 400
{ printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: '; head -c 100000 /dev/zero | tr '\0' a; printf '\r\n\r\n'; } >"$WORK/r5"
expect_raw "a 100 KB header" "$WORK/r5" 431 413 400
{ printf 'GET /'; head -c 100000 /dev/zero | tr '\0' a; printf ' HTTP/1.1\r\nHost: x\r\n\r\n'; } >"$WORK/r6"
expect_raw "a 100 KB URL" "$WORK/r6" 414 431 400
{ printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n'; for ((i = 0; i < 5000; i++)); do printf 'X-%d: y\r\n' $i; done; printf '\r\n'; } >"$WORK/r7"
expect_raw "5000 headers" "$WORK/r7" 431 413 400
printf 'POST /v1/txids HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100000000000\r\n\r\n' "$T_CLIENT" >"$WORK/r8"
expect_raw "a 100 GB Content-Length" "$WORK/r8" 413
printf 'POST /v1/txids HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n' >"$WORK/r9"
expect_raw "a negative Content-Length" "$WORK/r9" 400 413
{ printf 'POST /v1/txids HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n' "$T_CLIENT"
	for ((i = 0; i < 40; i++)); do printf '1000\r\n'; head -c 4096 /dev/zero | tr '\0' b; printf '\r\n'; done
	printf '0\r\n\r\n'; } >"$WORK/r10"
expect_raw "a 160 KiB chunked body" "$WORK/r10" 413
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n' >"$WORK/r11"
expect_raw "a bad chunk size" "$WORK/r11" 400 200
printf 'GET /v1/sequences/orders/ids?count=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nAuthorization: Bearer %s\r\n\r\n' "$T_READER" "$T_CLIENT" >"$WORK/r12"
expect_raw "two Authorization headers (reader first)" "$WORK/r12" 403 401 400
alive "malformed and huge requests"

# Slowloris from one address: the per-address cap bounds what it holds,
# and the request bound (here the 2 s idle timeout) closes every one of
# them; another address and the nng port are served throughout.
"$HTTPATTACK" 127.0.0.1 "$HP" slow 400 6 >"$WORK/slow.out" &
PIDS[slow]=$!
sleep 1
for ((i = 0; i < 4; i++)); do
	c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --interface 127.0.0.2 \
		"http://127.0.0.1:$HP/healthz")
	[[ $c == 200 ]] || fail "another address got $c during slowloris"
	"$CLI" -c "$(coord_url c1)" --timeout 3000 status >/dev/null || fail "nng during slowloris"
	sleep 1
done
wait "${PIDS[slow]}"
unset "PIDS[slow]"
read -r _ accepted open longest <"$WORK/slow.out"
log "slowloris: 400 connections, $accepted kept by the server, $open open after 6 s," \
	"the longest lived $longest ms (bound 2 s)"
((accepted <= 256)) || fail "one address held $accepted connections (cap 256)"
((open == 0)) || fail "$open slow senders outlived the 2 s request bound"
# The bound plus the watchdog's period, with room for a loaded machine.
((longest <= 4500)) || fail "a slow sender lived $longest ms (bound 2 s)"
alive "slowloris"
closed=$(curl -s --max-time 10 -H "$(auth "$T_READER")" "$H/metrics" |
	awk '$1 == "snowrange_http_slow_closed_total" {print $2}')
((closed >= accepted)) || fail "/metrics counts $closed slow senders closed, not $accepted"

# One byte a second to the master's HTTP port (default bounds): closed once
# 10 s have passed without a whole request, not at the 60 s idle timeout;
# a normal request from the same address is served meanwhile.
"$HTTPATTACK" 127.0.0.1 "$MP" slow 1 16 >"$WORK/slow1.out" &
PIDS[slow1]=$!
for ((i = 0; i < 6; i++)); do
	sleep 2
	c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$MH/healthz")
	[[ $c == 200 ]] || fail "the master's /healthz gave $c next to a slow sender"
done
wait "${PIDS[slow1]}"
unset "PIDS[slow1]"
read -r _ accepted open longest <"$WORK/slow1.out"
log "1 byte/s to the master: closed after $longest ms (bound 10 s)"
((accepted == 1 && open == 0)) || fail "the slow sender was not closed: $(cat "$WORK/slow1.out")"
((longest >= 9500 && longest <= 13000)) || fail "the slow sender lived $longest ms, not ~10 s"
grep -q "closed 1 connections that sent no whole request within 10000 ms" "$WORK/master.log" ||
	fail "the master did not log the slow sender it closed"
curl -s --max-time 10 "$MH/metrics" | grep -qx 'snowrange_http_slow_closed_total 1' ||
	fail "the master's /metrics does not count the slow sender"

# Idle connections (nothing sent) are closed after --idle-timeout-ms.
"$HTTPATTACK" 127.0.0.1 "$HP" idle 200 5 >"$WORK/idle.out"
read -r _ accepted open _ <"$WORK/idle.out"
log "idle: $accepted accepted, $open open after 5 s (timeout 2 s)"
((open == 0)) || fail "$open idle connections outlived the idle timeout"
alive "idle connections"

# No token in any log.
for t in "$T_CLIENT" "$T_READER" "$T_ADMIN" "$T_NODE"; do
	! grep -rqF "$t" "$WORK"/*.log || fail "a token appears in a log"
done
stop c1
stop master
log "http_attacks: OK"
