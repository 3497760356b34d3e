#!/usr/bin/env bash
# Descriptors after connection churn (issue 10, item 11: a master once held
# one descriptor per connection it had served, 7,236 of them). Three masters,
# on tcp://, tls+tcp:// (mutual TLS and tokens) and ipc://; against each,
# 200 connections of every kind tests/security/attack's churn makes, one
# after the other: a whole Status exchange, a connect then close, a reset, an
# SP header then close, a header and part of a message then close, bytes
# that are neither SP nor TLS; on tls+tcp also a client that completes the
# TLS and SP handshakes and closes at once (hsdrop). The master's open
# descriptors (/proc/PID/fd) must come back to what they were before.
#
# hsdrop is the CI failure of December 2026 ("12 descriptors after 200
# partial connections, 11 before"): that connection was attack's own
# channel, opened and closed before each churn. nng 1.5.2's TLS layer loses
# the peer's EOF when it arrives before the pipe's first receive, and the
# pipe then waits for ever; the master kept it until its 60 s idle timeout.
# The server's reaper now closes a connection whose peer is gone within a
# second or two, well inside settle. Not churned: hsrst, the same client
# leaving with a reset, which nng 1.5.2 can strand in its negotiation for
# good (both in docs/reliability.md, "A TLS peer that leaves right after
# connecting").
#
# One known exception, nng 1.5.2's (docs/reliability.md, "Descriptors"): a
# handshake dropped on an ipc listener stops its accept loop (nng #1518), and
# the listener watchdog of common/wire.c restarts it; nng never frees the
# dead listener, nor the connections that completed their handshake on it
# while it was dead (the watchdog's probe at least). So on ipc the raw kinds
# that never complete a handshake (drop, rst, junk) may leave at most
# PER_RESTART descriptors per restart the master logged, and the Status
# churn afterwards none. The kinds that complete a handshake and then drop
# (header, partial) are not churned on ipc: each one that lands while the
# listener is dead is parked by nng for good, one descriptor each, however
# many come in that window (the leak itself, bounded only by the window).
#
# Usage: fd_churn.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/tls_lib.sh" "$1"
N=200
PER_RESTART=3
KINDS=(status drop rst header partial junk hsdrop)
# Known nng 1.5.2 leak on a dead ipc listener (see above); only inside
# libnng, here only.
printf 'leak:libnng.so\n' >"$WORK/lsan.supp"
export LSAN_OPTIONS="suppressions=$WORK/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

# settle PID WANT [LOG]: waits (bounded: 15 s) until PID has at most WANT
# open descriptors (closing is asynchronous in nng: its reaper thread frees
# them), plus PER_RESTART for every listener restart LOG shows beyond the
# ones it showed at the start; prints the count and leaves the allowance in
# the file $WORK/allowed.
settle() {
	local pid=$1 want=$2 log=${3:-} i n r0=0 r allowed=$2
	[[ -n $log ]] && r0=$(grep -c "stopped accepting" "$log" || true)
	for ((i = 0; i < 150; i++)); do
		n=$(fds "$pid")
		allowed=$want
		if [[ -n $log ]]; then
			r=$(grep -c "stopped accepting" "$log" || true)
			allowed=$((want + PER_RESTART * (r - r0)))
		fi
		((n <= allowed)) && break
		sleep 0.1
	done
	echo "$allowed" >"$WORK/allowed"
	echo "$n"
}

# churn NAME URL STRICT: every kind against the master NAME; STRICT 1: no
# descriptor may be left, 0: at most PER_RESTART per logged restart.
churn() {
	local name=$1 url=$2 strict=$3 pid=${PIDS[$1]} before after restarts allowed k
	local kinds=("${KINDS[@]}")
	# hsdrop needs TLS.
	[[ $url == tls+tcp://* ]] || kinds=(status drop rst header partial junk)
	((strict)) || kinds=(status drop rst junk)
	before=$(fds "$pid")
	for k in "${kinds[@]}"; do
		# Whole exchanges and handshakes must all have worked, or the
		# count would say nothing about them.
		"$ATTACK" "$url" churn "$N" "$k" >"$WORK/$name.$k.out" 2>&1 ||
			[[ $k != status && $k != hsdrop || $strict == 0 ]] ||
			fail "$name: $k churn: $(cat "$WORK/$name.$k.out")"
		restarts=$(grep -c "stopped accepting" "$WORK/$name.log" || true)
		allowed=$before
		((strict)) || allowed=$((before + PER_RESTART * restarts))
		if ((strict)); then
			after=$(settle "$pid" "$allowed")
		else
			after=$(settle "$pid" "$allowed" "$WORK/$name.log")
			allowed=$(cat "$WORK/allowed")
		fi
		log "$name: $N x $k: $before -> $after descriptors (at most $allowed)"
		((after <= allowed)) ||
			fail "$name: $after descriptors after $N $k connections, $before before (at most $allowed)"
	done
}

TCP_URL=tcp://127.0.0.1:$(low_port)
TLS_URL=tls+tcp://127.0.0.1:$(low_port)
start_master_at tcp "$TCP_URL" -- "$ATTACK" "$TCP_URL" churn 1 status
# attack's Status exchanges as the admin, over mutual TLS.
export ATTACK_TLS_CERT=$CREDS/admin.pem ATTACK_TLS_KEY=$CREDS/admin.key \
	ATTACK_TLS_CA=$CREDS/ca.pem ATTACK_TOKEN_FILE=$CREDS/admin.tokens
start_master_at tls "$TLS_URL" $(master_creds) -- "$ATTACK" "$TLS_URL" churn 1 status
churn tls "$TLS_URL" 1
unset ATTACK_TLS_CERT ATTACK_TLS_KEY ATTACK_TLS_CA ATTACK_TOKEN_FILE

churn tcp "$TCP_URL" 1

IPC=ipc://$WORK/ipc.sock
start_master_at ipc "$IPC" -- "$ATTACK" "$IPC" churn 1 status
churn ipc "$IPC" 0
# Once the listener serves again, whole exchanges leave nothing more.
for ((i = 0; i < 60; i++)); do
	"$ATTACK" "$IPC" churn 1 status >/dev/null 2>&1 && break
	sleep 0.5
done
sleep 1
before=$(fds "${PIDS[ipc]}")
restarts=$(grep -c "stopped accepting" "$WORK/ipc.log" || true)
"$ATTACK" "$IPC" churn "$N" status >/dev/null || log "ipc: some Status exchanges failed (listener restarted?)"
now=$(grep -c "stopped accepting" "$WORK/ipc.log" || true)
allowed=$((before + PER_RESTART * (now - restarts)))
after=$(settle "${PIDS[ipc]}" "$allowed")
((after <= allowed)) ||
	fail "ipc: $after descriptors after $N Status exchanges, $before before ($((now - restarts)) restarts meanwhile)"
log "ipc: $N x status once the listener serves: $before -> $after descriptors"
log "PASS: no descriptor left on tcp and tls; on ipc only those of nng's dead listeners ($now restarts)"
