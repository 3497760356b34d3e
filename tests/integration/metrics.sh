#!/usr/bin/env bash
# Issue 13 item 2: /metrics on a coordinator and on the master, parsed as
# Prometheus text, with values that move as IDs are drawn: IDs issued per
# sequence exactly as many as were handed out (nng and HTTP alike), txids,
# leases and their latency histogram, headroom within two chunks, the
# master's hwm above every ID, live nodes, free worker ids, the fencing
# term and store commits; with the master gone, master_reachable turns 0.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
need curl curl

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
	local p=$((20000 + RANDOM % 12000))
	while port_taken "$p"; do p=$((20000 + RANDOM % 12000)); done
	echo "$p"
}
MH=http://127.0.0.1:$(free_port)
CH=http://127.0.0.1:$(free_port)
[[ $MH != "$CH" ]] || CH=http://127.0.0.1:$(free_port)

# A short worker lease, so that it runs out soon after the master is killed
# below; 4 s rather than less, since under the sanitizers on a loaded
# machine a heartbeat came more than 1.5 s late and the grant lapsed
# (free worker ids read 1024).
start_master --http-listen "$MH" --lease-ttl-ms 4000
"$CLI" -m "$MASTER_URL" seq create orders --chunk 50 --min-chunk 50 --max-chunk 50 >/dev/null
start_coord c1 --http-listen "$CH"

# metric URL NAME [LABELS]: the sample's value ("missing" if absent); the
# whole page must parse (every sample line NAME{LABELS} VALUE).
metric() {
	local page
	page=$(curl -sS --max-time 10 "$1/metrics") || fail "no /metrics at $1"
	awk '!/^#/ && !/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-z_]+="[^"]*"\})? [-+0-9.eInfNa]+$/ { bad = 1; print "bad line: " $0 > "/dev/stderr" } END { exit bad }' \
		<<<"$page" || fail "$1/metrics does not parse"
	local key=$2
	[[ -z ${3:-} ]] || key="$2{$3}"
	awk -v k="$key" '$1 == k { print $2; found = 1 } END { if (!found) print "missing" }' <<<"$page"
}

# The first draw leases the first chunk; everything drawn is counted.
"$CLI" -c "$(coord_url c1)" next orders -n 30 >/dev/null
[[ $(metric "$CH" snowrange_ids_issued_total 'sequence="orders"') == 30 ]] ||
	fail "after 30 IDs: $(metric "$CH" snowrange_ids_issued_total 'sequence="orders"')"
curl -sS "$CH/v1/sequences/orders/ids?count=20" >/dev/null
for ((i = 0; i < 10; i++)); do
	"$CLI" -c "$(coord_url c1)" next orders -n 17 >/dev/null
done
issued=$(metric "$CH" snowrange_ids_issued_total 'sequence="orders"')
((issued == 220)) || fail "ids issued $issued, 220 were drawn"
leases=$(metric "$CH" snowrange_leases_total)
((leases >= 5)) || fail "220 IDs in chunks of 50 but $leases leases"
[[ $(metric "$CH" snowrange_lease_duration_seconds_count) == "$leases" ]] ||
	fail "lease histogram count is not the lease count"
[[ $(metric "$CH" snowrange_lease_duration_seconds_bucket 'le="+Inf"') == "$leases" ]] ||
	fail "lease histogram +Inf is not the lease count"
head=$(metric "$CH" snowrange_chunk_headroom_ids 'sequence="orders"')
((head <= 100)) || fail "headroom $head above two chunks of 50"
# A master on a new store grants the first worker id TTL/3 + grace after it
# started (3.3 s here, docs/snowflake.md "Claims"), longer than the
# daemon's 3 s lease timeout a txid call waits: wait for it first. That
# takes txids too, so the 25 are counted from what it left.
wait_worker c1
base=$(metric "$CH" snowrange_txids_issued_total)
curl -sS "$CH/v1/txids?count=25" >/dev/null
[[ $(metric "$CH" snowrange_txids_issued_total) == $((base + 25)) ]] ||
	fail "txids issued: $(metric "$CH" snowrange_txids_issued_total), $base before 25 were drawn"
[[ $(metric "$CH" snowrange_master_reachable) == 1 ]] || fail "master not reachable"
awk -v v="$(metric "$CH" snowrange_worker_lease_remaining_seconds)" 'BEGIN { exit !(v > 0 && v <= 4) }' ||
	fail "worker lease remaining out of (0, 4]"
ok=$(metric "$CH" snowrange_http_responses_total 'code="2xx"')
((ok >= 2)) || fail "HTTP 2xx count $ok"

# The master.
hwm=$(metric "$MH" snowrange_sequence_hwm 'sequence="orders"')
((hwm >= issued)) || fail "hwm $hwm below the $issued IDs issued"
[[ $(metric "$MH" snowrange_sequence_users 'sequence="orders"') == 1 ]] || fail "users"
[[ $(metric "$MH" snowrange_nodes_live) == 1 ]] || fail "live nodes"
[[ $(metric "$MH" snowrange_worker_ids_free) == 1023 ]] || fail "free worker ids"
[[ $(metric "$MH" snowrange_fencing_term) == 1 ]] || fail "fencing term"
[[ $(metric "$MH" snowrange_store_commit_errors_total) == 0 ]] || fail "commit errors"
commits=$(metric "$MH" snowrange_store_commit_duration_seconds_count)
((commits >= 5)) || fail "only $commits store commits timed"
mleases=$(metric "$MH" snowrange_master_leases_total)
((mleases == leases)) || fail "master leased $mleases, the coordinator got $leases"
log "metrics: $issued IDs, $leases leases, hwm $hwm, $commits commits"

# The master gone: unreachable, and the worker lease runs out.
kill9 master
for ((i = 0; i < 100; i++)); do
	"$CLI" -c "$(coord_url c1)" next orders -n 1 >/dev/null 2>&1 || true
	[[ $(metric "$CH" snowrange_master_reachable) == 0 &&
		$(metric "$CH" snowrange_worker_lease_remaining_seconds) == 0 ]] && break
	sleep 0.2
done
[[ $(metric "$CH" snowrange_master_reachable) == 0 ]] || fail "master still reachable"
[[ $(metric "$CH" snowrange_worker_lease_remaining_seconds) == 0 ]] ||
	fail "worker lease still running without a master"
stop c1
log "metrics: OK"
