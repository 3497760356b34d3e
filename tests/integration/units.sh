#!/usr/bin/env bash
# The systemd units of dist/systemd pass `systemd-analyze verify` (issue 14
# item 4), without systemd running as PID 1 (a container, a build machine):
# verify loads the units offline and checks every directive, the
# ExecStart binaries and the sandboxing options this systemd knows. The
# units' /usr/bin and /etc/snowrange paths are pointed at the build tree.
# That the check is real is shown on a copy with a misspelt directive and
# one whose binary does not exist: both must be reported. (package.sh runs
# the same check on the units as packaged; this one runs with every build.)
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
need systemd-analyze systemd
BIN=$(cd "$BUILD" && pwd) # absolute: ExecStart takes no relative path

mkdir -p "$WORK/units" "$WORK/bad"
for u in snowrange-master snowrange-master-etcd snowrange-coordinator; do
	sed -e "s|/usr/bin/|$BIN/|g" -e "s|/etc/snowrange/|$SRC/etc/|g" \
		"$SRC/dist/systemd/$u.service" >"$WORK/units/$u.service"
done
# (--man=no: the man pages are not installed where man looks.)
verify() {
	systemd-analyze verify --man=no "$@" >"$WORK/verify.log" 2>&1
}
verify "$WORK"/units/*.service || fail "systemd-analyze verify: $(cat "$WORK/verify.log")"
if grep -q . "$WORK/verify.log"; then
	fail "systemd-analyze verify complains: $(cat "$WORK/verify.log")"
fi

# A misspelt directive and a missing binary are found.
sed -e 's/^NoNewPrivileges=/NoNewPrivilege=/' "$WORK/units/snowrange-master.service" \
	>"$WORK/bad/snowrange-master.service"
verify "$WORK/bad/snowrange-master.service" || true
grep -q "NoNewPrivilege" "$WORK/verify.log" ||
	fail "a misspelt directive passed verify: $(cat "$WORK/verify.log")"
sed -e "s|$BIN/snowrange-master|$WORK/no-such-binary|" "$WORK/units/snowrange-master.service" \
	>"$WORK/bad/snowrange-master.service"
if verify "$WORK/bad/snowrange-master.service"; then
	fail "a unit whose binary is missing passed verify: $(cat "$WORK/verify.log")"
fi
grep -q "no-such-binary" "$WORK/verify.log" ||
	fail "the missing binary is not named: $(cat "$WORK/verify.log")"
log "units: OK"
