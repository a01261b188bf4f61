#!/usr/bin/env bash
# Builds podseq's image WITHOUT Docker: the same image as the Dockerfile
# (/podseq and /kubectl-podseq, 0755, owned 0:0; user 65532:65532;
# entrypoint /podseq), as a
# docker-archive tarball that `minikube image load`, `kind load image-archive`,
# `ctr images import` and `docker load` accept.
#
#   GOARCH=arm64 hack/image-tar.sh        # -> bin/podseq-image-arm64.tar
#   IMAGE=example.com/podseq:v1 hack/image-tar.sh
#
# Env: GOARCH (amd64 or arm64; default: go env GOARCH), IMAGE (default
# podseq:dev), VERSION (stamped into the binary; default: git describe),
# OUT (default bin/podseq-image-$GOARCH.tar). Prints the tarball's path.
set -euo pipefail
cd "$(dirname "$0")/.."

GOARCH=${GOARCH:-$(go env GOARCH)}
IMAGE=${IMAGE:-podseq:dev}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
case "$GOARCH" in
amd64 | arm64) ;;
*) echo "image-tar: GOARCH=$GOARCH: want amd64 or arm64" >&2; exit 2 ;;
esac
OUT=${OUT:-bin/podseq-image-$GOARCH.tar}
BIN=bin/linux-$GOARCH/podseq
KBIN=bin/linux-$GOARCH/kubectl-podseq

# The build of `make build` and the Dockerfile (hack/build.sh), for linux.
mkdir -p "$(dirname "$BIN")" "$(dirname "$OUT")"
GOOS=linux GOARCH=$GOARCH VERSION=$VERSION OUT=$BIN hack/build.sh
GOOS=linux GOARCH=$GOARCH VERSION=$VERSION OUT=$KBIN PKG=./cmd/kubectl-podseq hack/build.sh

# mkimage lives in the hack module so that podseq never links the registry
# library; it runs on the build machine's own platform.
out_abs=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
bin_abs=$(pwd)/$BIN
kbin_abs=$(pwd)/$KBIN
arch=$GOARCH
(cd hack && env -u GOOS -u GOARCH go run ./mkimage -o "$out_abs" -tag "$IMAGE" -arch "$arch" \
	-file "$bin_abs:/podseq:0755" -file "$kbin_abs:/kubectl-podseq:0755" -entrypoint /podseq -user 65532:65532)
echo "$OUT"
