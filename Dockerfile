# podseq's image: nothing but the static binaries, run as a non-root user:
# /podseq, and /kubectl-podseq beside it for `podseq inject` and `podseq
# webhook` (the admission webhook, manifests/webhook), which run it.
#
#   make image                      # docker build -t podseq:dev .
#   docker build --build-arg VERSION=v1.2.3 --platform linux/arm64 -t podseq:v1.2.3 .
#
# Without Docker, `make image-tar` builds the same image (hack/image-tar.sh).
# The image works with readOnlyRootFilesystem: true, runAsNonRoot: true and
# every capability dropped: podseq writes nothing outside the volumes it is
# given (an emptyDir for `podseq install`, the graveyard for tombstones).

# The builder runs on the build machine's platform and cross-compiles, so a
# multi-platform build needs no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The same build as `make build` (hack/build.sh): the same flags, the same binaries.
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH VERSION=$VERSION OUT=/out/kubectl-podseq PKG=./cmd/kubectl-podseq sh hack/build.sh && \
	GOOS=$TARGETOS GOARCH=$TARGETARCH VERSION=$VERSION OUT=/out/podseq sh hack/build.sh

FROM scratch
# go build leaves the binary 0755; COPY makes it owned by 0:0.
COPY --from=build /out/kubectl-podseq /kubectl-podseq
COPY --from=build /out/podseq /podseq
# 65532 is distroless's "nonroot"; no /etc/passwd is needed for a numeric user.
USER 65532:65532
ENTRYPOINT ["/podseq"]
