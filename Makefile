# podseq: every target is a one-liner; the work lives in hack/.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GOARCH  ?= $(shell go env GOARCH)
BIN     ?= bin/podseq
export CGO_ENABLED := 0

.PHONY: help build demo test lint fuzz bench e2e e2e-bench e2e-matrix image image-tar release load-2-minikube kind-load clean

build: ## the static binaries, bin/podseq and bin/kubectl-podseq (podseq inject), with hack/build.sh as the image's
	GOARCH=$(GOARCH) VERSION=$(VERSION) OUT=$(BIN) hack/build.sh
	GOARCH=$(GOARCH) VERSION=$(VERSION) OUT=$(dir $(BIN))kubectl-podseq PKG=./cmd/kubectl-podseq hack/build.sh

demo: build ## a simulated pod, kubelet's way, with real podseq: the app starts only after its sidecar is ready (Go 1.26)
	cd hack && go run ./demo -podseq ../$(BIN)

test: ## every test: vet, gofmt, race detector, brief fuzzing, manifest checks
	hack/test.sh

lint: ## go vet and gofmt
	hack/lint.sh

fuzz: ## the parsers' fuzz targets, longer (FUZZTIME=1m)
	FUZZTIME=$${FUZZTIME:-1m} hack/fuzz.sh

bench: build ## speed figures: release overshoot, CPU, RSS, binary size
	hack/bench.sh

e2e: ## a real kubelet + containerd + runc running the manifests as static pods, and a cluster around it (v1.37)
	hack/e2e/run.sh

e2e-bench: ## make e2e and the timed comparisons (compare, gate-compare, delivery-compare, pleg-gate), medians beside their baselines
	hack/e2e/run.sh -bench

e2e-matrix: ## the core e2e scenarios on Kubernetes v1.27, v1.34 and v1.37, one table
	hack/e2e/matrix.sh

image: ## the image, with Docker
	docker build --platform linux/$(GOARCH) --build-arg VERSION=$(VERSION) --build-arg REVISION=$$(git rev-parse HEAD) -t $${IMAGE:-podseq:dev} .

image-tar: ## the same image without Docker: bin/podseq-image-$(GOARCH).tar
	GOARCH=$(GOARCH) VERSION=$(VERSION) hack/image-tar.sh

release: ## every release artifact in dist/, no Docker or registry: make release VERSION=vX.Y.Z (hack/release)
	cd hack/release && go run . -version '$(VERSION)' -repo ../.. -dist ../../dist

load-2-minikube: ## build the image tarball, load it into minikube, apply manifests/demo
	hack/load-2-minikube.sh

kind-load: ## build the image tarball and load it into kind
	hack/kind-load.sh

clean: ## remove bin/ and dist/
	rm -rf bin dist

help: ## this list
	@awk -F ':.*## ' '/^[a-zA-Z0-9_-]+:.*## / { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
