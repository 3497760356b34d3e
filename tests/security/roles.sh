#!/usr/bin/env bash
# Issue 9, roles: every admin request without the admin role is refused
# (SR_EACCES), on the master and on a coordinator (Leave); a node token acts
# only for its own node (a forged Join, Heartbeat or Leave for another node
# is refused and logged); a second live process under a held node name is
# refused (SR_EEXISTS). Mutual TLS and tokens on, as scripts/mkcerts sets
# them up.
set -euo pipefail
source "$(dirname "$0")/tls_lib.sh" "$1"

start_master $(master_creds)
start_coord coord-1 $(coord_creds coord-1)
start_coord coord-2 $(coord_creds coord-2)
"$CLI" -m "$MASTER_URL" seq create keep >/dev/null || fail "admin cannot create"
C1=$(coord_url coord-1)

# expect_refused WHAT ROLE-FILE CMD...: the command fails with EACCES.
expect_refused() {
	local what=$1 tf=$2
	shift 2
	local out
	if out=$(SNOWRANGE_TOKEN_FILE=$tf "$@" 2>&1); then
		fail "$what succeeded with $(basename "$tf"): $out"
	fi
	[[ $out == *EACCES* ]] || fail "$what: expected EACCES, got: $out"
}
READER=$(tokens_of reader)
CLIENT=$(tokens_of client)
echo "admin $(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WORK/wrong.tokens"
chmod 600 "$WORK/wrong.tokens"
for tf in "$READER" "$CLIENT" "$WORK/wrong.tokens"; do
	expect_refused "seq create" "$tf" "$CLI" -m "$MASTER_URL" seq create s2
	expect_refused "seq drop" "$tf" "$CLI" -m "$MASTER_URL" seq drop keep
	expect_refused "coordinator leave" "$tf" "$COORD_BIN" leave --listen "$C1" \
		--tls-cert "$CREDS/admin.pem" --tls-key "$CREDS/admin.key" --tls-ca "$CREDS/ca.pem" \
		--token-file "$tf"
done
# The refusal says why: the reader's file has no admin token to send.
out=$(SNOWRANGE_TOKEN_FILE=$READER "$CLI" -m "$MASTER_URL" seq drop keep 2>&1) || true
[[ $out == *"needs the admin role"*"has no admin token"* ]] || fail "reader drop: $out"
out=$(SNOWRANGE_TOKEN_FILE=$WORK/wrong.tokens "$CLI" -m "$MASTER_URL" seq drop keep 2>&1) || true
[[ $out == *"not known here"* ]] || fail "unknown token: $out"
# No token file at all.
if out=$(SNOWRANGE_TOKEN_FILE= "$CLI" -m "$MASTER_URL" seq drop keep 2>&1); then
	fail "seq drop without a token succeeded"
fi
[[ $out == *EACCES*"no token"* ]] || fail "seq drop without a token: $out"
# Admin and node Leave to the master are refused to a reader as well.
out=$(ATTACK_TLS_CERT=$CREDS/admin.pem ATTACK_TLS_KEY=$CREDS/admin.key \
	ATTACK_TLS_CA=$CREDS/ca.pem ATTACK_TOKEN_FILE=$READER "$ATTACK" "$MASTER_URL" leave 1 0)
[[ $out == EACCES* ]] || fail "a reader removed a node: $out"
# What readers and clients may do still works.
SNOWRANGE_TOKEN_FILE=$READER "$CLI" -m "$MASTER_URL" seq list | grep -q keep ||
	fail "a reader cannot list"
SNOWRANGE_TOKEN_FILE=$CLIENT "$CLI" -c "$C1" next keep -n 3 >/dev/null ||
	fail "a client cannot get IDs"
"$CLI" -m "$MASTER_URL" seq list | grep -q keep || fail "keep was dropped"

# A stolen coord-2 credential acting for coord-1.
id1=$(sed -n 's/.*node coord-1 joined as id \([0-9]*\).*/\1/p' "$WORK/master.log" | head -1)
[[ -n $id1 ]] || fail "no id for coord-1"
export ATTACK_TLS_CERT=$CREDS/coord-2.pem ATTACK_TLS_KEY=$CREDS/coord-2.key \
	ATTACK_TLS_CA=$CREDS/ca.pem ATTACK_TOKEN_FILE=$CREDS/coord-2.tokens ATTACK_NODE=coord-2
out=$("$ATTACK" "$MASTER_URL" beat "$id1" 0 0 0)
[[ $out == EACCES* ]] || fail "forged heartbeat for coord-1: $out"
out=$("$ATTACK" "$MASTER_URL" leave "$id1" 0)
[[ $out == EACCES* ]] || fail "forged leave for coord-1: $out"
out=$("$ATTACK" "$MASTER_URL" join coord-1)
[[ $out == EACCES* ]] || fail "join as coord-1 with coord-2's token: $out"
grep -q "leave for node $id1 (coord-1) refused" "$WORK/master.log" || fail "forged leave not logged"
unset ATTACK_TLS_CERT ATTACK_TLS_KEY ATTACK_TLS_CA ATTACK_TOKEN_FILE ATTACK_NODE

# A second process under coord-1's name, with coord-1's own credentials.
set +e
out=$("$COORD_BIN" join "$MASTER_URL" --name coord-1 --listen "$(coord_url coord-3)" \
	$(coord_creds coord-1) --join-timeout-ms 1500 2>&1)
rc=$?
set -e
((rc != 0)) || fail "a second coord-1 joined"
[[ $out == *EEXISTS*"held by a live process"* ]] || fail "second coord-1: $out"

# coord-1 is untouched: alive, serving.
"$CLI" -c "$C1" next keep -n 1 >/dev/null || fail "coord-1 stopped serving"
"$CLI" -o json -m "$MASTER_URL" status | grep -q '"alive": *true' || fail "no live node"

# An admin may make a coordinator leave.
"$COORD_BIN" leave --listen "$C1" --tls-cert "$CREDS/admin.pem" --tls-key "$CREDS/admin.key" \
	--tls-ca "$CREDS/ca.pem" --token-file "$CREDS/admin.tokens" >/dev/null ||
	fail "admin leave refused"
for ((i = 0; i < 50; i++)); do
	kill -0 "${PIDS[coord-1]}" 2>/dev/null || break
	sleep 0.1
done
kill -0 "${PIDS[coord-1]}" 2>/dev/null && fail "coord-1 did not leave"
wait "${PIDS[coord-1]}" || fail "coord-1 exited badly"
unset "PIDS[coord-1]"
stop coord-2
stop master
log "roles: OK"
