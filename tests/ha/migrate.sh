#!/usr/bin/env bash
# Moving a cluster from SQLite to etcd (issue 11, item 4), with real
# processes: a SQLite master, two coordinators and clients drawing IDs and
# txids; the master stopped; `snowrange-master migrate` into a one-member
# etcd started here; two masters started on etcd, the coordinators (never
# restarted) drawing again. Zero duplicates and zero per-coordinator order
# violations over both halves, for IDs and txids; every hwm, node id and
# worker grant carried over, the worker history too (a txid drawn before the
# move decodes to its coordinator after it); the destination's term above
# the source's.
# Then the refusals: a source a master serves (SQLite and etcd), a
# destination that is not empty, bad URLs; and the way back, etcd to SQLite.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh" "$1"
source "$(dirname "$0")/etcd_lib.sh"
need jq jq
DURATION=${SR_IT_DURATION:-3}

start_etcd 1
MIGRATE=("$MASTER_BIN" migrate --etcd-timeout-ms 2000)

# expect_fail RC PATTERN CMD...: CMD exits with RC and says PATTERN on stderr.
expect_fail() {
	local want=$1 pattern=$2 rc=0
	shift 2
	"$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
	((rc == want)) || fail "$* exited $rc, expected $want: $(cat "$WORK/err")"
	grep -q -- "$pattern" "$WORK/err" || fail "$*: no '$pattern' in: $(cat "$WORK/err")"
}

draw() {
	local tag=$1
	"$CLI" --timeout 5000 draw ids --batch 20 -c "$C1" -c "$C2" --duration "$DURATION" \
		--out "$WORK/ids$tag.draw" 2>>"$WORK/draw.log" &
	local a=$!
	"$CLI" --timeout 5000 draw --txids --batch 20 -c "$C1" -c "$C2" --duration "$DURATION" \
		--out "$WORK/tx$tag.draw" 2>>"$WORK/draw.log" &
	local b=$!
	wait "$a" || fail "draw ids $tag failed"
	wait "$b" || fail "draw txids $tag failed"
}

# The nodes and their worker ids as a master says them.
nodes() {
	"$CLI" -m "$1" -o json node list | jq -c '[.nodes[] | {id, name, url, worker_id}]'
}
# What a store holds, as its master says it: sequences with their hwm, and
# nodes (for the way back, with no coordinator left to lease meanwhile).
state() {
	"$CLI" -m "$1" -o json seq list | jq -c '[.sequences[] | {name, hwm, chunk_size, mode}]'
	nodes "$1"
}
etcd_get() {
	ETCDCTL_API=3 etcdctl --endpoints "${ETCD_EP[1]}" get "/snowrange/$1" --print-value-only
}

log "a SQLite master, two coordinators, draws"
start_master
"$CLI" -m "$MASTER_URL" seq create ids --chunk 100 >/dev/null
"$CLI" -m "$MASTER_URL" seq create tix --block --chunk 1 --no-prefetch >/dev/null
"$CLI" -m "$MASTER_URL" seq create gone --start 500 >/dev/null
"$CLI" -m "$MASTER_URL" seq drop gone >/dev/null
for c in c1 c2; do start_coord "$c" --lease-timeout-ms 8000; done
C1=$(coord_url c1) C2=$(coord_url c2)
# A master on a new store grants the first worker ids about 5 s after it
# started (docs/snowflake.md, "Claims"): the txid draw's 5 s timeout must
# not race that.
for c in c1 c2; do wait_worker "$c"; done
"$CLI" -c "$C1" next tix -n 3 >/dev/null
draw 1

log "refused while the SQLite master serves the source"
expect_fail 1 "in use" "${MIGRATE[@]}" --from "sqlite:$WORK/data" --to "$ETCD_URL"
"$CLI" -m "$MASTER_URL" -o json seq list >"$WORK/seqs.json"
nodes_before=$(nodes "$MASTER_URL")
stop master

log "bad URLs and arguments"
expect_fail 2 "not a store URL" "${MIGRATE[@]}" --from "$WORK/data" --to "$ETCD_URL"
expect_fail 2 "no etcd endpoint" "${MIGRATE[@]}" --from "sqlite:$WORK/data" --to "etcd://"
expect_fail 2 "needs --from URL and --to URL" "${MIGRATE[@]}" --from "sqlite:$WORK/data"
expect_fail 2 "same data dir" "${MIGRATE[@]}" --from "sqlite:$WORK/data" \
	--to "sqlite://$WORK/data/"
expect_fail 1 "no SQLite store there" "${MIGRATE[@]}" --from "sqlite:$WORK/nowhere" \
	--to "$ETCD_URL"
[[ ! -e $WORK/nowhere ]] || fail "a missing source dir was created"
expect_fail 1 "EIO" "${MIGRATE[@]}" --from "sqlite:$WORK/data" --to "etcd://127.0.0.1:1/x/"
expect_fail 2 "did you mean migrate" "$MASTER_BIN" migrat --from "sqlite:$WORK/data"
expect_fail 2 "belong to 'snowrange-master migrate'" "$MASTER_BIN" --data-dir "$WORK/data" \
	--from "sqlite:$WORK/data"

