#!/usr/bin/env bash
# The systemd side of docs/ha.md's three-node layout (issue 11, item 7):
# dist/systemd/snowrange-master-etcd.service passes `systemd-analyze
# verify` (with the other two units), and its ExecStart line, run as systemd
# would run it with each of etc/ha/node1.conf ... node3.conf (their
# addresses moved to loopback, the token credential to a temp dir), starts
# three masters on a three-member etcd: one leads, two stand by, status
# shows all three, and a stopped leader is replaced. systemd itself does
# not run in the test (no PID 1 here), so the unit's hardening is checked
# by verify only.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh" "$1"
source "$(dirname "$0")/etcd_lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "$BUILD" && pwd) # systemd wants absolute paths
need systemd-analyze systemd
need jq jq

UNIT=$SRC/dist/systemd/snowrange-master-etcd.service
mkdir -p "$WORK/units" "$WORK/etc" "$WORK/cred"
printf 'admin %s\nreader %s\nnode %s\n' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
	"$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
	"$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WORK/cred/tokens"
chmod 600 "$WORK/cred/tokens"

log "systemd-analyze verify"
for u in snowrange-master-etcd snowrange-master snowrange-coordinator; do
	sed -e "s|/usr/bin/|$BIN/|g" -e "s|/etc/snowrange/|$WORK/etc/|g" \
		"$SRC/dist/systemd/$u.service" >"$WORK/units/$u.service"
done
cp "$WORK/cred/tokens" "$WORK/etc/tokens"
systemd-analyze verify --man=no "$WORK"/units/*.service >"$WORK/verify.log" 2>&1 ||
	fail "systemd-analyze verify: $(cat "$WORK/verify.log")"
if grep -q . "$WORK/verify.log"; then
	fail "systemd-analyze verify complains: $(cat "$WORK/verify.log")"
fi
grep -q '^Restart=always$' "$UNIT" || fail "the etcd unit does not restart a master that exits"
grep -q '^Conflicts=snowrange-master.service$' "$UNIT" || fail "no Conflicts with the SQLite unit"

log "the three node configs under the unit's command, on loopback"
start_etcd 3
MURL=()
for n in 1 2 3; do
	MURL[n]=ipc://$WORK/m$n.ipc
	sed -e "s|etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379/snowrange/|$ETCD_URL|" \
		-e "s|tcp://10.0.0.$n:7400|${MURL[n]}|" \
		-e "s|http://10.0.0.$n:7480|http://127.0.0.1:$(free_port)|" \
		-e "s|/run/credentials/snowrange-master-etcd.service/|$WORK/cred/|" \
		"$SRC/etc/ha/node$n.conf" >"$WORK/node$n.conf"
	grep -q "10\.0\.0\." <(grep -v '^#' "$WORK/node$n.conf") &&
		fail "node$n.conf: an address was not moved to loopback"
done
MASTERS=$(
	IFS=,
	echo "${MURL[*]}"
)
exec_start() {
	grep '^ExecStart=' "$UNIT" | cut -d= -f2- |
		sed -e "s|/usr/bin/|$BIN/|g" -e "s|/etc/snowrange/master-etcd.conf|$WORK/node$1.conf|g"
}
for n in 1 2 3; do
	read -r -a cmd <<<"$(exec_start "$n")"
	((n > 1)) || log "master: ${cmd[*]}"
	"${cmd[@]}" >>"$WORK/m$n.log" 2>&1 &
	PIDS[m$n]=$!
done
export SNOWRANGE_TOKEN_FILE=$WORK/cred/tokens
roles() {
	"$CLI" -m "$MASTERS" --timeout 2000 -o json status 2>/dev/null |
		jq -r '[.masters[].role | select(. != null)] | sort | join(" ")' 2>/dev/null
}
for ((i = 0; i < 100; i++)); do
	[[ $(roles) == "master standby standby" ]] && break
	sleep 0.2
done
[[ $(roles) == "master standby standby" ]] || fail "roles: '$(roles)'"
"$CLI" -m "$MASTERS" seq create ids >/dev/null || fail "seq create through the list"
leader=$("$CLI" -m "$MASTERS" -o json status | jq -r .url)
L=
for n in 1 2 3; do
	if [[ ${MURL[n]} == "$leader" ]]; then L=m$n; fi
done
[[ -n $L ]] || fail "the leader $leader is none of the three"
log "leader $L: stopped, as systemctl stop does"
stop "$L"
for ((i = 0; i < 100; i++)); do
	[[ $(roles) == "master standby" ]] && break
	sleep 0.2
done
[[ $(roles) == "master standby" ]] || fail "no new leader: '$(roles)'"
"$CLI" -m "$MASTERS" seq list | grep -q "^ids " || fail "the new leader lost sequence ids"
for n in 1 2 3; do
	if [[ -n ${PIDS[m$n]:-} ]]; then stop "m$n"; fi
done
log "units: OK"
