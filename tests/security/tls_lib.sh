# Helpers for the security tests that run a cluster with mutual TLS and role
# tokens: credentials from scripts/mkcerts in the test's temp dir, tls+tcp
# URLs on loopback, and the snowrange tool set up (through its environment)
# as the admin. Source it instead of integration/lib.sh.
#
# Usage: source tls_lib.sh BUILD_DIR
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$1"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
need openssl openssl
need ps procps
ATTACK=$BUILD/tests/attack
CREDS=$WORK/creds
"$ROOT/scripts/mkcerts" "$CREDS" 3 >/dev/null || fail "mkcerts failed"

# A base port picked at random from 20000-59990 in steps of 10, none of
# BASE..BASE+5 taken (bash's /dev/tcp connects only to a listener): the
# master takes BASE, coord-I takes BASE+I.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_base() {
	local b i j ok
	for ((i = 0; i < 50; i++)); do
		# Below 32768, where Linux starts its ephemeral ports: an outgoing
		# connection on BASE made the master fail with "Address in use".
		b=$((20000 + (RANDOM % 1200) * 10))
		ok=1
		for ((j = 0; j < 6; j++)); do
			port_taken $((b + j)) && ok=0
		done
		((ok)) && break
	done
	echo "$b"
}
BASE=$(free_base)
MASTER_URL=tls+tcp://127.0.0.1:$BASE
coord_url() { echo "tls+tcp://127.0.0.1:$((BASE + ${1#coord-}))"; }

# One free port from 20000-31999, below Linux's ephemeral range
# (32768-60999): a test that churns connections leaves thousands of client
# ports in TIME_WAIT, which a listener could not bind.
low_port() {
	local p i
	for ((i = 0; i < 50; i++)); do
		p=$((20000 + RANDOM % 12000))
		port_taken "$p" || break
	done
	echo "$p"
}

# fds PID: how many descriptors process PID has open.
fds() { ls "/proc/$1/fd" | wc -l; }

# Waits (bounded: 60 s) until the CLI gets a status reply from URL. Each
# probe is a new process and a new TLS handshake, several round trips
# between two processes: on a loaded machine under ASan that alone can take
# more than lib.sh's 500 ms probe, so these probes get 3 s each.
wait_ready() {
	local url=$1 until=$((SECONDS + 60))
	while ((SECONDS < until)); do
		"$CLI" -m "$url" --timeout 3000 status >/dev/null 2>&1 && return 0
		"$CLI" -c "$url" --timeout 3000 status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "nothing answers at $url"
}

export SNOWRANGE_TLS_CERT=$CREDS/admin.pem SNOWRANGE_TLS_KEY=$CREDS/admin.key \
	SNOWRANGE_TLS_CA=$CREDS/ca.pem SNOWRANGE_TOKEN_FILE=$CREDS/admin.tokens

master_creds() {
	echo --tls-cert "$CREDS/master.pem" --tls-key "$CREDS/master.key" \
		--tls-ca "$CREDS/ca.pem" --token-file "$CREDS/master.tokens"
}
coord_creds() {
	echo --tls-cert "$CREDS/$1.pem" --tls-key "$CREDS/$1.key" \
		--tls-ca "$CREDS/ca.pem" --token-file "$CREDS/$1.tokens"
}
# A token file with only the lines of the given roles from admin.tokens.
tokens_of() {
	local out=$WORK/$1.only.tokens
	grep -E "^($1) " "$CREDS/admin.tokens" >"$out" || true
	chmod 600 "$out"
	echo "$out"
}
