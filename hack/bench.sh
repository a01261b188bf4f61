#!/usr/bin/env bash
# make bench: the speed figures of issues 2, 3 and 6.
#  1. hack/bench: podseq wait as a process (overshoot, CPU, frontier, push, RSS, size).
#  2. the packages' Go benchmarks (admin server, long-poll release, tombstone release).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
(cd hack && go run ./bench -podseq ../bin/podseq -runs "$RUNS")
echo
echo "## Go benchmarks (go test -bench)"
go test -run '^$' -bench . -benchtime "${BENCHTIME:-1x}" -count 1 ./... 2>&1 | grep -E '^(Benchmark|ok|FAIL|---)' || true
