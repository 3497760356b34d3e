#!/usr/bin/env bash
# Daemon lifecycle as an operator sees it (issue 14): a coordinator binds its
# listen URL before it joins, so a URL in use leaves no node behind; a
# stopped server is refused at once; the CLI waits long enough to see a
# coordinator's SR_EUNAVAILABLE; several -c are tried in order.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"

start_master
"$CLI" -m "$MASTER_URL" seq create s >/dev/null
"$CLI" -m "$MASTER_URL" seq create lazy --chunk 1 --no-prefetch >/dev/null
start_coord c1

# Bind before join: a second coordinator on a used URL fails without
# joining. Over tcp: nng probing a used ipc path would stop the first
# one's listener for a while (nng #1518, common/wire.c).
# A random port may be taken: then tc exits and another is tried.
up=0
for ((try = 0; try < 10 && !up; try++)); do
	port=$((20000 + RANDOM % 30000))
	"$COORD_BIN" join "$MASTER_URL" --name tc --listen "tcp://127.0.0.1:$port" \
		>>"$WORK/tc.log" 2>&1 &
	PIDS[tc]=$!
	for ((i = 0; i < 100; i++)); do
		kill -0 "${PIDS[tc]}" 2>/dev/null || break
		"$CLI" -c "tcp://127.0.0.1:$port" --timeout 500 status >/dev/null 2>&1 && up=1 && break
		sleep 0.1
	done
	((up)) || kill9 tc
done
((up)) || fail "no coordinator on a random tcp port came up: $(cat "$WORK/tc.log")"
rc=0
timeout 20 "$COORD_BIN" join "$MASTER_URL" --name clash --listen "tcp://127.0.0.1:$port" \
	>"$WORK/clash.log" 2>&1 || rc=$?
((rc == 1)) || fail "coordinator on a used URL exited $rc: $(cat "$WORK/clash.log")"
"$CLI" -m "$MASTER_URL" node list >"$WORK/nodes"
! grep -q clash "$WORK/nodes" || fail "the coordinator that could not bind joined: $(cat "$WORK/nodes")"

# -c A -c B: a dead A is reported and B serves.
"$CLI" -c "ipc://$WORK/nobody.ipc" -c "$(coord_url c1)" next s -n 2 >"$WORK/out" 2>"$WORK/err" ||
	fail "next with a dead first -c failed: $(cat "$WORK/err")"
(($(wc -l <"$WORK/out") == 2)) || fail "next with two -c printed $(cat "$WORK/out")"
grep -q "trying $(coord_url c1)" "$WORK/err" || fail "the dead first -c was not reported: $(cat "$WORK/err")"

# A stopped master: refused at once, not after --timeout.
kill9 master
for url in "$MASTER_URL" tcp://127.0.0.1:1; do
	t0=$(date +%s%N)
	rc=0
	"$CLI" -m "$url" --timeout 10000 status 2>"$WORK/err" || rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	((rc == 1)) || fail "status of a stopped master ($url) exited $rc"
	grep -q ECONNECT "$WORK/err" || fail "stopped master ($url): $(cat "$WORK/err")"
	((ms < 5000)) || fail "stopped master ($url) took $ms ms to report"
	log "stopped master $url reported in $ms ms"
done

# With the master gone and no chunk held, the coordinator's wait ends in
# SR_EUNAVAILABLE (lease-timeout-ms 3000) before the CLI's default timeout.
rc=0
"$CLI" -c "$(coord_url c1)" next lazy 2>"$WORK/err" || rc=$?
((rc == 1)) || fail "next without a master exited $rc"
grep -q EUNAVAILABLE "$WORK/err" || fail "next without a master: $(cat "$WORK/err")"
stop c1
stop tc
log "lifecycle: OK"
