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
diff -u "$WORK/declared.txt" "$WORK/so.txt" >"$WORK/diff.txt" ||
	fail "exports differ from the SR_EXPORT declarations: $(cat "$WORK/diff.txt")"

nm -g --defined-only "$AR" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u >"$WORK/ar.txt"
diff -u "$WORK/so.txt" "$WORK/ar.txt" >"$WORK/diff.txt" ||
	fail "libsnowrange.a defines other globals than the API: $(cat "$WORK/diff.txt")"

if readelf -d "$SO" | grep -q 'NEEDED.*inih'; then
	fail "libsnowrange.so needs inih"
fi
readelf -d "$SO" | grep -q 'SONAME.*libsnowrange\.so\.[0-9]' || fail "libsnowrange.so has no SONAME"
log "PASS: $(wc -l <"$WORK/so.txt") symbols exported, all sr_, all declared"
