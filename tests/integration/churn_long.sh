#!/usr/bin/env bash
# Ten minutes of node churn (tests/fault/churn), label slow: about 70 faults and
# tens of millions of IDs; the issue asks for at least 10,000,000. The seed
# is fixed so that a failure replays; SR_CHURN_SEED picks another.
set -euo pipefail
# The clock faults need libfaketime; without it tests/fault/churn would leave
# them out, and a test must not pass having skipped part of its work.
source "$(dirname "$0")/need.sh"
need_file "$FAKETIME_LIB" libfaketime
exec "$(dirname "$0")/../fault/churn" --duration 600 --seed "${SR_CHURN_SEED:-2}" \
	--min-ids 10000000 --build "${1:?build dir}"
