#!/usr/bin/env bash
# Daemon lifecycle as an operator sees it (issue 14): a coordinator binds its
# listen URL before it joins, so a URL in use leaves no node behind; a
# stopped server is refused at once; the CLI waits long enough to see a
# coordinator's SR_EUNAVAILABLE; several -c are tried in order; SIGHUP
# reopens the log and stops nothing; log levels and JSON; losing and
# regaining the master and re-joining are logged.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
need jq jq

start_master --log-file "$WORK/master-file.log"
"$CLI" -m "$MASTER_URL" seq create s >/dev/null
"$CLI" -m "$MASTER_URL" seq create lazy --chunk 1 --no-prefetch >/dev/null
start_coord c1
# c1 holds a worker id before c2 joins and before the master is replaced
# below (a new master grants its first one TTL/3 + grace after its start).
wait_worker c1
start_coord c2 --log-level warn --log-format json --log-file "$WORK/c2.json"

# SIGHUP: the master reopens its log file (moved away by a rotation) and
# keeps serving.
mv "$WORK/master-file.log" "$WORK/master-file.log.1"
kill -HUP "${PIDS[master]}"
for ((i = 0; i < 50; i++)); do
	grep -q "SIGHUP: log reopened" "$WORK/master-file.log" 2>/dev/null && break
	sleep 0.1
done
grep -q "SIGHUP: log reopened" "$WORK/master-file.log" || fail "SIGHUP did not reopen the master's log"
grep -q "serving" "$WORK/master-file.log.1" || fail "the master's first log file lacks its start"
kill -0 "${PIDS[master]}" || fail "SIGHUP stopped the master"
"$CLI" -m "$MASTER_URL" status >/dev/null || fail "the master does not answer after SIGHUP"
kill -HUP "${PIDS[c2]}"
sleep 0.3
kill -0 "${PIDS[c2]}" || fail "SIGHUP stopped the coordinator"

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

# A list of masters whose first one is dead (docs/ha.md: one of three
# down): a fresh CLI goes to the live one at once, not after --timeout
# spent on the dead one (it did: wire.c's call_list picked the first
# member before any had connected).
t0=$(date +%s%N)
"$CLI" -m "ipc://$WORK/nobody.ipc,$MASTER_URL" --timeout 10000 seq list >/dev/null 2>"$WORK/err" ||
	fail "a list with a dead first master: $(cat "$WORK/err")"
ms=$((($(date +%s%N) - t0) / 1000000))
((ms < 5000)) || fail "a list with a dead first master took $ms ms"
log "a list with a dead first master answered in $ms ms"

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

# Losing the master is logged once, as a warning (c2 logs warnings only,
# as JSON objects).
for ((i = 0; i < 100; i++)); do
	grep -q '"level":"warn","who":"c2","msg":"lost the master' "$WORK/c2.json" 2>/dev/null && break
	sleep 0.1
done
grep -q '"level":"warn","who":"c2","msg":"lost the master' "$WORK/c2.json" ||
	fail "c2 did not log losing the master: $(cat "$WORK/c2.json")"
! grep -q '"level":"info"' "$WORK/c2.json" || fail "--log-level warn logged info: $(cat "$WORK/c2.json")"
grep -q "c1: WARN: lost the master" "$WORK/c1.log" || fail "c1 did not log losing the master"

# With the master gone and no chunk held, the coordinator's wait ends in
# SR_EUNAVAILABLE (lease-timeout-ms 3000) before the CLI's default timeout.
rc=0
"$CLI" -c "$(coord_url c1)" next lazy 2>"$WORK/err" || rc=$?
((rc == 1)) || fail "next without a master exited $rc"
grep -q EUNAVAILABLE "$WORK/err" || fail "next without a master: $(cat "$WORK/err")"
# A master with a new store has forgotten the nodes: c1 joins again and
# says so, and that the master answers again. While c1 is stopped a new
# node joins the new master first and takes node id 1, c1's old id: c1's
# next heartbeat must not act as that node, but join again. The newcomer
# gets no worker id yet (the new master waits for claims), c1's Join
# claims its own and c1 keeps it (docs/snowflake.md, "Claims"): before
# claims the newcomer took c1's worker id 0 at once.
kill -STOP "${PIDS[c1]}"
"$MASTER_BIN" --data-dir "$WORK/data2" --listen "$MASTER_URL" >>"$WORK/master.log" 2>&1 &
PIDS[master]=$!
wait_ready "$MASTER_URL"
start_coord newcomer
kill -CONT "${PIDS[c1]}"
for ((i = 0; i < 150; i++)); do
	grep -q "joined again as node" "$WORK/c1.log" && grep -q "answers again" "$WORK/c1.log" && break
	sleep 0.1
done
grep -q "c1: WARN: the master had forgotten this node: joined again as node" "$WORK/c1.log" ||
	fail "c1 did not log its re-join: $(tail -5 "$WORK/c1.log")"
grep -q "c1: the master .* answers again" "$WORK/c1.log" || fail "c1 did not log the master's return"
"$CLI" -m "$MASTER_URL" -o json node list >"$WORK/nodes.json"
id_c1=$(jq -r '.nodes[] | select(.name == "c1") | .id' "$WORK/nodes.json")
id_new=$(jq -r '.nodes[] | select(.name == "newcomer") | .id' "$WORK/nodes.json")
[[ -n $id_c1 && -n $id_new && $id_c1 != "$id_new" ]] || fail "c1 and newcomer: $(cat "$WORK/nodes.json")"
w_c1=$("$CLI" -c "$(coord_url c1)" -o json status | jq -r .worker_id)
w_new=$("$CLI" -c "$(coord_url newcomer)" -o json status | jq -r .worker_id)
[[ $w_c1 != null ]] || fail "c1 lost its worker id to the new master"
[[ $w_c1 != "$w_new" ]] || fail "c1 and newcomer both hold worker id $w_c1"
stop newcomer
stop c1
stop master
log "lifecycle: OK"
