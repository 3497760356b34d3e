#!/usr/bin/env bash
# Issue 9: the churn harness (tests/fault/churn) with mutual TLS and role
# tokens on every link: the same faults (kill -9 of coordinators and the
# master, pauses, joins, leaves, a clock step) and the same verdict, no
# duplicate ID or txid, over tls+tcp:// instead of ipc paths.
set -euo pipefail
source "$(dirname "$0")/../integration/need.sh"
need_file "$FAKETIME_LIB" libfaketime
need openssl openssl
exec "$(dirname "$0")/../fault/churn" --tls --duration 60 --seed 2 --build "${1:?build dir}"
