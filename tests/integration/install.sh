#!/usr/bin/env bash
# The installed library, as an embedding developer meets it
# (docs/embedding.md): `cmake --install` into a temporary prefix, then
# examples/embed.c is built from that prefix alone, three ways:
#   1. pkg-config, shared library;
#   2. pkg-config --static with libsnowrange.a, together with a file that
#      defines functions named like the library's internals (range_*,
#      cache_*, flake_*, wire_*, txlog_*): the archive must not clash;
#   3. find_package(snowrange) in a CMake project, shared and static targets.
# Each binary runs against a real master started from the prefix on
# loopback, with a sequence created by the installed CLI, and the IDs and
# txid it printed are checked: the right count, positive, strictly
# increasing, the first run starting at the sequence's start, no ID or txid
# printed twice across all runs.
#
# Usage: install.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$1"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PREFIX=$WORK/prefix

# A sanitizer build installs a sanitized library: programs linking it must
# be built with the same runtime first in line.
SAN_FLAGS=()
if grep -q '^SNOWRANGE_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt"; then
	SAN_FLAGS=(-fsanitize=address,undefined)
fi
CFLAGS=(-std=c11 -Wall -Wextra -Wpedantic -Werror "${SAN_FLAGS[@]}")
# The compiler the library was built with (a sanitizer runtime must match).
CC=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
CC=${CC:-cc}

log "cmake --install into $PREFIX"
cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1 ||
	fail "cmake --install failed (see $WORK/install.log)"
for f in bin/snowrange bin/snowrange-master bin/snowrange-coordinator bin/snowrange-bench \
	include/snowrange/coordinator.h include/snowrange/client.h include/snowrange/error.h \
	include/snowrange/txlog.h include/snowrange/version.h include/snowrange/log.h \
	include/snowrange/export.h include/snowrange/credentials.h include/snowrange/layout.h; do
	[[ -e $PREFIX/$f ]] || fail "not installed: $f"
done
PC=$(find "$PREFIX" -name snowrange.pc)
[[ -n $PC ]] || fail "no snowrange.pc installed"
LIBDIR=$(dirname "$(dirname "$PC")")
for f in libsnowrange.so libsnowrange.a cmake/snowrange/snowrangeConfig.cmake \
	cmake/snowrange/snowrangeConfigVersion.cmake; do
	[[ -e $LIBDIR/$f ]] || fail "not installed: ${LIBDIR#"$PREFIX"/}/$f"
done
# The source tree must not be reachable: build from a copy of the example.
mkdir -p "$WORK/app"
cp "$SRC/examples/embed.c" "$WORK/app/"
if grep -q -- "$SRC\|$BUILD" "$PC"; then
	fail "snowrange.pc points into the source or build tree"
fi

export PKG_CONFIG_PATH=$LIBDIR/pkgconfig
want=$(sed -n 's/^#define SNOWRANGE_VERSION_STRING "\(.*\)"$/\1/p' "$PREFIX/include/snowrange/version.h")
[[ -n $want && $(pkg-config --modversion snowrange) == "$want" ]] ||
	fail "snowrange.pc says $(pkg-config --modversion snowrange), version.h '$want'"
log "pkg-config: shared"
# shellcheck disable=SC2046 # pkg-config output is a list of flags
"$CC" "${CFLAGS[@]}" "$WORK/app/embed.c" -o "$WORK/app/embed-pc" \
	$(pkg-config --cflags --libs snowrange) || fail "pkg-config build failed"

log "pkg-config --static: libsnowrange.a next to clashing names"
cat >"$WORK/app/clash.c" <<'C'
/* Names a large program may well use itself, as the library's internals do. */
int range_plan(void) { return 1; }
int cache_next(void) { return 2; }
int flake_encode(void) { return 3; }
int wire_call(void) { return 4; }
int txlog_encode(void) { return 5; }
int sr_log(void) { return 6; }
C
# shellcheck disable=SC2046
"$CC" "${CFLAGS[@]}" "$WORK/app/embed.c" "$WORK/app/clash.c" -o "$WORK/app/embed-static" \
	$(pkg-config --cflags snowrange) "$LIBDIR/libsnowrange.a" \
	$(pkg-config --static --libs snowrange | sed 's/-lsnowrange\b//') ||
	fail "static build failed (clashing names?)"
