#!/usr/bin/env bash
# go vet and gofmt over both modules.
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi
if [ -f hack/go.mod ]; then (cd hack && go vet ./...); fi
