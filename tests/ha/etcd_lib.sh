# Helpers for the HA tests: real etcd members on loopback, started by the
# test in its work dir on free ports, killed by lib.sh's cleanup (they are in
# PIDS). Source after tests/integration/lib.sh.
#
#   start_etcd N         starts an N-member cluster (members e1..eN);
#                        sets ETCD_URL (etcd://h:p,.../snowrange/) and
#                        ETCD_EP[i] (http://127.0.0.1:PORT of member i)
#   kill_etcd I / restart_etcd I   one member (its data dir is kept)

need etcd etcd-server
need etcdctl etcd-client

declare -a ETCD_EP=() ETCD_PEER=()
ETCD_CLUSTER=

# A port nobody listens on (bash's /dev/tcp connect fails), away from the
# ephemeral range so the kernel does not hand it to an outgoing connection.
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	fail "no free port found"
}

# Heartbeat and election timeout are etcd's defaults (100 ms / 1000 ms):
# the failover numbers in docs/benchmarks.md are for those.
etcd_member() {
	local i=$1 state=$2
	etcd --name "e$i" --data-dir "$WORK/etcd$i" \
		--listen-client-urls "${ETCD_EP[$i]}" --advertise-client-urls "${ETCD_EP[$i]}" \
		--listen-peer-urls "${ETCD_PEER[$i]}" --initial-advertise-peer-urls "${ETCD_PEER[$i]}" \
		--initial-cluster "$ETCD_CLUSTER" --initial-cluster-state "$state" \
		--initial-cluster-token "sr-$$" \
		>>"$WORK/etcd$i.log" 2>&1 &
	PIDS[etcd$i]=$!
}

start_etcd() {
	local n=$1 i hosts=() used=" "
	for ((i = 1; i <= n; i++)); do
		local c p
		c=$(free_port)
		while [[ $used == *" $c "* ]]; do c=$(free_port); done
		used+="$c "
		p=$(free_port)
		while [[ $used == *" $p "* ]]; do p=$(free_port); done
		used+="$p "
		ETCD_EP[$i]=http://127.0.0.1:$c
		ETCD_PEER[$i]=http://127.0.0.1:$p
		hosts+=("127.0.0.1:$c")
		ETCD_CLUSTER+="${ETCD_CLUSTER:+,}e$i=${ETCD_PEER[$i]}"
	done
	for ((i = 1; i <= n; i++)); do etcd_member "$i" new; done
	local eps
	eps=$(
		IFS=,
		echo "${ETCD_EP[*]}"
	)
	ETCD_URL="etcd://$(
		IFS=,
		echo "${hosts[*]}"
	)/snowrange/"
	for ((i = 0; i < 200; i++)); do
		ETCDCTL_API=3 etcdctl --endpoints "$eps" --command-timeout 1s \
			endpoint health >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "etcd cluster of $n did not become healthy (see $WORK/etcd*.log)"
}

kill_etcd() { kill9 "etcd$1"; }

restart_etcd() { etcd_member "$1" existing; }
