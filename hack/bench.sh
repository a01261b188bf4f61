#!/usr/bin/env bash
# make bench: the speed figures of docs/benchmarks.md.
#  1. hack/bench: podseq wait as a process (requests, CPU and overshoot by wait
#     against the previous schedule and a 500 ms poller, a redirect loop, the
#     frontier, push release, the whole process next to a hello-world, RSS, size).
#  2. the packages' Go benchmarks (admin server, long-poll release, tombstone release).
#  3. the admission webhook over TLS with 16 clients, beside a handler answering an
#     empty patch (ADMISSION_REVIEWS, 4000, reviews each).
# RUNS (10) runs per cell; LONG_RUNS (3) rounds of the 30 s wait; ONLY=gentle,process
# runs some sections of hack/bench only and skips the Go benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
(cd hack && go run ./bench -podseq ../bin/podseq -runs "$RUNS" -long-runs "${LONG_RUNS:-3}" -only "${ONLY:-}")
[ -z "${ONLY:-}" ] || exit 0
echo
echo "## Go benchmarks (go test -bench)"
go test -run '^$' -bench . -benchtime "${BENCHTIME:-1x}" -count 1 ./... 2>&1 | grep -E '^(Benchmark|ok|FAIL|---)' || true
echo
echo "## Admission webhook over TLS, 16 clients, beside an empty-patch handler"
go test -run '^$' -bench Admission -benchtime "${ADMISSION_REVIEWS:-4000}x" -count 1 ./webhook/ 2>&1 | grep -vE '^(goos|goarch|pkg|cpu|PASS|ok)' || true
