#!/usr/bin/env bash
# make load-2-minikube: builds podseq's image tarball (no Docker needed),
# loads it into minikube, applies manifests/demo and prints the start times of
# the demo pod's containers: the app starts only after the sidecar is ready.
#
# Env: GOARCH (default: go env GOARCH; use the cluster's node architecture),
# IMAGE (default podseq:dev, the manifests' image), MINIKUBE_PROFILE (-p),
# TIMEOUT (kubectl wait, default 180s).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in minikube kubectl; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "load-2-minikube: $tool is not installed (https://minikube.sigs.k8s.io/docs/start/ and kubectl); nothing was done" >&2
		exit 1
	fi
done
profile=()
if [ -n "${MINIKUBE_PROFILE:-}" ]; then profile=(-p "$MINIKUBE_PROFILE"); fi
if ! minikube "${profile[@]}" status >/dev/null 2>&1; then
	echo "load-2-minikube: minikube is not running (minikube ${profile[*]} start); nothing was done" >&2
	exit 1
fi

tarball=$(hack/image-tar.sh)
echo "load-2-minikube: loading $tarball into minikube"
minikube "${profile[@]}" image load "$tarball"

# A fresh pod each run, so the start times are this run's.
kubectl delete deployment podseq-demo --ignore-not-found --wait=true >/dev/null
kubectl apply -k manifests/demo
exec hack/demo-order.sh podseq-demo "${TIMEOUT:-180s}"
