#!/usr/bin/env bash
# A minute of node churn with the masters on etcd (tests/fault/churn --store
# etcd --masters 3; issue 11, item 5): a 3-member etcd cluster, three
# masters and coordinators given their list, while churn kills the leader
# and standbys with -9, stops the leader past its etcd lease, kills an etcd
# member (one at a time: the quorum holds), and kills, pauses, adds and
# removes coordinators and steps a clock back, with clients drawing IDs and
# txids throughout; fails on any duplicate or per-coordinator order
# violation, an outage past its bound or a resumed leader that does not
# stand down. The seed is one whose first nine faults (one of each kind)
# fit in 60 s (tests/fault/churn --schedule shows them); SR_CHURN_SEED
# picks another.
set -euo pipefail
# The clock faults need libfaketime; without it tests/fault/churn would leave
# them out, and a test must not pass having skipped part of its work.
source "$(dirname "$0")/../integration/need.sh"
need_file "$FAKETIME_LIB" libfaketime
need etcd etcd-server
need etcdctl etcd-client
exec "$(dirname "$0")/../fault/churn" --store etcd --masters 3 --duration 60 \
	--seed "${SR_CHURN_SEED:-3}" --build "${1:?build dir}"
