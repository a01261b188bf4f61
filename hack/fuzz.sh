#!/usr/bin/env bash
# Runs every Go fuzz target of the main module for $FUZZTIME each (default
# 10s), one after the other, for CI. A failure leaves its input under the
# package's testdata/fuzz/ and exits non-zero.
#
#   FUZZTIME=1m hack/fuzz.sh            # every target, one minute each
#   hack/fuzz.sh ./probes               # the targets of some packages
set -euo pipefail

cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-10s}"
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
	pkgs=(./...)
fi

failed=0
ran=0
for pkg in $(go list "${pkgs[@]}"); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	# Fuzz targets are declared in test files as func FuzzXxx(f *testing.F).
	targets=$(grep -hoE '^func Fuzz[A-Za-z0-9_]*\(' "$dir"/*_test.go 2>/dev/null |
		sed -e 's/^func //' -e 's/($//' | sort -u || true)
	for target in $targets; do
		ran=$((ran + 1))
		echo "== $pkg $target ($fuzztime)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"; then
			echo "FAIL: $pkg $target" >&2
			failed=$((failed + 1))
		fi
	done
done
echo "fuzz: $ran targets, $failed failed"
[ "$ran" -gt 0 ] || { echo "fuzz: no fuzz target found" >&2; exit 1; }
[ "$failed" -eq 0 ]
