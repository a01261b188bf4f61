#!/usr/bin/env bash
# go vet and gofmt over the modules, staticcheck and deadcode over the Go code,
# and actionlint over the GitHub workflows.
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

# staticcheck (honnef.co/go/tools) and deadcode (golang.org/x/tools), tools of
# hack/tools' module, so that neither the product's go.mod nor hack's grows.
# Each reports every finding before the script fails.
(cd hack/tools && go build -o "$tools/" honnef.co/go/tools/cmd/staticcheck golang.org/x/tools/cmd/deadcode)
failed=0
"$tools/staticcheck" ./... || failed=1
for m in hack hack/release hack/integrations hack/validate; do
  (cd "$m" && "$tools/staticcheck" ./...) || failed=1
done
# deadcode, twice. With -test over this module: nothing may be unreachable
# even from the tests. Without -test, from the programs alone (the binaries,
# and hack's and hack/release's, which import this module's packages: a
# go.work over the three modules): product code that only tests call is dead
# too (issue 22), but for the internal/test* helpers, which are for tests, and
# what hack/deadcode-allow.txt lists, with why.
dead=$("$tools/deadcode" -test ./...)
if [ -n "$dead" ]; then
  echo "deadcode -test: unreachable even from the tests:" >&2; echo "$dead" >&2; failed=1
fi
root=$PWD
printf 'go %s\nuse %s\nuse %s\nuse %s\n' "$(go list -m -f '{{.GoVersion}}')" "$root" "$root/hack" "$root/hack/release" >"$tools/go.work"
GOWORK="$tools/go.work" "$tools/deadcode" -filter '^github\.com/podseq/podseq/' \
  -f '{{range .Funcs}}{{$.Path}} {{.Name}} {{.Position.File}}:{{.Position.Line}}{{"\n"}}{{end}}' \
  github.com/podseq/podseq/... github.com/podseq/podseq/hack/... github.com/podseq/podseq/hack/release/... >"$tools/dead"
dead=$(grep -v '^github\.com/podseq/podseq/internal/test' "$tools/dead" |
  grep -vF -f <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' -e 's/$/ /' hack/deadcode-allow.txt) || true)
if [ -n "$dead" ]; then
  echo "deadcode: called by tests only, or not at all (PACKAGE FUNC POSITION):" >&2; echo "$dead" >&2; failed=1
fi
exit "$failed"
