#!/usr/bin/env bash
# Issue 9: a coordinator without a valid certificate cannot join a master
# that requires mutual TLS (none, or one from another CA), nor one with a
# valid certificate but no node token; a client without a certificate gets
# nothing from the master. And the safe default: with no client credentials
# a daemon refuses a non-loopback listen address unless --insecure.
set -euo pipefail
source "$(dirname "$0")/tls_lib.sh" "$1"

start_master $(master_creds)
"$ROOT/scripts/mkcerts" "$WORK/evil" 1 >/dev/null
C3=ipc://$WORK/c3.ipc

# try_join LABEL FLAGS...: coord-3 must fail to join (within 3 s: an
# answer may take a while on a loaded machine under ASan).
try_join() {
	local label=$1 out rc
	shift
	set +e
	out=$("$COORD_BIN" join "$MASTER_URL" --name coord-3 --listen "$C3" \
		--join-timeout-ms 3000 --rpc-timeout-ms 1500 "$@" 2>&1)
	rc=$?
	set -e
	((rc != 0)) || fail "coord-3 joined $label"
	echo "$out"
}
out=$(try_join "without a certificate" --tls-ca "$CREDS/ca.pem" \
	--token-file "$CREDS/coord-3.tokens")
[[ $out == *EUNAVAILABLE* ]] || fail "no certificate: $out"
out=$(try_join "with another CA's certificate" --tls-cert "$WORK/evil/coord-1.pem" \
	--tls-key "$WORK/evil/coord-1.key" --tls-ca "$CREDS/ca.pem" \
	--token-file "$CREDS/coord-3.tokens")
[[ $out == *EUNAVAILABLE* ]] || fail "foreign certificate: $out"
out=$(try_join "without a node token" --tls-cert "$CREDS/coord-3.pem" \
	--tls-key "$CREDS/coord-3.key" --tls-ca "$CREDS/ca.pem")
[[ $out == *EACCES* ]] || fail "no token: $out"
# Not trusting the cluster's CA means not trusting its master either.
out=$(try_join "trusting another CA" --tls-cert "$CREDS/coord-3.pem" \
	--tls-key "$CREDS/coord-3.key" --tls-ca "$WORK/evil/ca.pem" \
	--token-file "$CREDS/coord-3.tokens")
[[ $out == *EUNAVAILABLE* ]] || fail "foreign CA: $out"
# A plain tcp:// URL next to a CA is an error, not a downgrade.
out=$(MASTER_URL=tcp://127.0.0.1:$BASE try_join "over plain tcp" --tls-cert "$CREDS/coord-3.pem" --tls-key "$CREDS/coord-3.key" \
	--tls-ca "$CREDS/ca.pem" --token-file "$CREDS/coord-3.tokens")
[[ $out == *"not tls+tcp://"* ]] || fail "plain tcp: $out"
grep -q "coord-3 joined" "$WORK/master.log" && fail "the master let coord-3 in"
# The real thing joins.
start_coord coord-3 $(coord_creds coord-3)
grep -q "coord-3 joined" "$WORK/master.log" || fail "coord-3 with its credentials did not join"

# A client without a certificate: no answer.
if out=$(SNOWRANGE_TLS_CERT= SNOWRANGE_TLS_KEY= "$CLI" --timeout 1000 -m "$MASTER_URL" \
	seq list 2>&1); then
	fail "seq list without a client certificate: $out"
fi
[[ $out == *ETIMEDOUT* ]] || fail "client without certificate: $out"
stop coord-3
stop master

# Safe default.
port=$((BASE + 5))
if out=$("$MASTER_BIN" --data-dir "$WORK/d2" --listen "tcp://0.0.0.0:$port" 2>&1); then
	fail "master listened on 0.0.0.0 without credentials"
fi
[[ $out == *"refusing to listen"*--insecure* ]] || fail "master: $out"
MASTER_URL=ipc://$WORK/open.ipc
unset SNOWRANGE_TLS_CERT SNOWRANGE_TLS_KEY SNOWRANGE_TLS_CA SNOWRANGE_TOKEN_FILE
start_master
if out=$("$COORD_BIN" join "$MASTER_URL" --name c9 --listen "tcp://0.0.0.0:$port" 2>&1); then
	fail "coordinator listened on 0.0.0.0 without credentials"
fi
[[ $out == *"refusing to listen"*--insecure* ]] || fail "coordinator: $out"
grep -q "c9 joined" "$WORK/master.log" && fail "the refused coordinator joined first"
coord_url() { echo "tcp://0.0.0.0:$port"; }
start_coord c9 --insecure
grep -q "WARNING: --insecure" "$WORK/c9.log" || fail "--insecure is not logged"
stop c9
stop master
log "tls_join: OK"