log "migrate SQLite -> etcd"
"${MIGRATE[@]}" --from "sqlite:$WORK/data" --to "$ETCD_URL" >"$WORK/migrate.out" ||
	fail "migrate failed: $(cat "$WORK/migrate.out")"
cat "$WORK/migrate.out"
read -r src_term dst_term < <(sed -n \
	's/.*source term \([0-9]*\), destination term \([0-9]*\)$/\1 \2/p' "$WORK/migrate.out") || true
[[ -n ${src_term:-} ]] || fail "migrate did not report the terms"
((dst_term > src_term)) || fail "destination term $dst_term is not above the source's $src_term"
ETCDCTL_API=3 etcdctl --endpoints "${ETCD_EP[1]}" get /snowrange/term --print-value-only |
	grep -qx "$dst_term" || fail "etcd's /snowrange/term is not $dst_term"
grep -q "3 sequences, 2 nodes, 2 worker grants" "$WORK/migrate.out" ||
	fail "migrate did not copy 3 sequences (one a tombstone), 2 nodes, 2 grants"
# Read from etcd before any master serves it (coordinators lease as soon as
# one does): every hwm, node and worker grant as the SQLite master had them.
while read -r name hwm; do
	got=$(etcd_get "seq/$name" | jq -r .hwm)
	[[ $got == "$hwm" ]] || fail "sequence $name: hwm $got in etcd, $hwm before"
done < <(jq -r '.sequences[] | "\(.name) \(.hwm)"' "$WORK/seqs.json")
[[ $(etcd_get seq/gone | jq -r .dropped) == 1 ]] || fail "the tombstone of gone was not copied"
while read -r id name worker; do
	[[ $(etcd_get "node/$(printf %020d "$id")" | jq -r .name) == "$name" ]] ||
		fail "node $id ($name) is not in etcd"
	[[ $(etcd_get "worker/$(printf %010d "$worker")" | jq -r .node_id) == "$id" ]] ||
		fail "the grant of worker $worker to node $id is not in etcd"
done < <(jq -r '.[] | "\(.id) \(.name) \(.worker_id)"' <<<"$nodes_before")

log "refused: the destination is not empty any more"
expect_fail 1 "not empty" "${MIGRATE[@]}" --from "sqlite:$WORK/data" --to "$ETCD_URL"

log "two masters on etcd; the coordinators keep drawing"
"$MASTER_BIN" --store "$ETCD_URL" --listen "$MASTER_URL" >>"$WORK/m1.log" 2>&1 &
PIDS[m1]=$!
for ((i = 0; i < 100; i++)); do
	grep -q "leading: serving" "$WORK/m1.log" && break
	sleep 0.1
done
grep -q "leading: serving $MASTER_URL from $ETCD_URL (term $((dst_term + 1)))" "$WORK/m1.log" ||
	fail "the first master on etcd did not take term $((dst_term + 1))"
"$MASTER_BIN" --store "$ETCD_URL" --listen "ipc://$WORK/m2.ipc" >>"$WORK/m2.log" 2>&1 &
PIDS[m2]=$!

log "refused: a master leads on the etcd source"
expect_fail 1 "leads on it" "${MIGRATE[@]}" --from "$ETCD_URL" --to "sqlite:$WORK/back"

draw 2
# The coordinators were never restarted: same node ids, same worker ids.
nodes_after=$(nodes "$MASTER_URL")
[[ $nodes_after == "$nodes_before" ]] || fail "nodes or worker grants changed in the move:
before: $nodes_before
after:  $nodes_after"
# The worker history came along: a txid drawn before the move is decoded
# by the etcd master as made by the coordinator that drew it.
read -r _ who _ _ _ txid _ < <(grep -m1 '^B ' "$WORK/tx1.draw")
"$CLI" -m "$MASTER_URL" -o json decode "$txid" |
	jq -e --arg who "$who" '.txids[0].node == $who and .txids[0].node_certain' >/dev/null ||
	fail "txid $txid of $who is not decoded as $who's after the move"
for f in ids tx; do
	summary=$("$CLI" verify "$WORK/${f}1.draw" "$WORK/${f}2.draw") ||
		fail "verify $f: $summary"
	echo "$f: $summary"
done

log "and back: etcd -> SQLite"
for c in c1 c2; do stop "$c"; done
final=$(state "$MASTER_URL")
stop m2
stop m1
# The stopped leader revoked its etcd lease, so its leader key is gone; a
# revoke that did not reach etcd leaves it for one TTL (2 s).
for ((i = 0; i < 50; i++)); do
	rc=0
	"${MIGRATE[@]}" --from "$ETCD_URL" --to "sqlite:$WORK/back" >"$WORK/back.out" \
		2>"$WORK/back.err" || rc=$?
	((rc != 0)) && grep -q "in use" "$WORK/back.err" || break
	sleep 0.1
done
((rc == 0)) || fail "migrate back failed: $(cat "$WORK/back.err")"
cat "$WORK/back.out"
BACK_URL=ipc://$WORK/back.ipc
"$MASTER_BIN" --data-dir "$WORK/back" --listen "$BACK_URL" >>"$WORK/back.log" 2>&1 &
PIDS[back]=$!
wait_ready "$BACK_URL"
back=$(state "$BACK_URL")
[[ $back == "$final" ]] || fail "the way back changed the state:
etcd:   $final
SQLite: $back"
stop back
log "migrate: OK"
