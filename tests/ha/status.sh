#!/usr/bin/env bash
# `snowrange status` against masters on etcd (issue 11): asked of a standby
# it shows each master's role (the standby names its leader) and then the
# cluster as the leader tells it, instead of failing with SR_ENOTLEADER;
# `node list` follows the standby to the leader too. A standby's /readyz is
# 503 (it serves nothing), the leader's 200. With no leader at all (etcd
# gone) status says so, naming what each master said, and exits 1.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh" "$1"
source "$(dirname "$0")/etcd_lib.sh"
need jq jq
need curl curl

start_etcd 1
M1=ipc://$WORK/m1.ipc M2=ipc://$WORK/m2.ipc
H1=$(free_port) H2=$(free_port)
start_m() { # NAME URL HTTP_PORT
	"$MASTER_BIN" --store "$ETCD_URL" --listen "$2" --http-listen "http://127.0.0.1:$3" \
		>>"$WORK/$1.log" 2>&1 &
	PIDS[$1]=$!
}
start_m m1 "$M1" "$H1"
for ((i = 0; i < 100; i++)); do
	grep -q "leading: serving" "$WORK/m1.log" && break
	sleep 0.1
done
grep -q "leading: serving" "$WORK/m1.log" || fail "m1 does not lead"
start_m m2 "$M2" "$H2"
wait_ready "$M2"
"$CLI" -m "$M1" seq create ids >/dev/null

log "status of the standby alone"
"$CLI" -m "$M2" status >"$WORK/s.txt" || fail "status of a standby failed: $(cat "$WORK/s.txt")"
cat "$WORK/s.txt"
grep -Eq "^$M2 +standby +$M1 +-" "$WORK/s.txt" || fail "no standby row for m2"
grep -Eq "^$M1 +master +$M1 +[0-9]+" "$WORK/s.txt" || fail "the leader m1 was not asked"
grep -q "^master $M1  term " "$WORK/s.txt" || fail "no cluster view from the leader"
grep -q "^ids " "$WORK/s.txt" || fail "the leader's sequences are missing"
"$CLI" -m "$M2" -o json status >"$WORK/s.json"
jq -e --arg m1 "$M1" --arg m2 "$M2" '.role == "master" and .url == $m1
	and (.sequences | map(.name) == ["ids"])
	and (.masters | map(select(.url == $m2 and .role == "standby" and .leader == $m1)) | length == 1)
	and (.masters | map(select(.url == $m1 and .role == "master" and (.term | type == "string"))) | length == 1)' \
	"$WORK/s.json" >/dev/null || fail "status -o json: $(cat "$WORK/s.json")"
"$CLI" -m "$M2" node list >/dev/null || fail "node list through a standby"

log "status of the list, in any order"
"$CLI" -m "$M2,$M1" -o json status |
	jq -e '.masters | length == 2 and (map(.role) | sort == ["master", "standby"])' >/dev/null ||
	fail "status of the list"

log "/readyz: the leader is ready, the standby is not"
code() { curl -s -o "$WORK/body" -w '%{http_code}' "$1"; }
[[ $(code "http://127.0.0.1:$H1/readyz") == 200 ]] || fail "leader's readyz: $(cat "$WORK/body")"
[[ $(code "http://127.0.0.1:$H2/readyz") == 503 ]] || fail "standby's readyz: $(cat "$WORK/body")"
grep -q "standby; the leader is $M1" "$WORK/body" || fail "standby's readyz says: $(cat "$WORK/body")"
[[ $(code "http://127.0.0.1:$H2/healthz") == 200 ]] || fail "standby's healthz"

log "the leader stops: the standby leads"
stop m1
for ((i = 0; i < 100; i++)); do
	"$CLI" -m "$M2" -o json status 2>/dev/null | jq -e '.role == "master"' >/dev/null && break
	sleep 0.1
done
"$CLI" -m "$M1,$M2" status >"$WORK/s2.txt" || fail "status after the failover"
grep -Eq "^$M1 +- +- +ECONNECT" "$WORK/s2.txt" || fail "the stopped master's row: $(cat "$WORK/s2.txt")"
grep -q "^master $M2  term " "$WORK/s2.txt" || fail "m2 does not lead: $(cat "$WORK/s2.txt")"

log "no leader at all: etcd is gone"
start_m m1 "$M1" "$H1"
wait_ready "$M1"
kill_etcd 1
rc=0
for ((i = 0; i < 100; i++)); do
	rc=0
	"$CLI" -m "$M1,$M2" --timeout 2000 status >"$WORK/s3.txt" 2>"$WORK/s3.err" || rc=$?
	((rc != 0)) && break
	sleep 0.2
done
((rc == 1)) || fail "status with no leader exited $rc"
grep -q "no master serves" "$WORK/s3.err" || fail "no leader: $(cat "$WORK/s3.err")"
grep -Eq "^$M1 +standby" "$WORK/s3.txt" || fail "no leader: the masters table: $(cat "$WORK/s3.txt")"
# Without etcd a clean stop would wait on it to resign: not what is tested.
kill9 m1
kill9 m2
log "status: OK"
