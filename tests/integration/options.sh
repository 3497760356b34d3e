#!/usr/bin/env bash
# The shared option parser as an operator meets it (issue 14): --version and
# --help on all three programs, help for every command, one-line usage errors
# with a hint and a "did you mean", repeated flags, the INI file's sections,
# unknown keys with their line, --config DIR, and the committed sample
# configs staying what the option tables generate.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
SRC=$(cd "$(dirname "$0")/../.." && pwd)

# expect RC CMD...: runs CMD with stdout and stderr to $WORK/out and
# $WORK/err, and fails unless it exits RC.
expect() {
	local want=$1 rc=0
	shift
	"$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
	((rc == want)) || fail "$* exited $rc, want $want: $(cat "$WORK/err")"
}
has() { grep -q -- "$2" "$WORK/$1" || fail "$1 of the last command lacks '$2': $(cat "$WORK/$1")"; }
lines() { (($(wc -l <"$WORK/$1") == $2)) || fail "$1 has $(wc -l <"$WORK/$1") lines, want $2: $(cat "$WORK/$1")"; }

# --version: program, version, git describe and the libraries, on stdout.
for bin in "$MASTER_BIN" "$COORD_BIN" "$CLI"; do
	expect 0 "$bin" --version
	has out "$(basename "$bin") [0-9]*\.[0-9]*\.[0-9]* (git "
	has out "nng [0-9]"
	has out "protobuf-c [0-9]"
done
expect 0 "$MASTER_BIN" --version
has out "SQLite [0-9]"

# -h and --help: stdout, exit 0, for the daemons and every command.
for bin in "$MASTER_BIN" "$COORD_BIN" "$CLI"; do
	for h in -h --help; do
		expect 0 "$bin" "$h"
		has out "^usage: "
		lines err 0
	done
done
expect 0 "$MASTER_BIN" --help
has out "worker-grace-ms"
has out "layout"
expect 0 "$COORD_BIN" --help
has out "--master URL"
expect 0 "$CLI" --help
has out "bench"
expect 0 "$CLI" help seq
has out "seq create NAME"
expect 0 "$CLI" seq --help
has out "seq drop NAME"
expect 0 "$CLI" help seq create
has out "--chunk N"
expect 0 "$CLI" seq create --help
has out "--chunk N"
expect 0 "$CLI" next -h
has out "--count COUNT"

# Usage errors: one line naming the problem and one hint, exit 2; typos
# get the closest name.
expect 2 "$MASTER_BIN" --data-dir "$WORK/d" --lease-tt 5
lines err 2
has err "unknown option '--lease-tt' (did you mean --lease-ttl-ms?)"
has err "snowrange-master --help"
expect 2 "$COORD_BIN" jion
lines err 2
has err "did you mean join"
expect 2 "$CLI" sq list
has err "did you mean seq"
expect 2 "$CLI" seq lst
has err "did you mean list"
expect 2 "$CLI" next x --cont 3
has err "did you mean --count"
expect 2 "$CLI" help nosuch
has err "unknown command 'nosuch'"
expect 2 "$MASTER_BIN" --data-dir "$WORK/d" --workers 0
has err "--workers: expected a whole number in 1..1024"

# A scalar flag given twice is an error, not a silent last-one-wins.
expect 2 "$CLI" -m tcp://127.0.0.1:1 -m tcp://127.0.0.1:2 status
has err "--master given twice"
expect 2 "$MASTER_BIN" --data-dir "$WORK/d" --workers 2 --workers 3
has err "--workers given twice"

# INI files: sections, unknown keys with their line, directories.
cat >"$WORK/shared.conf" <<INI
# one file for both daemons
[master]
workers = 4
[coordinator]
workers = nonsense
INI
expect 2 "$MASTER_BIN" --config "$WORK/shared.conf" --data-dir "$WORK/d" --workers 0
has err "--workers: expected"          # the master read [master], not [coordinator]
printf '[master]\nworkerz = 4\n' >"$WORK/typo.conf"
expect 2 "$MASTER_BIN" --config "$WORK/typo.conf" --data-dir "$WORK/d"
has err "typo.conf line 2: unknown key 'workerz' (did you mean 'workers'?)"
printf '[mastr]\nworkers = 4\n' >"$WORK/sect.conf"
expect 2 "$MASTER_BIN" --config "$WORK/sect.conf" --data-dir "$WORK/d"
has err "line 2: unknown section \[mastr\]"
printf 'workers = 4\nworkers = 5\n' >"$WORK/twice.conf"
expect 2 "$MASTER_BIN" --config "$WORK/twice.conf" --data-dir "$WORK/d"
has err "line 2: 'workers' is set twice (first on line 1)"
expect 2 "$MASTER_BIN" --config "$WORK" --data-dir "$WORK/d"
has err "not a regular file"
expect 2 "$MASTER_BIN" --config "$WORK/none.conf" --data-dir "$WORK/d"
has err "cannot open"

# The committed sample configs are what the tables generate.
for p in master coordinator; do
	bin=$MASTER_BIN
	[[ $p == coordinator ]] && bin=$COORD_BIN
	"$bin" --help-ini >"$WORK/$p.conf"
	diff -u "$SRC/etc/$p.conf" "$WORK/$p.conf" >&2 ||
		fail "etc/$p.conf differs from the option table: regenerate it with '$(basename "$bin") --help-ini >etc/$p.conf'"
done

# bash completion (dist/bash-completion/snowrange) completes commands, verbs
# and flags from the programs' own --help. _init_completion and _filedir
# come from the bash-completion package; minimal stand-ins do here.
complete_words() {
	bash -c '
		_init_completion() { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}
			words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
		_filedir() { :; }
		source "$1"
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		fn=_snowrange
		[[ $1 == *-master || $1 == *-coordinator ]] && fn=_snowrange_daemon
		$fn
		printf "%s\n" "${COMPREPLY[@]}"' _ "$SRC/dist/bash-completion/snowrange" "$@"
}
complete_words "$CLI" se | grep -qx seq || fail "completion: 'se' -> $(complete_words "$CLI" se)"
[[ $(complete_words "$CLI" seq "" | sort | tr '\n' ' ') == "create drop list " ]] ||
	fail "completion: seq verbs -> $(complete_words "$CLI" seq "")"
complete_words "$CLI" seq create --ch | grep -qx -- --chunk || fail "completion: seq create --ch"
complete_words "$CLI" -m x next s --cou | grep -qx -- --count || fail "completion: next --cou"
complete_words "$MASTER_BIN" --lease | grep -qx -- --lease-ttl-ms || fail "completion: master --lease"
complete_words "$COORD_BIN" j | grep -qx join || fail "completion: coordinator j"
complete_words "$MASTER_BIN" mi | grep -qx migrate || fail "completion: master mi"

# The coordinator's master URL from its config file, in its section.
start_master
cat >"$WORK/coord.conf" <<INI
[master]
workers = 99999
[coordinator]
master = $MASTER_URL
name = fromconf
listen = $(coord_url fromconf)
INI
"$COORD_BIN" join --config "$WORK/coord.conf" >>"$WORK/fromconf.log" 2>&1 &
PIDS[fromconf]=$!
wait_ready "$(coord_url fromconf)"
"$CLI" -m "$MASTER_URL" node list | grep -q fromconf || fail "node from the config file did not join"
stop fromconf
stop master
log "options: OK"
