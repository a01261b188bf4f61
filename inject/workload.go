package inject

import (
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

// template returns the pod template of a workload, and whether the kind has
// one. A workload kind with the template missing returns nil, true.
func template(root *yaml.Node) (*yaml.Node, bool) {
	p, ok := templatePaths[str(root, "kind")]
	if !ok {
		return nil, false
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
