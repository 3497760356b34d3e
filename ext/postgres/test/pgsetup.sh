# Shared by the extension's test and benchmark (sourced after
# tests/integration/lib.sh): installs libsnowrange from BUILD into a temporary
# prefix, builds the extension against that install with PGXS, and makes a
# private PostgreSQL 15 tree under $WORK/pg (the Debian binaries copied, the
# share and lib dirs linked, plus the extension), so that CREATE EXTENSION
# works without writing to /usr. PostgreSQL finds its share and lib dirs
# relative to its binary, as in its own `make check`.
#
# Then: pg_new NAME PORT [setting=value ...], pg_start NAME, pg_stop NAME,
# pg_kill9 NAME, psqlq NAME SQL, start_tcp_master.

PG_BIN=/usr/lib/postgresql/15/bin
PG_CONFIG=$PG_BIN/pg_config
need_file "$PG_BIN/postgres" postgresql-15
need_file "$PG_BIN/pgbench" postgresql-client-15
need_file /usr/lib/postgresql/15/lib/pgxs/src/makefiles/pgxs.mk postgresql-server-dev-15
need make make
need pkg-config pkg-config

EXT_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGTREE=$WORK/pg/usr
TBIN=$PGTREE/lib/postgresql/15/bin
declare -A PG_PORT=()

# PostgreSQL refuses to run as root: under root (CI containers) the servers
# and the tools that start them run as the postgres user, which the
# postgresql-common package creates.
as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_prepare() {
	pg_install_lib
	pg_build_ext
	pg_tree
}

# libsnowrange from BUILD into $WORK/prefix; PKG_CONFIG_PATH points there.
pg_install_lib() {
	chmod 755 "$WORK"
	log "libsnowrange: cmake --install into $WORK/prefix"
	cmake --install "$BUILD" --prefix "$WORK/prefix" >"$WORK/install.log" 2>&1 ||
		fail "cmake --install failed (see $WORK/install.log)"
	local pc
	pc=$(find "$WORK/prefix" -name snowrange.pc)
	[[ -n $pc ]] || fail "no snowrange.pc installed"
	export PKG_CONFIG_PATH=$(dirname "$pc")
}

