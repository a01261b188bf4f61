#!/usr/bin/env bash
# Builds podseq's image WITHOUT Docker: the same image as the Dockerfile
# (/podseq and /kubectl-podseq, 0755, owned 0:0; user 65532:65532; entrypoint
# /podseq; the OCI labels source, version, revision and licenses), as a
# docker-archive tarball that `minikube image load`, `kind load image-archive`,
# `ctr images import` and `docker load` accept, or, with OCI=DIR, as an OCI
# image layout holding one image per architecture of ARCHS under one index
# (what `make release` ships; `crane push DIR REF` publishes it).
#
#   GOARCH=arm64 hack/image-tar.sh        # -> bin/podseq-image-arm64.tar
#   IMAGE=example.com/podseq:v1 hack/image-tar.sh
#   OCI=dist/image ARCHS="amd64 arm64" VERSION=v1.2.3 hack/image-tar.sh
#
# Env: GOARCH (amd64 or arm64; default: go env GOARCH), IMAGE (default
# podseq:dev), VERSION (stamped into the binaries and the version label;
# default: git describe), REVISION (the revision label; default: git
# rev-parse HEAD), OUT (default bin/podseq-image-$GOARCH.tar), OCI (a layout
# directory instead of OUT), ARCHS (with OCI; default: GOARCH), BINDIR (where
# the binaries are built, BINDIR/linux-ARCH/; default bin), PREBUILT=1 (take
# the binaries already in BINDIR: make release builds them once for its
# archives and its image). Prints the tarball's or the layout's path.
set -euo pipefail
cd "$(dirname "$0")/.."

GOARCH=${GOARCH:-$(go env GOARCH)}
IMAGE=${IMAGE:-podseq:dev}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
REVISION=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
OCI=${OCI:-}
ARCHS=${ARCHS:-$GOARCH}
BINDIR=${BINDIR:-bin}
PREBUILT=${PREBUILT:-}
for arch in $ARCHS; do
	case "$arch" in
	amd64 | arm64) ;;
	*) echo "image-tar: architecture $arch: want amd64 or arm64" >&2; exit 2 ;;
	esac
done
if [ -z "$OCI" ] && [ "$ARCHS" != "$GOARCH" ]; then
	echo "image-tar: ARCHS=$ARCHS: a tarball holds one architecture (GOARCH); several go in OCI=DIR" >&2; exit 2
fi
OUT=${OUT:-bin/podseq-image-$GOARCH.tar}

# The build of `make build` and the Dockerfile (hack/build.sh), for linux.
for arch in $ARCHS; do
	dir=$BINDIR/linux-$arch
	if [ -n "$PREBUILT" ]; then
		[ -f "$dir/podseq" ] && [ -f "$dir/kubectl-podseq" ] && continue
		echo "image-tar: PREBUILT=1 but $dir/podseq or $dir/kubectl-podseq is missing" >&2; exit 2
	fi
	mkdir -p "$dir"
	GOOS=linux GOARCH=$arch VERSION=$VERSION OUT=$dir/podseq hack/build.sh
	GOOS=linux GOARCH=$arch VERSION=$VERSION OUT=$dir/kubectl-podseq PKG=./cmd/kubectl-podseq hack/build.sh
done

abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
bin_abs=$(cd "$BINDIR" && pwd)/linux-{arch}
if [ -n "$OCI" ]; then
	mkdir -p "$(dirname "$OCI")"
	output=(-oci "$(abs "$OCI")" -arch "$(echo $ARCHS | tr ' ' ,)")
else
	mkdir -p "$(dirname "$OUT")"
	output=(-o "$(abs "$OUT")" -tag "$IMAGE" -arch "$GOARCH")
fi
# mkimage lives in the hack module so that podseq never links the registry
# library; it runs on the build machine's own platform.
(cd hack && env -u GOOS -u GOARCH go run ./mkimage "${output[@]}" \
	-file "$bin_abs/podseq:/podseq:0755" \
	-file "$bin_abs/kubectl-podseq:/kubectl-podseq:0755" \
	-entrypoint /podseq -user 65532:65532 \
	-label org.opencontainers.image.source=https://github.com/podseq/podseq \
	-label "org.opencontainers.image.version=$VERSION" \
	-label "org.opencontainers.image.revision=$REVISION" \
	-label org.opencontainers.image.licenses=Apache-2.0)
if [ -n "$OCI" ]; then echo "$OCI"; else echo "$OUT"; fi
