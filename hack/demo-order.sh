#!/usr/bin/env bash
# hack/demo-order.sh DEPLOYMENT [TIMEOUT]: waits for the deployment's pod to
# be Ready and prints when each container started, in start order, then the
# app's log. Used by load-2-minikube.sh and kind-load.sh.
set -euo pipefail
deploy=$1
timeout=${2:-180s}
kc=(kubectl)
if [ -n "${KUBECTL_CONTEXT:-}" ]; then kc+=(--context "$KUBECTL_CONTEXT"); fi
selector="app.kubernetes.io/name=$deploy"

echo "demo-order: waiting up to $timeout for $deploy (the sidecar is ready after 10s)"
if ! "${kc[@]}" rollout status "deployment/$deploy" --timeout="$timeout"; then
	echo "demo-order: $deploy did not become ready; kubectl describe pod -l $selector says:" >&2
	"${kc[@]}" describe pod -l "$selector" >&2 || true
	exit 1
fi
pod=$("${kc[@]}" get pod -l "$selector" --field-selector=status.phase=Running \
	-o jsonpath='{.items[0].metadata.name}')
echo
echo "pod $pod, containers in the order they started:"
"${kc[@]}" get pod "$pod" -o jsonpath='{range .status.containerStatuses[*]}{.state.running.startedAt}{"  "}{.name}{"\n"}{end}' | sort
echo
echo "the app's log:"
"${kc[@]}" logs "$pod" -c app
