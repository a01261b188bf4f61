package inject

import (
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// PodPlan is what PlanPod made of one Pod.
type PodPlan struct {
	// Pod is the planned Pod as JSON: the input itself when nothing changed.
	Pod []byte
	// Changed reports whether Pod differs from the input.
	Changed bool
	// Warnings are one line each, "container C: why", for containers whose
	// order rests on a postStart hook alone (Result.Warnings, without the
	// pod's name, which the caller knows better).
	Warnings []string
}

// PodError is a Pod that inject cannot order: a bad annotation, a
// dependency that is not in the pod, a container inject cannot change.
type PodError struct {
	// Container is the container concerned, "" for the pod as a whole.
	Container string
	// Reason says what is wrong, without the pod's or the container's name.
	Reason string
}

func (e *PodError) Error() string {
	if e.Container != "" {
		return "container " + e.Container + ": " + e.Reason
	}
	return e.Reason
}

// PlanPod plans one Pod given as JSON (an object of kind Pod) with the code
// Process runs for a Pod document: the same input and options give the
// same pod. A pod that is not asking for an order comes back unchanged; one
// injected earlier is planned again from its original (containers added
// since take their place in the order). Errors: *PodError for a pod inject
// cannot order; otherwise an error wrapping ErrBadInput for input that is
// not a Pod object.
func PlanPod(in []byte, o Options) (*PodPlan, error) {
	if len(in) > MaxDocBytes {
		return nil, fmt.Errorf("%w: a pod of %d bytes: the limit is %d MiB", ErrBadInput, len(in), MaxDocBytes>>20)
	}
	if !isJSON(string(in)) {
		return nil, fmt.Errorf("%w: the pod is not a JSON object", ErrBadInput)
	}
	if err := checkOptions(&o); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	doc, err := parseDoc(string(in))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: the pod is not a JSON object", ErrBadInput)
	}
	if k := str(root, "kind"); k != "Pod" {
		return nil, fmt.Errorf("%w: kind %q: want Pod", ErrBadInput, k)
	}
	pr := &processor{o: &o, used: map[string]bool{}}
	changed, err := pr.object(root)
	if err != nil {
		var de *docError
		if errors.As(err, &de) {
			return nil, &PodError{Container: de.container, Reason: de.msg}
		}
		return nil, err
	}
	plan := &PodPlan{Pod: in, Changed: changed}
	prefix := objectOf(root).String() + ": "
	for _, w := range pr.warnings {
		plan.Warnings = append(plan.Warnings, strings.TrimPrefix(w, prefix))
	}
	if changed {
		out, err := encodeJSON(doc, string(in))
		if err != nil {
			return nil, err
		}
		plan.Pod = []byte(out)
	}
	return plan, nil
}
