#!/usr/bin/env bash
# Issue 13 with the cluster's credentials (docs/security.md): the
# coordinator's HTTP API over https with mutual TLS and role tokens. A
# client without a certificate, with one from another CA, or not trusting
# the cluster CA gets nothing; plain http next to TLS files is refused at
# start; with the right certificate the client role gets IDs and the
# reader role does not.
set -euo pipefail
source "$(dirname "$0")/tls_lib.sh" "$1"
need curl curl
need jq jq

HP=$((BASE + 7))
H=https://127.0.0.1:$HP
start_master $(master_creds)
"$CLI" -m "$MASTER_URL" seq create orders >/dev/null
"$ROOT/scripts/mkcerts" "$WORK/evil" 1 >/dev/null

# Plain http next to TLS files: refused at start, never a downgrade.
if "$COORD_BIN" join "$MASTER_URL" --name coord-2 --listen "$(coord_url coord-2)" \
	$(coord_creds coord-2) --http-listen "http://127.0.0.1:$HP" >"$WORK/c2.log" 2>&1; then
	fail "plain http with TLS files was accepted"
fi
grep -q "use https://" "$WORK/c2.log" || fail "plain http refused without why: $(cat "$WORK/c2.log")"

start_coord coord-1 $(coord_creds coord-1) --http-listen "$H"
client_tok=$(awk '$1 == "client" {print $2}' "$CREDS/admin.tokens")
reader_tok=$(awk '$1 == "reader" {print $2}' "$CREDS/admin.tokens")
[[ -n $client_tok && -n $reader_tok ]] || fail "mkcerts gave no client or reader token"
ids="$H/v1/sequences/orders/ids?count=3"
code() { curl -s -o "$WORK/body" -w '%{http_code}' --max-time 10 "$@" || true; }

# The right certificate and the client token: IDs.
c=$(code --cacert "$CREDS/ca.pem" --cert "$CREDS/admin.pem" --key "$CREDS/admin.key" \
	-H "Authorization: Bearer $client_tok" "$ids")
[[ $c == 200 ]] || fail "with credentials: $c $(cat "$WORK/body")"
jq -e '.ids | length == 3' "$WORK/body" >/dev/null || fail "$(cat "$WORK/body")"
# The reader token: 403.
c=$(code --cacert "$CREDS/ca.pem" --cert "$CREDS/admin.pem" --key "$CREDS/admin.key" \
	-H "Authorization: Bearer $reader_tok" "$ids")
[[ $c == 403 ]] || fail "reader token got $c"
# No client certificate: no IDs (the handshake completes, every request
# is refused before routing, token or not).
c=$(code --cacert "$CREDS/ca.pem" -H "Authorization: Bearer $client_tok" "$ids")
[[ $c == 403 || $c == 000 ]] || fail "without a client certificate: $c $(cat "$WORK/body")"
! grep -q '"ids"' "$WORK/body" || fail "IDs without a client certificate"
# A certificate from another CA: no IDs.
c=$(code --cacert "$CREDS/ca.pem" --cert "$WORK/evil/coord-1.pem" \
	--key "$WORK/evil/coord-1.key" -H "Authorization: Bearer $client_tok" "$ids")
[[ $c == 403 || $c == 000 ]] || fail "with another CA's certificate: $c"
! grep -q '"ids"' "$WORK/body" || fail "IDs with another CA's certificate"
# A client trusting another CA does not talk to this server at all.
c=$(code --cacert "$WORK/evil/ca.pem" --cert "$CREDS/admin.pem" --key "$CREDS/admin.key" \
	-H "Authorization: Bearer $client_tok" "$ids")
[[ $c == 000 ]] || fail "a client trusting another CA got $c"
# Plain http to the https port: no IDs.
c=$(code -H "Authorization: Bearer $client_tok" "http://127.0.0.1:$HP/v1/sequences/orders/ids")
[[ $c != 200 ]] || fail "plain http to the https port got IDs"
log "https: mutual TLS and roles enforced"
! grep -qF "$client_tok" "$WORK"/*.log || fail "a token appears in a log"
stop coord-1
stop master
log "http_tls: OK"
