#!/usr/bin/env bash
# Clients that connect to a tls+tcp:// listener and never finish the TLS
# handshake (docs/reliability.md, "A TLS peer that leaves right after
# connecting"): with nng 1.5.2 the SP handshake's 10 s timeout cannot end a
# TLS handshake, and such connections are not pipes yet, so no connection
# cap counted them and the master kept every one for as long as the client
# liked: an attacker without any credential could take all its descriptors.
# common/wire.c's reaper now shuts such a connection down once it has been
# connected for WIRE_HANDSHAKE_MS without becoming a pipe, and nng frees it.
#
# N connections of each kind (silent: nothing sent; halfhello: half a
# ClientHello) are held open against a master on tls+tcp://; the master's
# descriptors (/proc/PID/fd) must come back to what they were within the
# handshake deadline and a few seconds, and the CLI (with its certificate)
# must be served meanwhile and afterwards. The same attack against tcp://
# and ipc:// (nng's own handshake timeout ends it there) is held to the
# same bound.
#
# Usage: tls_silent.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/tls_lib.sh" "$1"
N=200
# The handshake deadline (10 s, WIRE_HANDSHAKE_MS) plus the reaper's
# second, plus slack for a loaded machine: the connections are held longer
# than this, so a server that never ends them fails.
BOUND=25
HOLD=$((BOUND + 5))

fds() { ls "/proc/$1/fd" | wc -l; }

# status URL: one CLI status call; the TLS files and token only for
# tls+tcp:// (the CLI refuses them for another URL).
status() {
	if [[ $1 == tls+tcp://* ]]; then
		"$CLI" -m "$1" --timeout 5000 status >/dev/null 2>&1
	else
		env -u SNOWRANGE_TLS_CERT -u SNOWRANGE_TLS_KEY -u SNOWRANGE_TLS_CA \
			-u SNOWRANGE_TOKEN_FILE "$CLI" -m "$1" --timeout 5000 status >/dev/null 2>&1
	fi
}

# attack_hold NAME URL KIND: holds N connections of KIND for HOLD seconds;
# meanwhile the descriptors must rise (the attack arrived) and come back to
# the count before within BOUND seconds, with the CLI served throughout.
attack_hold() {
	local name=$1 url=$2 kind=$3 pid=${PIDS[$1]} before n=0 peak=0 t0 back=-1 ok=0 bad=0 apid
	before=$(fds "$pid")
	"$ATTACK" "$url" hold "$N" "$kind" "$HOLD" >"$WORK/$name.$kind.out" 2>&1 &
	apid=$!
	PIDS[attack]=$apid
	t0=$SECONDS
	while ((SECONDS - t0 < BOUND)); do
		n=$(fds "$pid")
		((n > peak)) && peak=$n
		if ((peak > before + N / 2 && n <= before)); then
			back=$((SECONDS - t0))
			break
		fi
		if status "$url"; then
			ok=$((ok + 1))
		else
			bad=$((bad + 1))
		fi
		sleep 0.5
	done
	wait "$apid" || fail "$name: attack hold $kind: $(cat "$WORK/$name.$kind.out")"
	status "$url" ||
		fail "$name: the CLI is not served after $N $kind connections"
	log "$name: $N x $kind held: $before -> peak $peak -> $n descriptors" \
		"(back after ${back}s, -1: not within ${BOUND}s); CLI status $ok ok, $bad failed meanwhile;" \
		"attack: $(tail -n 1 "$WORK/$name.$kind.out") still open at ${HOLD}s"
	((peak > before + N / 2)) || fail "$name: the $kind connections never reached the master ($before -> peak $peak)"
	((back >= 0)) ||
		fail "$name: $n descriptors ${BOUND}s into $N held $kind connections, $before before"
	((bad == 0)) || fail "$name: $bad CLI status calls failed during the $kind attack"
}

low_port() {
	local p i
	for ((i = 0; i < 50; i++)); do
		p=$((20000 + RANDOM % 12000))
		port_taken "$p" || break
	done
	echo "$p"
}
TLS_URL=tls+tcp://127.0.0.1:$(low_port)
start_master_at tls "$TLS_URL" $(master_creds) -- status "$TLS_URL"
attack_hold tls "$TLS_URL" silent
attack_hold tls "$TLS_URL" halfhello

TCP_URL=tcp://127.0.0.1:$(low_port)
start_master_at tcp "$TCP_URL" -- status "$TCP_URL"
attack_hold tcp "$TCP_URL" silent

IPC=ipc://$WORK/ipc.sock
start_master_at ipc "$IPC" -- status "$IPC"
attack_hold ipc "$IPC" silent
log "PASS: silent and half-handshake connections end on tls+tcp, tcp and ipc"
