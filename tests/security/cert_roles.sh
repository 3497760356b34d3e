#!/usr/bin/env bash
# Issue 9, roles from certificates: with mutual TLS and no token file the
# client certificate alone says who a peer is (OU = role, CN = node name;
# docs/security.md). A coordinator whose certificate says coord-1 cannot
# heartbeat, leave or join for coord-2 (no token anywhere); a certificate
# with OU=reader cannot do admin requests on the master or a coordinator; a
# certificate with no OU or an OU that is not a role is refused with a
# clear SR_EACCES message. Then, with a token file on the master too, a
# token that disagrees with the certificate is refused.
set -euo pipefail
source "$(dirname "$0")/tls_lib.sh" "$1"

# Only certificates: no token file on any side.
unset SNOWRANGE_TOKEN_FILE
certs() {
	echo --tls-cert "$CREDS/$1.pem" --tls-key "$CREDS/$1.key" --tls-ca "$CREDS/ca.pem"
}
# odd_cert NAME SUBJECT: a certificate from the cluster CA with that subject.
odd_cert() {
	openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/$1.key" 2>/dev/null
	openssl req -new -key "$WORK/$1.key" -subj "$2" -out "$WORK/$1.csr" 2>/dev/null
	printf 'extendedKeyUsage = clientAuth\n' >"$WORK/$1.ext"
	openssl x509 -req -in "$WORK/$1.csr" -CA "$CREDS/ca.pem" -CAkey "$CREDS/ca.key" \
		-CAcreateserial -CAserial "$WORK/ca.srl" -days 1 -sha256 \
		-extfile "$WORK/$1.ext" -out "$WORK/$1.pem" 2>/dev/null || fail "openssl for $1"
	chmod 600 "$WORK/$1.key"
}
# as CERT-PATH-PREFIX CMD...: runs the snowrange tool with that certificate.
as() {
	local c=$1
	shift
	SNOWRANGE_TLS_CERT=$c.pem SNOWRANGE_TLS_KEY=$c.key "$@"
}

start_master $(certs master)
start_coord coord-1 $(certs coord-1)
start_coord coord-2 $(certs coord-2)
C1=$(coord_url coord-1)
"$CLI" -m "$MASTER_URL" seq create keep >/dev/null || fail "an admin certificate cannot create"
"$CLI" -c "$C1" next keep -n 3 >/dev/null || fail "an admin certificate cannot get IDs"

# coord-1's certificate acting for coord-2, with no token at all.
id2=$(sed -n 's/.*node coord-2 joined as id \([0-9]*\).*/\1/p' "$WORK/master.log" | head -1)
[[ -n $id2 ]] || fail "no id for coord-2"
unset ATTACK_TOKEN_FILE ATTACK_NODE
export ATTACK_TLS_CERT=$CREDS/coord-1.pem ATTACK_TLS_KEY=$CREDS/coord-1.key \
	ATTACK_TLS_CA=$CREDS/ca.pem
out=$("$ATTACK" "$MASTER_URL" beat "$id2" 0 0 0)
[[ $out == EACCES*"this peer is node coord-1"* ]] || fail "coord-1 beat for coord-2: $out"
out=$("$ATTACK" "$MASTER_URL" leave "$id2" 0)
[[ $out == EACCES* ]] || fail "coord-1 leave for coord-2: $out"
out=$("$ATTACK" "$MASTER_URL" join coord-2)
[[ $out == EACCES* ]] || fail "coord-1 join as coord-2: $out"
grep -q "leave for node $id2 (coord-2) refused: this peer is node coord-1" "$WORK/master.log" ||
	fail "the forged leave is not logged"
# A node certificate is no admin either.
out=$("$ATTACK" "$MASTER_URL" leave 999 0)
[[ $out != OK* ]] || fail "coord-1 removed a node by id"
unset ATTACK_TLS_CERT ATTACK_TLS_KEY ATTACK_TLS_CA

# OU=reader: status and lists, never admin requests.
R=$CREDS/reader
as "$R" "$CLI" -m "$MASTER_URL" seq list | grep -q keep || fail "a reader cannot list"
for cmd in "seq create s2" "seq drop keep"; do
	if out=$(as "$R" "$CLI" -m "$MASTER_URL" $cmd 2>&1); then
		fail "a reader certificate could $cmd: $out"
	fi
	[[ $out == *EACCES*"needs the admin role; the client certificate (CN=reader) has the reader role"* ]] ||
		fail "reader $cmd: $out"
