#!/usr/bin/env bash
# Builds the Debian package of the extension, postgresql-15-snowrange, from
# a CMake build directory: libsnowrange is installed into a temporary
# prefix and linked into the module statically (SR_STATIC=1, its symbols
# kept local), so the package depends only on postgresql-15 and the
# libraries dpkg-shlibdeps finds (nng, protobuf-c, zlib, libc).
# docs/postgresql.md; the ctest postgres_deb builds it and creates the
# extension from it.
#
# Usage: ext/postgres/mkdeb.sh BUILD_DIR OUT_DIR    (prints the .deb's path)
set -euo pipefail
BUILD=$(cd "${1:?build dir}" && pwd)
OUT=$(mkdir -p "${2:?out dir}" && cd "$2" && pwd)
SRC=$(cd "$(dirname "$0")" && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
for t in dpkg-deb dpkg-shlibdeps make "$PG_CONFIG"; do
	command -v "$t" >/dev/null || {
		echo "mkdeb: $t is missing (scripts/deps test installs it)" >&2
		exit 1
	}
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sr-deb.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

cmake --install "$BUILD" --prefix "$TMP/prefix" >"$TMP/install.log" 2>&1 ||
	{ cat "$TMP/install.log" >&2; exit 1; }
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$(find "$TMP/prefix" -name snowrange.pc)")
mkdir -p "$TMP/ext"
cp "$SRC"/Makefile "$SRC"/*.c "$SRC"/*.h "$SRC"/*.control "$SRC"/*.sql "$TMP/ext/"
make -C "$TMP/ext" PG_CONFIG="$PG_CONFIG" with_llvm=no SR_STATIC=1 >"$TMP/build.log" 2>&1 &&
	make -C "$TMP/ext" PG_CONFIG="$PG_CONFIG" with_llvm=no SR_STATIC=1 install \
		DESTDIR="$TMP/root" >>"$TMP/build.log" 2>&1 || { cat "$TMP/build.log" >&2; exit 1; }

version=$(sed -n 's/^#define SNOWRANGE_VERSION_STRING "\(.*\)"$/\1/p' \
	"$TMP/prefix/include/snowrange/version.h")
arch=$(dpkg --print-architecture)
module=$TMP/root/usr/lib/postgresql/15/lib/snowrange.so
# dpkg-shlibdeps reads a source package's debian/control: give it one.
mkdir -p "$TMP/pkg/debian"
printf 'Source: snowrange\n\nPackage: postgresql-15-snowrange\nArchitecture: any\n' \
	>"$TMP/pkg/debian/control"
shlibs=$(cd "$TMP/pkg" && dpkg-shlibdeps -O "$module" 2>"$TMP/shlibdeps.log" |
	sed -n 's/^shlibs:Depends=//p') || { cat "$TMP/shlibdeps.log" >&2; exit 1; }
mkdir -p "$TMP/root/DEBIAN" "$TMP/root/usr/share/doc/postgresql-15-snowrange"
cp "$SRC/../../docs/postgresql.md" "$TMP/root/usr/share/doc/postgresql-15-snowrange/"
# The copyright file (made from LICENSE by the CMake build) goes with it.
cp "$(find "$TMP/prefix" -path '*/doc/snowrange/copyright')" \
	"$TMP/root/usr/share/doc/postgresql-15-snowrange/copyright"
cat >"$TMP/root/DEBIAN/control" <<CONTROL
Package: postgresql-15-snowrange
Version: $version
Architecture: $arch
Maintainer: snowrange developers <snowrange@localhost>
Depends: postgresql-15, $shlibs
Section: database
Priority: optional
Description: cluster-unique IDs for PostgreSQL 15 from a snowrange master
 The snowrange extension makes each PostgreSQL instance a coordinator of a
 snowrange cluster: snowrange.nextval('seq') hands out IDs unique across
 every instance, strictly increasing per instance, from leased chunks in
 shared memory; snowrange.txid() mints Snowflake transaction IDs under a
 worker id lease. Needs shared_preload_libraries = 'snowrange'.
CONTROL
deb=$OUT/postgresql-15-snowrange_${version}_${arch}.deb
dpkg-deb --root-owner-group --build "$TMP/root" "$deb" >/dev/null
echo "$deb"
