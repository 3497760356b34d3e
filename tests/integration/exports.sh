#!/usr/bin/env bash
# libsnowrange exports the public API and nothing else: every dynamic symbol
# the shared library defines starts with sr_ (and is not protobuf-c's
# generated sr__), every one is declared SR_EXPORT in include/snowrange/, and
# the static archive defines the same names and no other global (its
# internals are localized, docs/decisions.md). The library links no inih.
#
# Usage: exports.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SO=$BUILD/lib/libsnowrange.so
AR=$BUILD/lib/libsnowrange.a
[[ -e $SO && -e $AR ]] || fail "build $SO and $AR first"

nm -D --defined-only "$SO" | awk '{ print $NF }' | sort -u >"$WORK/so.txt"
bad=$(grep -v '^sr_[a-z0-9]' "$WORK/so.txt" || true)
[[ -z $bad ]] || fail "libsnowrange.so exports names outside sr_: $(echo $bad)"

# What the headers declare with SR_EXPORT (version.h is generated).
cat "$SRC"/include/snowrange/*.h "$BUILD/include/snowrange/version.h" |
	tr '\n' ' ' | grep -o 'SR_EXPORT [^(;]*(' | grep -o 'sr_[a-z0-9_]*($' |
	tr -d '(' | sort -u >"$WORK/declared.txt"
[[ -s $WORK/declared.txt ]] || fail "no SR_EXPORT declarations found"
# and nothing public is declared without it (it would be hidden).
unmarked=$(cat "$SRC"/include/snowrange/*.h "$BUILD/include/snowrange/version.h" |
	grep -E '^[a-z][a-z0-9_ *]*[ *]sr_[a-z0-9_]+\(' | grep -v -E '^(SR_EXPORT|typedef)' || true)
[[ -z $unmarked ]] || fail "public functions declared without SR_EXPORT: $unmarked"
diff -u "$WORK/declared.txt" "$WORK/so.txt" >"$WORK/diff.txt" ||
	fail "exports differ from the SR_EXPORT declarations: $(cat "$WORK/diff.txt")"

nm -g --defined-only "$AR" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u >"$WORK/ar.txt"
diff -u "$WORK/so.txt" "$WORK/ar.txt" >"$WORK/diff.txt" ||
	fail "libsnowrange.a defines other globals than the API: $(cat "$WORK/diff.txt")"

# readelf's output is read whole (grep -q in a pipe under pipefail could
# count readelf's SIGPIPE as a failure).
dyn=$(readelf -d "$SO")
[[ $dyn != *inih* ]] || fail "libsnowrange.so needs inih"
[[ $dyn =~ SONAME.*libsnowrange\.so\.[0-9] ]] || fail "libsnowrange.so has no SONAME"
# The library writes to stderr only through sr_log_to, which an embedder's
# log callback replaces (snowrange/log.h): no direct sr_log, printf or
# perror in the sources an embedding program runs. Not checked: log.c
# (sr_log_to itself), options.c and httpd.c (programs only) and wire.c,
# whose messages come from the request loop that only the daemons run.
direct=$(cd "$SRC" && grep -n -E '\bsr_log\(|\b(f?printf|perror|puts)\(' \
	coordinator/cache.c coordinator/coordinator.c coordinator/link.c \
	coordinator/worker.c coordinator/client.c coordinator/txlog.c \
	coordinator/txlog_codec.c common/*.c |
	grep -v -E '^common/(log|options|wire|httpd)\.c:' || true)
[[ -z $direct ]] || fail "the library writes to stderr around the log callback: $direct"
log "PASS: $(wc -l <"$WORK/so.txt") symbols exported, all sr_, all declared"