done
if out=$(as "$R" "$COORD_BIN" leave --listen "$C1" $(certs reader) 2>&1); then
	fail "a reader certificate made coord-1 leave"
fi
[[ $out == *EACCES* ]] || fail "reader leave to coord-1: $out"
if out=$(as "$R" "$CLI" -c "$C1" next keep -n 1 2>&1); then
	fail "a reader certificate got IDs"
fi
[[ $out == *EACCES* ]] || fail "reader next: $out"
# OU=client gets IDs and nothing from the master's admin side.
as "$CREDS/client" "$CLI" -c "$C1" next keep -n 2 >/dev/null || fail "a client cannot get IDs"
if out=$(as "$CREDS/client" "$CLI" -m "$MASTER_URL" seq drop keep 2>&1); then
	fail "a client certificate dropped keep"
fi

# No OU, an OU that is not a role, a node certificate whose CN is no name.
odd_cert noou "/O=snowrange/CN=nobody"
odd_cert wizard "/O=snowrange/OU=wizard/CN=merlin"
odd_cert twoou "/O=snowrange/OU=admin/OU=reader/CN=greedy"
odd_cert badname "/O=snowrange/OU=node/CN=Not A Name"
check_refused() {
	local c=$1 want=$2 out
	if out=$(as "$WORK/$c" "$CLI" -m "$MASTER_URL" seq list 2>&1); then
		fail "certificate $c was served: $out"
	fi
	[[ $out == *EACCES*"$want"* ]] || fail "certificate $c: $out"
}
check_refused noou "the client certificate of CN=nobody has no OU"
check_refused wizard "has OU=wizard, which is not a role (node, admin, reader or client)"
check_refused twoou "has more than one OU"
out=$(ATTACK_TLS_CERT=$WORK/badname.pem ATTACK_TLS_KEY=$WORK/badname.key \
	ATTACK_TLS_CA=$CREDS/ca.pem "$ATTACK" "$MASTER_URL" join badname)
[[ $out == EACCES*"is not a node name"* ]] || fail "node certificate with a bad CN: $out"
# The coordinator refuses them too.
if out=$(as "$WORK/wizard" "$CLI" -c "$C1" next keep -n 1 2>&1); then
	fail "coord-1 served OU=wizard"
fi
[[ $out == *EACCES*"OU=wizard"* ]] || fail "coord-1, OU=wizard: $out"
"$CLI" -c "$C1" next keep -n 1 >/dev/null || fail "coord-1 stopped serving"
stop coord-1
stop coord-2
stop master

# Certificate and token together: the master with a token file.
rm -rf "$WORK/data"
export SNOWRANGE_TOKEN_FILE=$CREDS/admin.tokens
start_master $(master_creds)
# An admin certificate may send its reader token (the narrower role)...
SNOWRANGE_TOKEN_FILE=$(tokens_of reader) "$CLI" -m "$MASTER_URL" seq list >/dev/null ||
	fail "admin certificate with a reader token"
# ...but a reader certificate with the admin token is refused.
if out=$(as "$R" "$CLI" -m "$MASTER_URL" seq create s3 2>&1); then
	fail "a reader certificate with an admin token created s3"
fi
[[ $out == *EACCES*"token has the admin role but the client certificate (CN=reader) the reader role"* ]] ||
	fail "reader certificate, admin token: $out"
# coord-2's certificate with coord-1's bound token: refused, and so is
# coord-1's own certificate with coord-2's token.
out=$(ATTACK_TLS_CERT=$CREDS/coord-2.pem ATTACK_TLS_KEY=$CREDS/coord-2.key \
	ATTACK_TLS_CA=$CREDS/ca.pem ATTACK_TOKEN_FILE=$CREDS/coord-1.tokens ATTACK_NODE=coord-1 \
	"$ATTACK" "$MASTER_URL" join coord-1)
[[ $out == EACCES*"token is node coord-1's but the client certificate is node coord-2's"* ]] ||
	fail "coord-2 certificate, coord-1 token: $out"
# The real pair still joins.
start_coord coord-1 $(coord_creds coord-1)
grep -q "coord-1 joined" "$WORK/master.log" || fail "coord-1 with its own pair did not join"
stop coord-1
stop master
log "cert_roles: OK"