# The extension, built in a copy of its sources and installed into $WORK/pg.
pg_build_ext() {
	log "extension: PGXS build against the installed library"
	mkdir -p "$WORK/ext"
	cp "$EXT_SRC"/Makefile "$EXT_SRC"/*.c "$EXT_SRC"/*.h "$EXT_SRC"/*.control \
		"$EXT_SRC"/*.sql "$WORK/ext/"
	make -C "$WORK/ext" PG_CONFIG="$PG_CONFIG" with_llvm=no >"$WORK/ext.log" 2>&1 ||
		fail "extension build failed (see $WORK/ext.log)"
	make -C "$WORK/ext" PG_CONFIG="$PG_CONFIG" with_llvm=no install DESTDIR="$WORK/pg" \
		>>"$WORK/ext.log" 2>&1 || fail "extension install failed (see $WORK/ext.log)"
}

# Completes $WORK/pg (which holds the extension's files under usr/) into a
# PostgreSQL tree: the binaries copied, the rest of share and lib linked.
pg_tree() {
	mkdir -p "$TBIN" "$PGTREE/share/postgresql/15/extension" "$PGTREE/lib/postgresql/15/lib"
	local f
	for f in postgres initdb pg_ctl; do cp "$PG_BIN/$f" "$TBIN/"; done
	for f in /usr/share/postgresql/15/*; do
		[[ $(basename "$f") == extension ]] || ln -s "$f" "$PGTREE/share/postgresql/15/"
	done
	for f in /usr/share/postgresql/15/extension/*; do
		ln -s "$f" "$PGTREE/share/postgresql/15/extension/"
	done
	for f in /usr/lib/postgresql/15/lib/*; do
		[[ -e $PGTREE/lib/postgresql/15/lib/$(basename "$f") ]] ||
			ln -s "$f" "$PGTREE/lib/postgresql/15/lib/"
	done
}

# A free TCP port on 127.0.0.1 (nothing answers there now), below Linux's
# ephemeral range (32768-60999), where an outgoing connection may hold it.
free_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((10000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	fail "no free port"
}

# The master on TCP loopback: the servers run as another user, who cannot
# open an ipc path in the test's directory.
start_tcp_master() {
	MASTER_URL=tcp://127.0.0.1:${MASTER_PORT:=$(free_port)}
	"$MASTER_BIN" --data-dir "$WORK/data" --listen "$MASTER_URL" "$@" \
		>>"$WORK/master.log" 2>&1 &
	PIDS[master]=$!
	wait_ready "$MASTER_URL"
}

# pg_new NAME PORT [setting=value ...]: initdb and a config that preloads
# the extension and joins the master as node NAME.
pg_new() {
	local name=$1 port=$2 dir=$WORK/$1
	shift 2
	PG_PORT[$name]=$port
	mkdir -p "$dir"
	chown postgres "$dir" 2>/dev/null || true
	# The server writes its log in its own directory; the link puts it
	# among the logs the EXIT trap shows.
	ln -sf "$dir/server.log" "$WORK/$name.log"
	as_pg "$TBIN/initdb" -D "$dir/data" -A trust -U postgres --no-sync \
		>"$WORK/$name-initdb.log" 2>&1 || fail "initdb $name failed (see $WORK/$name-initdb.log)"
	{
		echo "port = $port"
		# The unix socket in the instance's directory only: the port
		# number names the socket and cannot clash with other tests.
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$dir'"
		echo "shared_preload_libraries = 'snowrange'"
		echo "snowrange.node_name = '$name'"
		echo "snowrange.master_url = '$MASTER_URL'"
		echo "max_connections = 40"
		echo "fsync = off"
		echo "logging_collector = off"
		local kv
		for kv in "$@"; do echo "$kv"; done
	} >>"$dir/data/postgresql.conf"
}

pg_start() {
	local name=$1 i
	for ((i = 0; i < 20; i++)); do
		# A postmaster killed with -9 leaves its backends to notice; until
		# they are gone the old shared memory is in use and start fails.
		as_pg "$TBIN/pg_ctl" -D "$WORK/$name/data" -l "$WORK/$name/server.log" -w -t 30 start \
			>>"$WORK/$name-ctl.log" 2>&1 && return 0
		sleep 0.5
	done
	fail "PostgreSQL $name did not start (see $WORK/$name.log)"
}

pg_pid() {
	head -1 "$WORK/$1/data/postmaster.pid" 2>/dev/null
}

pg_stop() {
	as_pg "$TBIN/pg_ctl" -D "$WORK/$1/data" -m fast -w -t 30 stop >>"$WORK/$1-ctl.log" 2>&1 ||
		fail "PostgreSQL $1 did not stop (see $WORK/$1.log)"
}

pg_kill9() {
	local pid
	pid=$(pg_pid "$1")
	[[ -n $pid ]] && kill -9 "$pid" 2>/dev/null
	return 0
}

# psqlq NAME SQL: one value per line, no headers; fails the test on error.
psqlq() {
	as_pg "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$WORK/$1" -p "${PG_PORT[$1]}" \
		-U postgres -d postgres -c "$2"
}

# Stops every instance that is still running (the EXIT trap's job).
pg_stop_all() {
	local name
	for name in "${!PG_PORT[@]}"; do
		[[ -e $WORK/$name/data/postmaster.pid ]] &&
			as_pg "$TBIN/pg_ctl" -D "$WORK/$name/data" -m immediate -w -t 20 stop \
				>/dev/null 2>&1
	done
	return 0
}

pg_cleanup() {
	local rc=$?
	pg_stop_all
	(exit "$rc")
	cleanup
}
trap pg_cleanup EXIT
