package inject

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// templatePaths gives, for every workload kind, the path from the object to
// its pod template (metadata + spec). A Pod is its own template.
var templatePaths = map[string][]string{
	"Pod":                   nil,
	"Deployment":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
	"PodTemplate":           {"template"},
}

// listKinds hold other objects in items: kubectl's List and the KRM
// function protocol's ResourceList.
var listKinds = map[string]bool{"List": true, "ResourceList": true}

// object names a document in messages: Kind/namespace/name, or Kind/name.
type object struct {
	kind, namespace, name string
}

func objectOf(root *yaml.Node) object {
	md := get(root, "metadata")
	return object{kind: str(root, "kind"), namespace: str(md, "namespace"), name: str(md, "name")}
}

func (o object) String() string {
	kind := o.kind
	if kind == "" {
		kind = "(no kind)"
	}
	if o.namespace != "" {
		return kind + "/" + o.namespace + "/" + o.name
	}
	return kind + "/" + o.name
}

// anyTemplate is where any other kind carries a pod template, if it has
// one: a Knative Service, an Argo Rollout, an OpenKruise CloneSet, ...
var anyTemplate = []string{"spec", "template"}

// templatePath returns the path of a kind's pod template, spelled out.
func templatePath(kind string) string {
	p, ok := templatePaths[kind]
	if !ok {
		p = anyTemplate
	}
	if p == nil {
		return "the object itself"
	}
	return strings.Join(p, ".")
}

// template returns the pod template of a workload, and whether the object
// is one: a kind of templatePaths, or any other kind with a pod template
// (a mapping with spec.containers, or with podseq's annotations) at
// spec.template. A kind of
// templatePaths with the template missing returns nil, true.
func template(root *yaml.Node) (*yaml.Node, bool) {
	p, ok := templatePaths[str(root, "kind")]
	if !ok {
		t := path(root, anyTemplate...)
		if t == nil || t.Kind != yaml.MappingNode {
			return nil, false
		}
		if path(t, "spec", "containers") == nil && podseqKey(annotations(t)) == "" {
			return nil, false // a template of something else, asking nothing of inject
		}
		return t, true
	}
	if p == nil {
		return root, true
	}
	t := path(root, p...)
	if t == nil || t.Kind != yaml.MappingNode {
		return nil, true
	}
	return t, true
}

// custom reports whether an object is of a custom resource kind: its API
// group is a domain name outside Kubernetes' own (*.k8s.io).
func custom(root *yaml.Node) bool {
	group, _, ok := strings.Cut(str(root, "apiVersion"), "/")
	return ok && strings.Contains(group, ".") && !strings.HasSuffix(group, ".k8s.io") && str(root, "kind") != "Kustomization"
}

// noTemplate is the one answer to a request for an order on an object
// without a pod template, whatever its kind.
func noTemplate(obj object, key string) error {
	if !strings.HasPrefix(key, "--") { // an annotation, else a flag
		key = "annotation " + key
	}
	return &docError{obj: obj, msg: fmt.Sprintf("%s asks for an order, but the object has no pod template: inject orders the containers of a Pod, and of the pod template of a Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController or Job and of any other kind at spec.template (with spec.containers), of a CronJob at spec.jobTemplate.spec.template, of a PodTemplate at template", key)}
}
