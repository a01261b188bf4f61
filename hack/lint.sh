#!/usr/bin/env bash
# go vet and gofmt over the modules, and actionlint over the GitHub workflows.
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
if [ -f hack/release/go.mod ]; then (cd hack/release && go vet ./...); fi
if [ -f hack/krew/go.mod ]; then (cd hack/krew && go vet ./...); fi
# actionlint (github.com/rhysd/actionlint), a tool of hack/release's module:
# the workflows cannot run here, so they are checked (syntax, expressions,
# action inputs, and shellcheck on run: scripts where shellcheck is installed).
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
(cd hack/release && go build -o "$tools/actionlint" github.com/rhysd/actionlint/cmd/actionlint)
"$tools/actionlint" -no-color .github/workflows/*.yml
