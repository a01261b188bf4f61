# podseq's image: nothing but the static binaries, /podseq and /kubectl-podseq
# (podseq inject runs the one found next to podseq), run as a non-root user.
#
#   make image                      # docker build -t podseq:dev .
#   docker build --build-arg VERSION=v1.2.3 --build-arg REVISION=$(git rev-parse HEAD) \
#     --platform linux/arm64 -t podseq:v1.2.3 .
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
# The same build as `make build` (hack/build.sh): the same flags, the same binary.
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH VERSION=$VERSION OUT=/out/podseq sh hack/build.sh && \
    GOOS=$TARGETOS GOARCH=$TARGETARCH VERSION=$VERSION OUT=/out/kubectl-podseq PKG=./cmd/kubectl-podseq sh hack/build.sh

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
# The labels hack/image-tar.sh (and so make release) writes too.
LABEL org.opencontainers.image.source=https://github.com/podseq/podseq \
      org.opencontainers.image.version=$VERSION \
      org.opencontainers.image.revision=$REVISION \
      org.opencontainers.image.licenses=Apache-2.0
# go build leaves the binaries 0755; COPY makes them owned by 0:0.
COPY --from=build /out/podseq /podseq
COPY --from=build /out/kubectl-podseq /kubectl-podseq
# 65532 is distroless's "nonroot"; no /etc/passwd is needed for a numeric user.
USER 65532:65532
ENTRYPOINT ["/podseq"]