# (ldd's output is read whole: grep -q would end the pipe early, and
# pipefail would count ldd's SIGPIPE as a failure.)
deps=$(ldd "$WORK/app/embed-static")
[[ $deps != *libsnowrange* ]] || fail "embed-static links libsnowrange.so"

log "find_package(snowrange)"
mkdir -p "$WORK/cm"
cat >"$WORK/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(embed C)
find_package(snowrange 0.1 REQUIRED)
add_executable(embed $WORK/app/embed.c)
target_link_libraries(embed PRIVATE snowrange::snowrange)
add_executable(embed-static $WORK/app/embed.c)
target_link_libraries(embed-static PRIVATE snowrange::snowrange_static)
CM
cmake -S "$WORK/cm" -B "$WORK/cm/build" -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_C_COMPILER="$CC" \
	-DCMAKE_C_FLAGS="${CFLAGS[*]}" >"$WORK/cm.log" 2>&1 ||
	fail "find_package project did not configure (see $WORK/cm.log)"
cmake --build "$WORK/cm/build" >>"$WORK/cm.log" 2>&1 ||
	fail "find_package project did not build (see $WORK/cm.log)"

# A master and the CLI from the prefix, on loopback.
MASTER_BIN=$PREFIX/bin/snowrange-master
CLI=$PREFIX/bin/snowrange
start_master
"$CLI" -m "$MASTER_URL" seq create ex --chunk 100 >/dev/null || fail "seq create"
# The examples take a txid right after they join: wait until this new
# master grants worker ids (TTL/3 + grace after its start,
# docs/snowflake.md, "Claims").
start_coord warm
wait_worker warm
stop warm

declare -A SEEN=()
n=0
# check NAME BINARY: runs it for 5 IDs and checks what it printed.
check() {
	local name=$1 bin=$2 out=$WORK/$1.out prev=0 id count=0 line
	LD_LIBRARY_PATH=$LIBDIR "$bin" "$MASTER_URL" "$name" ex 5 >"$out" 2>"$WORK/$name.log" ||
		fail "$name exited non-zero (see $WORK/$name.log)"
	while IFS= read -r line; do
		if [[ $line =~ ^txid\ ([0-9]+)$ ]]; then
			id=${BASH_REMATCH[1]}
			((id > 0)) || fail "$name: txid $id"
			[[ -z ${SEEN[t$id]:-} ]] || fail "$name: txid $id printed twice"
			SEEN[t$id]=1
			continue
		fi
		[[ $line =~ ^[0-9]+$ ]] || fail "$name printed '$line'"
		id=$line
		((id > prev)) || fail "$name: $id after $prev (not increasing)"
		[[ -z ${SEEN[$id]:-} ]] || fail "$name: ID $id printed twice"
		SEEN[$id]=1
		prev=$id
		count=$((count + 1))
		if ((n == 0 && count == 1)); then
			((id == 1)) || fail "$name: first ID of a new sequence is $id, not 1"
		fi
	done <"$out"
	((count == 5)) || fail "$name printed $count IDs, not 5"
	grep -q '^txid ' "$out" || fail "$name printed no txid"
	grep -q "libsnowrange $want " "$WORK/$name.log" || fail "$name: no version line"
	n=$((n + 1))
	log "$name: $(tr '\n' ' ' <"$out")"
}
check embed-pc "$WORK/app/embed-pc"
deps=$(LD_LIBRARY_PATH=$LIBDIR ldd "$WORK/app/embed-pc")
[[ $deps == *"$LIBDIR/libsnowrange.so"* ]] ||
	fail "embed-pc does not use the installed libsnowrange.so: $deps"
check embed-static "$WORK/app/embed-static"
check embed-cmake "$WORK/cm/build/embed"
check embed-cmake-static "$WORK/cm/build/embed-static"
stop master
log "PASS: installed, built 4 ways from the prefix, $n runs with distinct increasing IDs"
