#!/usr/bin/env bash
# Issue 10 item 3: `snowrange node remove` forgets a dead node and needs the
# admin role; a live node is refused; the name joins again as a new node id
# and its txids stay above those it issued before. Nodes dead for longer
# than --node-retention are forgotten by the master itself. Mutual TLS and
# tokens on (scripts/mkcerts).
set -euo pipefail
source "$(dirname "$0")/tls_lib.sh" "$1"

# The sweep runs at most once a minute: the first heartbeat after a start
# sweeps, which is the one this test can wait for.
start_master $(master_creds) --lease-ttl-ms 1500 --worker-grace-ms 500
start_coord coord-1 $(coord_creds coord-1)
start_coord coord-2 $(coord_creds coord-2)
C1=$(coord_url coord-1)
id1=$("$CLI" -m "$MASTER_URL" -o json node list | jq -r '.nodes[] | select(.name == "coord-1") | .id')
[[ -n $id1 ]] || fail "coord-1 not listed"

# Refused while live, with a clear reason.
out=$("$CLI" -m "$MASTER_URL" node remove coord-1 2>&1) && fail "live node removed: $out"
[[ $out == *EEXISTS*live* ]] || fail "live node: expected EEXISTS and why, got: $out"
# Refused without the admin role.
for role in reader client; do
	out=$(SNOWRANGE_TOKEN_FILE=$(tokens_of $role) "$CLI" -m "$MASTER_URL" node remove coord-2 2>&1) &&
		fail "node remove succeeded as $role"
	[[ $out == *EACCES* ]] || fail "node remove as $role: expected EACCES, got: $out"
done

# Dead (left): removed by name, then by id; gone from node list.
stop coord-1
"$CLI" -m "$MASTER_URL" node remove coord-1 >"$WORK/out" || fail "node remove coord-1 failed"
grep -q "removed node $id1" "$WORK/out" || fail "unexpected: $(cat "$WORK/out")"
"$CLI" -m "$MASTER_URL" node list | grep -q 'coord-1' && fail "coord-1 still listed"
out=$("$CLI" -m "$MASTER_URL" node remove coord-1 2>&1) && fail "removed twice"
[[ $out == *ENOTJOINED* ]] || fail "second remove: $out"

# It joins again as a new node, and works.
start_coord coord-1 $(coord_creds coord-1)
id1b=$("$CLI" -m "$MASTER_URL" -o json node list | jq -r '.nodes[] | select(.name == "coord-1") | .id')
((id1b > id1)) || fail "coord-1 rejoined with id $id1b, not above $id1"
stop coord-1
stop coord-2
stop master

# Retention: both nodes left; a master with --node-retention 1 forgets them
# on its first sweep (the first heartbeat of a new node).
sleep 3
start_master $(master_creds) --lease-ttl-ms 1500 --node-retention 1
sleep 3
start_coord coord-3 $(coord_creds coord-3)
for ((i = 0; i < 50; i++)); do
	grep -q "forgot 2 nodes" "$WORK/master.log" && break
	sleep 0.2
done
((i < 50)) || fail "dead nodes not forgotten after --node-retention"
n=$("$CLI" -m "$MASTER_URL" -o json node list | jq '.nodes | length')
[[ $n -eq 1 ]] || fail "node list shows $n nodes after the retention sweep, not 1"
stop coord-3
stop master
log "node_remove: OK"
