#!/usr/bin/env bash
# Issue 13 item 3: the master's live status page in a real browser.
# Headless Chromium loads it from a running cluster (with role tokens: the
# page takes the reader token from #token=), waits for the live data, and
# the DOM must show the cluster's nodes and sequences, alive and dead as
# they are, and each coordinator's chunks and headroom as its heartbeats
# report them to the master (the same in `snowrange status -o json`);
# without a token the page says why it shows nothing. A
# screenshot is saved (SR_SCREENSHOT=FILE copies it there, which is how
# docs/status-page.png was made).
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
need chromium chromium
need curl curl
need jq jq

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
HP=$((20000 + RANDOM % 12000))
while port_taken "$HP"; do HP=$((20000 + RANDOM % 12000)); done
H=http://127.0.0.1:$HP

T_READER=reader-token-0123456789abcdef
T_ADMIN=admin-token-0123456789abcdefgh
T_NODE=node-token-0123456789abcdefghij
printf 'reader %s\nadmin %s\nnode %s\n' "$T_READER" "$T_ADMIN" "$T_NODE" >"$WORK/master.tokens"
printf 'node %s\nreader %s\nadmin %s\n' "$T_NODE" "$T_READER" "$T_ADMIN" >"$WORK/coord.tokens"
printf 'admin %s\nreader %s\n' "$T_ADMIN" "$T_READER" >"$WORK/cli.tokens"
chmod 600 "$WORK"/*.tokens
export SNOWRANGE_TOKEN_FILE=$WORK/cli.tokens

start_master --http-listen "$H" --token-file "$WORK/master.tokens" --lease-ttl-ms 1500
"$CLI" -m "$MASTER_URL" seq create orders >/dev/null
"$CLI" -m "$MASTER_URL" seq create invoices --block >/dev/null
for n in c1 c2 c3; do
	start_coord "$n" --token-file "$WORK/coord.tokens"
	"$CLI" -c "$(coord_url "$n")" next orders -n 1500 >/dev/null
done
"$CLI" -c "$(coord_url c1)" next invoices -n 10 >/dev/null
kill9 c3 # a dead node must show as dead
sleep 2

# What c1 holds, by its own account (nothing is drawn from here on, and
# with a 1.5 s TTL it has reported it in several heartbeats since).
headroom() { # headroom NODE SEQUENCE: IDs left in its chunks of SEQUENCE
	"$CLI" -c "$(coord_url "$1")" -o json status |
		jq -r --arg s "$2" '[.chunks[] | select(.sequence == $s) | .c - .used] | add // 0'
}
hr_orders=$(headroom c1 orders)
hr_invoices=$(headroom c1 invoices)
nchunks=$("$CLI" -c "$(coord_url c1)" -o json status | jq '[.chunks[] | select(.c > .used)] | length')
((hr_orders > 0 && hr_invoices > 0)) || fail "c1 holds no headroom: $hr_orders $hr_invoices"
# The master's view, as `snowrange status -o json` prints it.
"$CLI" -m "$MASTER_URL" -o json status >"$WORK/status.json"
jq -e --arg o "$hr_orders" --arg i "$hr_invoices" --argjson n "$nchunks" '
	.nodes[] | select(.name == "c1") | .held |
	.chunks == $n and .sequences == 2 and
	(.seqs[] | select(.name == "orders") | .headroom) == $o and
	(.seqs[] | select(.name == "invoices") | .headroom) == $i' "$WORK/status.json" >/dev/null ||
	fail "status -o json does not show c1 holding $nchunks chunks, orders $hr_orders, invoices $hr_invoices: $(jq -c '.nodes' "$WORK/status.json")"
jq -e '.nodes[] | select(.name == "c2") | .held.seqs | map(.name) == ["orders"]' \
	"$WORK/status.json" >/dev/null || fail "c2's held summary: $(jq -c '.nodes' "$WORK/status.json")"

# dom URL: the DOM once the page's script ran (virtual time: its first
# fetch and refresh happen within the budget).
dom() {
	timeout 90 chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
		--user-data-dir="$WORK/chromium" --virtual-time-budget=8000 --dump-dom "$1" \
		2>>"$WORK/chromium.log"
}
dom "$H/#token=$T_READER" >"$WORK/page.html" || fail "chromium failed (see $WORK/chromium.log)"
grep -q 'data-loaded="1"' "$WORK/page.html" || fail "the page never showed live data"
for n in c1 c2; do
	grep -q "<tr data-name=\"$n\" data-alive=\"1\">" "$WORK/page.html" || fail "node $n not shown alive"
done
grep -q '<tr data-name="c3" data-alive="0">' "$WORK/page.html" || fail "dead node c3 not shown dead"
# c1's row shows its chunks and the headroom of both sequences it draws from.
row=$(grep -oP '<tr data-name="c1" data-alive="1">.*?</tr>' "$WORK/page.html") ||
	fail "no row for c1"
grep -qF "data-chunks=\"$nchunks\"" <<<"$row" || fail "c1's row does not show $nchunks chunks: $row"
grep -qF "data-seq=\"orders\" data-headroom=\"$hr_orders\"" <<<"$row" ||
	fail "c1's row does not show the headroom $hr_orders of orders: $row"
grep -qF "data-seq=\"invoices\" data-headroom=\"$hr_invoices\"" <<<"$row" ||
	fail "c1's row does not show the headroom $hr_invoices of invoices: $row"
hwm=$("$CLI" -m "$MASTER_URL" -o json seq list | grep -o '"name":"orders"[^}]*"hwm":"\?[0-9]*' | grep -o '[0-9]*$')
grep -q "<tr data-name=\"orders\" data-hwm=\"$hwm\">" "$WORK/page.html" ||
	fail "sequence orders not shown with hwm $hwm"
grep -q '<tr data-name="invoices"' "$WORK/page.html" || fail "sequence invoices not shown"
grep -q 'block' "$WORK/page.html" || fail "the block mode is not shown"
grep -q 'node c1 joined' "$WORK/page.html" || fail "no join in the recent events"
# The token left the address bar and went nowhere else.
! grep -rqF "$T_READER" "$WORK"/*.log || fail "the reader token reached a log"

# The data and the metrics need the reader role; the page and probes not.
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" || true; }
[[ $(code "$H/v1/status") == 401 ]] || fail "/v1/status without a token"
[[ $(code "$H/metrics") == 401 ]] || fail "/metrics without a token"
[[ $(code -H "Authorization: Bearer $T_NODE" "$H/metrics") == 403 ]] ||
	fail "/metrics with a node token"
[[ $(code -H "Authorization: Bearer $T_READER" "$H/metrics") == 200 ]] ||
	fail "/metrics with the reader token"
[[ $(code "$H/") == 200 && $(code "$H/healthz") == 200 && $(code "$H/readyz") == 200 ]] ||
	fail "the page or a probe needs a token"
[[ $(code --path-as-is "$H/../../../etc/passwd") == 404 ]] || fail "traversal on the master"

# Without a token: no data, and the page says why.
dom "$H/" >"$WORK/page-notoken.html" || fail "chromium failed"
grep -q 'EACCES' "$WORK/page-notoken.html" || fail "without a token the page did not say EACCES"
! grep -q 'data-loaded="1"' "$WORK/page-notoken.html" || fail "data without a token"

timeout 90 chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
	--user-data-dir="$WORK/chromium" --hide-scrollbars --window-size=1280,820 \
	--virtual-time-budget=8000 --screenshot="$WORK/status.png" "$H/#token=$T_READER" \
	2>>"$WORK/chromium.log" || fail "no screenshot"
[[ -s $WORK/status.png ]] || fail "empty screenshot"
[[ -z ${SR_SCREENSHOT:-} ]] || cp "$WORK/status.png" "$SR_SCREENSHOT"
log "status page: nodes, sequences, c1's headroom (orders $hr_orders, invoices $hr_invoices) and events shown; screenshot $(stat -c %s "$WORK/status.png") bytes"
stop c1
stop c2
stop master
log "status_page: OK"
