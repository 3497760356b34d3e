# Shared helpers for the integration scripts: start real master and
# coordinator processes on ipc paths in a private temp dir, and stop every
# process they started, whatever happens (trap on EXIT).
#
# Usage: source lib.sh BUILD_DIR
#
# need / need_file (need.sh) check a test's tools before it starts.

source "$(dirname "${BASH_SOURCE[0]}")/need.sh"
BUILD=${1:?build dir}
MASTER_BIN=$BUILD/snowrange-master
COORD_BIN=$BUILD/snowrange-coordinator
CLI=$BUILD/snowrange
# SR_TEST_TMP (default /tmp) holds the work dir: tests/mutation/run points
# it into its own directory, since the tests it runs are meant to fail and
# each failing run keeps its work dir.
WORK=$(mktemp -d "${SR_TEST_TMP:-/tmp}/sr-it.XXXXXX")
MASTER_URL=ipc://$WORK/master.ipc
declare -A PIDS=()

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

fail() {
	log "FAIL: $*"
	exit 1
}

cleanup() {
	local rc=$?
	for name in "${!PIDS[@]}"; do
		kill -9 "${PIDS[$name]}" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if [[ $rc -ne 0 ]]; then
		log "logs kept in $WORK"
		tail -n 20 "$WORK"/*.log >&2 2>/dev/null || true
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

coord_url() { echo "ipc://$WORK/$1.ipc"; }

# Waits (bounded) until the CLI gets a status reply from URL.
wait_ready() {
	local url=$1 i
	for ((i = 0; i < 100; i++)); do
		"$CLI" -m "$url" --timeout 500 status >/dev/null 2>&1 && return 0
		"$CLI" -c "$url" --timeout 500 status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "nothing answers at $url"
}

start_master() {
	"$MASTER_BIN" --data-dir "$WORK/data" --listen "$MASTER_URL" "$@" \
		>>"$WORK/master.log" 2>&1 &
	PIDS[master]=$!
	wait_ready "$MASTER_URL"
}

# start_master_at NAME URL [FLAGS...] -- PROBE...: one more master, with
# its own data dir ($WORK/NAME) and log ($WORK/NAME.log), listening on URL
# with FLAGS; waits (bounded: 100 probes, about 20 s) until the command
# PROBE... succeeds, failing at once if the master exits. The probe is the
# caller's, since what "answers" means differs: the CLI's status, or a
# Status exchange through tests/security/attack.
start_master_at() {
	local name=$1 url=$2 flags=() i
	shift 2
	while (($#)) && [[ $1 != -- ]]; do
		flags+=("$1")
		shift
	done
	(($#)) || fail "start_master_at $name: no -- PROBE after the flags"
	shift
	"$MASTER_BIN" --data-dir "$WORK/$name" --listen "$url" "${flags[@]}" >>"$WORK/$name.log" 2>&1 &
	PIDS[$name]=$!
	for ((i = 0; i < 100; i++)); do
		kill -0 "${PIDS[$name]}" 2>/dev/null || fail "master $name exited: $(tail -n 3 "$WORK/$name.log")"
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "master $name does not answer at $url"
}

# start_coord NAME [extra flags]: the operator's join command.
start_coord() {
	local name=$1
	shift
	"$COORD_BIN" join "$MASTER_URL" --name "$name" --listen "$(coord_url "$name")" "$@" \
		>>"$WORK/$name.log" 2>&1 &
	PIDS[$name]=$!
	wait_ready "$(coord_url "$name")"
}

# txid NAME: prints one txid of coordinator NAME, waiting (bounded, 20 s)
# until it holds a worker id: a master on a new store grants its first one
# TTL/3 + grace after it started (docs/snowflake.md, "Claims"), 5.3 s by
# default, and a new holder of an id gets it only after the old lease's
# grace period.
txid() {
	local end=$((SECONDS + 20)) out
	while ((SECONDS < end)); do
		if out=$("$CLI" -c "$(coord_url "$1")" --timeout 1000 txid 2>/dev/null); then
			echo "$out"
			return 0
		fi
		sleep 0.1
	done
	fail "$1 got no worker id within 20 s"
}

# wait_worker NAME: waits the same way until coordinator NAME holds a
# worker id.
wait_worker() {
	txid "$1" >/dev/null
}

kill9() {
	kill -9 "${PIDS[$1]}" 2>/dev/null || true
	wait "${PIDS[$1]}" 2>/dev/null || true
	unset "PIDS[$1]"
}

# stop NAME: SIGTERM, then the process must exit by itself, cleanly (exit 0;
# under the sanitizer build that also means no leak and no error report).
stop() {
	local pid=${PIDS[$1]} i rc=0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null || true
		unset "PIDS[$1]"
		fail "$1 did not stop within 10 s of SIGTERM"
	fi
	wait "$pid" || rc=$?
	unset "PIDS[$1]"
	((rc == 0)) || fail "$1 exited with status $rc (see $WORK/$1.log)"
	if grep -q "Sanitizer" "$WORK/$1.log" 2>/dev/null; then
		fail "$1: sanitizer report in $WORK/$1.log"
	fi
}
