#!/usr/bin/env bash
# A minute of node churn (tests/fault/churn): kill -9 of coordinators and
# the master, joins, leaves, a stopped master and a clock step back, with
# clients drawing IDs and txids throughout; fails on any duplicate or
# per-coordinator order violation. Seed 1: the same fault schedule each run.
set -euo pipefail
# The clock faults need libfaketime; without it tests/fault/churn would leave
# them out, and a test must not pass having skipped part of its work.
source "$(dirname "$0")/need.sh"
need_file "$FAKETIME_LIB" libfaketime
exec "$(dirname "$0")/../fault/churn" --duration 60 --seed 1 --build "${1:?build dir}"
