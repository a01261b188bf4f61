package webhook

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/podseq/podseq/inject"
)

// Unordered is a pod that asks for an order (an after.podseq.dev/
// annotation) and does not have it.
type Unordered struct {
	Namespace, Name string
	// Reason: the webhook's NotInjectedKey, or NotSeen when the pod has no
	// mark of the webhook at all.
	Reason string
}

// NotSeen is the reason of a pod the webhook never answered for: it was
// down or too slow (failurePolicy Ignore admitted the pod), or the pod's
// namespace was not labelled when the pod was made.
const NotSeen = "not seen by the webhook (down or timed out when the pod was created, or the namespace was not labelled then)"

// FindUnordered reads a PodList (kubectl get pods -o json) and returns its
// unordered pods, by namespace and name.
func FindUnordered(podList []byte) ([]Unordered, error) {
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name        string            `json:"name"`
				Namespace   string            `json:"namespace"`
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal(podList, &list); err != nil {
		return nil, fmt.Errorf("not a list of pods: %w", err)
	}
	if list.Kind != "List" && list.Kind != "PodList" {
		return nil, fmt.Errorf("not a list of pods: kind %q", list.Kind)
	}
	var out []Unordered
	for _, p := range list.Items {
		if p.Kind != "" && p.Kind != "Pod" {
			continue
		}
		a := p.Metadata.Annotations
		asks := false
		for k := range a {
			if strings.HasPrefix(k, inject.AfterPrefix) {
				asks = true
				break
			}
		}
		if !asks {
			continue
		}
		if _, ok := a[inject.InjectedKey]; ok {
			continue
		}
		why, ok := a[NotInjectedKey]
		if !ok {
			why = NotSeen
		}
		out = append(out, Unordered{Namespace: p.Metadata.Namespace, Name: p.Metadata.Name, Reason: why})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}
