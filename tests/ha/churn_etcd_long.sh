#!/usr/bin/env bash
# Ten minutes of node churn with the masters on etcd (tests/fault/churn
# --store etcd --masters 3), label slow: about 70 faults, among them kills of
# the leader and of standbys, pauses of the leader past its etcd lease and
# kills of etcd members, and at least 10,000,000 IDs as churn_long asks;
# docs/reliability.md records a run. The seed is fixed so that a failure
# replays; SR_CHURN_SEED picks another.
set -euo pipefail
source "$(dirname "$0")/../integration/need.sh"
need_file "$FAKETIME_LIB" libfaketime
need etcd etcd-server
need etcdctl etcd-client
exec "$(dirname "$0")/../fault/churn" --store etcd --masters 3 --duration 600 \
	--seed "${SR_CHURN_SEED:-3}" --min-ids 10000000 --build "${1:?build dir}"
