package wait

import (
	"os"
	"slices"

	"github.com/podseq/podseq/probes"
)

// PodIPHint explains, after the failure line, the one deadlock podseq cannot
// break itself: a local sidecar that needs the pod's IP, which kubelet does
// not publish while a postStart hook runs. It is given only where that can
// be the cause: inside a pod (KUBERNETES_SERVICE_HOST, which kubelet sets in
// every container), for a loopback target refused or timed out; "" otherwise.
func PodIPHint(r probes.Report) string {
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return ""
	}
	if !slices.ContainsFunc(r.Targets, probes.MayNeedPodIP) {
		return ""
	}
	return "hint: if this sidecar needs the pod IP (a CNI, a mesh control plane), it never gets it " +
		"during postStart; add a no-op init container to the pod (see README, Troubleshooting)"
}
