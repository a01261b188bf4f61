#!/usr/bin/env bash
# go vet and gofmt over both modules.
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
unformatted=$(git ls-files -z '*.go' | xargs -0 gofmt -l)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi
if [ -f hack/go.mod ]; then (cd hack && go vet ./...); fi
if [ -f hack/validate/go.mod ]; then (cd hack/validate && go vet ./...); fi
if [ -f hack/integrations/go.mod ]; then (cd hack/integrations && go vet ./...); fi
