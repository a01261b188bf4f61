#!/usr/bin/env bash
# make kind-load: builds podseq's image tarball (no Docker needed), loads it
# into a kind cluster with `kind load image-archive`, applies manifests/demo
# and prints the start times of the demo pod's containers.
#
# Env: GOARCH (default: go env GOARCH), IMAGE (default podseq:dev),
# KIND_CLUSTER (default: kind's default cluster, "kind"), TIMEOUT (180s).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in kind kubectl; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "kind-load: $tool is not installed (https://kind.sigs.k8s.io/ and kubectl); nothing was done" >&2
		exit 1
	fi
done
cluster=${KIND_CLUSTER:-kind}
if ! kind get clusters 2>/dev/null | grep -qx "$cluster"; then
	echo "kind-load: no kind cluster named $cluster (kind create cluster --name $cluster); nothing was done" >&2
	exit 1
fi

tarball=$(hack/image-tar.sh)
echo "kind-load: loading $tarball into kind cluster $cluster"
kind load image-archive --name "$cluster" "$tarball"

kubectl --context "kind-$cluster" delete deployment podseq-demo --ignore-not-found --wait=true >/dev/null
kubectl --context "kind-$cluster" apply -k manifests/demo
KUBECTL_CONTEXT="kind-$cluster" exec hack/demo-order.sh podseq-demo "${TIMEOUT:-180s}"
