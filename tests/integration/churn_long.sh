#!/usr/bin/env bash
# Ten minutes of node churn (tests/fault/churn), label slow: about 70 faults and
# tens of millions of IDs; the issue asks for at least 10,000,000. The seed
# is fixed so that a failure replays; SR_CHURN_SEED picks another.
set -euo pipefail
exec "$(dirname "$0")/../fault/churn" --duration 600 --seed "${SR_CHURN_SEED:-2}" \
	--min-ids 10000000 --build "${1:?build dir}"
