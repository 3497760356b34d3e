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
# same bound. A coordinator daemon joined to the tls+tcp:// master serves
# its own tls+tcp:// port with the same server code (common/wire.c); N
# silent and N halfhello connections held against it at once must end the
# same way, its CLI status served throughout.
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

# status -m|-c URL: one CLI status call to the master (-m) or a
# coordinator (-c) at URL; the TLS files and token only for tls+tcp:// (the
# CLI refuses them for another URL).
status() {
	if [[ $2 == tls+tcp://* ]]; then
		"$CLI" "$1" "$2" --timeout 5000 status >/dev/null 2>&1
	else
		env -u SNOWRANGE_TLS_CERT -u SNOWRANGE_TLS_KEY -u SNOWRANGE_TLS_CA \
			-u SNOWRANGE_TOKEN_FILE "$CLI" "$1" "$2" --timeout 5000 status >/dev/null 2>&1
	fi
}

# attack_hold -m|-c NAME URL KIND...: holds N connections of each KIND, all
# at once, for HOLD seconds against the master (-m) or coordinator (-c)
# NAME at URL; meanwhile its descriptors must rise (the attack arrived) and
# come back to the count before within BOUND seconds, with the CLI served
# throughout.
attack_hold() {
	local role=$1 name=$2 url=$3 pid=${PIDS[$2]} before n=0 peak=0 t0 back=-1 ok=0 bad=0
	local kinds=("${@:4}") total k apids=() i what=
	total=$((N * ${#kinds[@]}))
	for k in "${kinds[@]}"; do
		what+="${what:+, }$N x $k"
	done
	before=$(fds "$pid")
	for k in "${kinds[@]}"; do
		"$ATTACK" "$url" hold "$N" "$k" "$HOLD" >"$WORK/$name.$k.out" 2>&1 &
		apids+=($!)
		PIDS["attack-$k"]=$!
	done
	t0=$SECONDS
	while ((SECONDS - t0 < BOUND)); do
		n=$(fds "$pid")
		((n > peak)) && peak=$n
		if ((peak > before + total / 2 && n <= before)); then
			back=$((SECONDS - t0))
			break
		fi
		if status "$role" "$url"; then
			ok=$((ok + 1))
		else
			bad=$((bad + 1))
		fi
		sleep 0.5
	done
	for i in "${!kinds[@]}"; do
		k=${kinds[$i]}
		wait "${apids[$i]}" || fail "$name: attack hold $k: $(cat "$WORK/$name.$k.out")"
		unset "PIDS[attack-$k]"
	done
	status "$role" "$url" ||
		fail "$name: the CLI is not served after $what connections"
	log "$name: $what held: $before -> peak $peak -> $n descriptors" \
		"(back after ${back}s, -1: not within ${BOUND}s); CLI status $ok ok, $bad failed meanwhile;" \
		"attack: $(for k in "${kinds[@]}"; do echo -n "$k $(tail -n 1 "$WORK/$name.$k.out") "; done)still open at ${HOLD}s"
	((peak > before + total / 2)) ||
		fail "$name: the $what connections never reached it ($before -> peak $peak)"
	((back >= 0)) ||
		fail "$name: $n descriptors ${BOUND}s into $what held connections, $before before"
	((bad == 0)) || fail "$name: $bad CLI status calls failed during the $what attack"
}

TLS_URL=tls+tcp://127.0.0.1:$(low_port)
start_master_at tls "$TLS_URL" $(master_creds) -- status -m "$TLS_URL"
attack_hold -m tls "$TLS_URL" silent
attack_hold -m tls "$TLS_URL" halfhello

# The coordinator daemon, joined to that master over mutual TLS, with its
# own certificate on its own tls+tcp:// port: both kinds at once, so that
# it adds one hold, not two, to the test's time.
COORD_URL=tls+tcp://127.0.0.1:$(low_port)
MASTER_URL=$TLS_URL
coord_url() { echo "$COORD_URL"; }
start_coord coord-1 $(coord_creds coord-1)
attack_hold -c coord-1 "$COORD_URL" silent halfhello

TCP_URL=tcp://127.0.0.1:$(low_port)
start_master_at tcp "$TCP_URL" -- status -m "$TCP_URL"
attack_hold -m tcp "$TCP_URL" silent

IPC=ipc://$WORK/ipc.sock
start_master_at ipc "$IPC" -- status -m "$IPC"
attack_hold -m ipc "$IPC" silent
log "PASS: silent and half-handshake connections end on tls+tcp (master and coordinator), tcp and ipc"
