#!/usr/bin/env bash
# The whole test suite (README's second command; .ci/run calls it through `make test`):
# gofmt and go vet, every test under the race detector, brief fuzzing, the hack
# module's tests (manifest checks: strict decoding, Pod Security restricted,
# kustomize image override; image builder and push; one build for make and
# the Dockerfile; make help), inject's output validated by the API server's
# code, the release (hack/release) and actionlint, and the integrations module
# (Helm, kustomize, cross-version).
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=1 # the race detector needs cgo; the shipped binary is built with CGO_ENABLED=0
hack/lint.sh
# Most tests wait on sockets, timers and child processes rather than the CPU:
# -parallel 8 (the default is GOMAXPROCS, 2 here) halves the wall time.
go test -race -count=1 -parallel 8 ./...
FUZZTIME=${FUZZTIME:-5s} hack/fuzz.sh
if [ -f hack/go.mod ]; then (cd hack && go test -count=1 ./...); fi
# podseq inject's output, checked by the API server's validation and Pod Security (heavy: its own module).
(cd hack/validate && go test -count=1 ./...)
# make release, twice (reproducible), every artifact checked; krew validates and installs it.
(cd hack/release && go test -count=1 -timeout 30m ./...)
# The real Helm 4, Helm 3 and kustomize running inject (post-renderer, KRM function), and podseq
# against an earlier podseq from this repository's history (heavy: its own module; the tools
# are built into the Go build cache once, by go tool: cold, its tests took 21 minutes on a
# loaded 2-core machine, hence the timeout; warm, about 20 s).
(cd hack/integrations && go test -count=1 -timeout 60m ./...)
