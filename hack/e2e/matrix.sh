#!/usr/bin/env bash
# make e2e-matrix: the core scenarios on every Kubernetes release the e2e
# node runs (hack/e2e/components.sh), one release after another, each run
# torn down before the next, then one table: scenario × release (PASS, FAIL,
# n/a), compare's medians, and each run's times. Extra arguments go to every
# run's harness (e.g. -runs 5).
#
# Env: PODSEQ_E2E_MATRIX ("oldest v1.34 newest") the releases, in order;
#      PODSEQ_E2E_MATRIX_DIR (/tmp/podseq-e2e-matrix) keeps each run's
#      output (RELEASE.log) and results (RELEASE.json); the rest as run.sh.
# Exit codes: 0 every run passed, 1 a scenario or a run failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${PODSEQ_E2E_CACHE:-/var/cache/podseq-e2e}
out=${PODSEQ_E2E_MATRIX_DIR:-/tmp/podseq-e2e-matrix}
read -r -a releases <<<"${PODSEQ_E2E_MATRIX:-oldest v1.34 newest}"
# The core scenarios, anchored: "order" alone would also pick ordering-*.
core='^(order|compare|timeout|fail-open|install|native-hook)$'
log() { echo "$(date -u +%T) e2e-matrix: $*" >&2; }

mkdir -p "$out"
began=$SECONDS
rc=0
cols=()
times=()
for r in "${releases[@]}"; do
  rm -f "$out/$r.json"
  log "release $r"
  start=$SECONDS
  # The node is torn down when run.sh returns (by the harness, or by
  # run.sh's EXIT trap if the harness was killed).
  if ! PODSEQ_E2E_K8S=$r PODSEQ_E2E_CLUSTER=0 hack/e2e/run.sh -run "$core" -results "$out/$r.json" "$@" 2>&1 | tee "$out/$r.log"; then
    rc=1
  fi
  built=$(sed -n 's/.* e2e: built \(.*\)/\1/p' "$out/$r.log" | paste -sd ';' -)
  times+=("$r: $((SECONDS - start)) s in all${built:+ (built $built)}")
  cols+=("$r=$out/$r.json")
done

echo
echo "=== podseq e2e matrix ($(date -u +%Y-%m-%dT%H:%M:%SZ)) ==="
"$cache/bin/e2e" -matrix "${cols[@]}" || rc=1
echo
printf '%s\n' "${times[@]}"
log "done in $((SECONDS - began)) s (exit $rc)"
exit $rc
