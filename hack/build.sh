#!/bin/sh
# The one way podseq's binary is built: `make build`, `make image-tar`
# (hack/image-tar.sh) and the Dockerfile all run this script, so the image's
# /podseq is byte for byte what `make build` makes from the same source,
# Go version and VERSION (hack/packaging checks that nothing else runs
# go build on ./cmd/podseq).
#
#   VERSION=v1.2.3 OUT=bin/podseq hack/build.sh
#   GOOS=linux GOARCH=arm64 OUT=bin/linux-arm64/podseq hack/build.sh
#   PKG=./cmd/kubectl-podseq OUT=bin/kubectl-podseq hack/build.sh
#
# Static (CGO_ENABLED=0), no file paths (-trimpath), no VCS stamp or build id
# (the Docker build context has no .git), stripped, the version stamped for
# `podseq --version`, and urfave/cli's man/markdown generators left out
# (-tags urfave_cli_no_docs: podseq never generates its docs at run time).
# Env: VERSION (default dev), OUT (default bin/podseq), PKG (default
# ./cmd/podseq; ./cmd/kubectl-podseq is podseq inject's command), GOOS, GOARCH.
# POSIX sh: the Dockerfile's golang image runs it too.
set -eu
VERSION=${VERSION:-dev}
OUT=${OUT:-bin/podseq}
PKG=${PKG:-./cmd/podseq}
CGO_ENABLED=0 exec go build -trimpath -buildvcs=false -tags urfave_cli_no_docs \
	-ldflags "-s -w -buildid= -X github.com/podseq/podseq/internal/version.stamped=$VERSION" -o "$OUT" "$PKG"
