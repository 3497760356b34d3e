#!/usr/bin/env bash
# About a minute of node churn (tests/fault/churn): kill -9 of coordinators and
# the master, joins, leaves, a stopped master and a clock step back, with
# clients drawing IDs and txids throughout; fails on any duplicate or
# per-coordinator order violation. Seed 1: the same fault schedule each run.
set -euo pipefail
exec "$(dirname "$0")/../fault/churn" --duration 55 --seed 1 --build "${1:?build dir}"
