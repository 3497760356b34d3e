#!/usr/bin/env bash
# Issue 9: role tokens never appear in a log, an error message or a process
# list (`ps`, /proc/PID/cmdline): they are read from files only (mode 600;
# a readable file is refused).
set -euo pipefail
source "$(dirname "$0")/tls_lib.sh" "$1"

start_master $(master_creds)
start_coord coord-1 $(coord_creds coord-1)
C1=$(coord_url coord-1)
"$CLI" -m "$MASTER_URL" seq create s >/dev/null
"$CLI" -c "$C1" next s -n 5 >/dev/null
# Refusals: a wrong token, a reader doing an admin's work, a forged leave.
READER=$(tokens_of reader)
echo "admin 0123456789abcdef0123456789abcdef" >"$WORK/wrong.tokens"
chmod 600 "$WORK/wrong.tokens"
SNOWRANGE_TOKEN_FILE=$WORK/wrong.tokens "$CLI" -m "$MASTER_URL" seq drop s \
	>>"$WORK/cli.log" 2>&1 && fail "wrong token accepted"
SNOWRANGE_TOKEN_FILE=$READER "$CLI" -m "$MASTER_URL" seq drop s \
	>>"$WORK/cli.log" 2>&1 && fail "reader dropped a sequence"
ATTACK_TLS_CERT=$CREDS/coord-2.pem ATTACK_TLS_KEY=$CREDS/coord-2.key \
	ATTACK_TLS_CA=$CREDS/ca.pem ATTACK_TOKEN_FILE=$CREDS/coord-2.tokens ATTACK_NODE=coord-2 \
	"$ATTACK" "$MASTER_URL" leave 1 0 >>"$WORK/cli.log" 2>&1

# Every token of every file, searched everywhere.
ps -eo pid,args >"$WORK/ps.txt"
for pid in "${PIDS[@]}"; do
	tr '\0' ' ' <"/proc/$pid/cmdline" >>"$WORK/cmdlines.txt" || true
done
n=0
while read -r _ tok; do
	[[ -n $tok ]] || continue
	n=$((n + 1))
	for f in "$WORK"/*.log "$WORK/ps.txt" "$WORK/cmdlines.txt"; do
		if grep -qF -- "$tok" "$f"; then
			fail "a token shows in $(basename "$f")"
		fi
	done
done < <(cat "$CREDS"/*.tokens "$WORK/wrong.tokens" | grep -v '^#')
((n >= 8)) || fail "only $n tokens checked"
grep -q EACCES "$WORK/cli.log" || fail "the refusals did not happen"

# A token file others can read is refused, naming the fix.
cp "$CREDS/admin.tokens" "$WORK/open.tokens"
chmod 644 "$WORK/open.tokens"
if out=$(SNOWRANGE_TOKEN_FILE=$WORK/open.tokens "$CLI" -m "$MASTER_URL" seq list 2>&1); then
	fail "a world-readable token file was used"
fi
[[ $out == *"chmod 600"* ]] || fail "readable token file: $out"
if out=$("$MASTER_BIN" --data-dir "$WORK/d2" --token-file "$WORK/open.tokens" 2>&1); then
	fail "the master took a world-readable token file"
fi
[[ $out == *"chmod 600"* ]] || fail "master, readable token file: $out"
stop coord-1
stop master
log "tokens_hidden: OK ($n tokens)"
