package inject

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// kustomize applies an overlay's patches to its bases' resources, and a
// JSON patch or a strategic merge of a list addresses a container by its
// index (/spec/template/spec/containers/1): a base that inject changed
// has its containers moved, so the overlay patches other containers. inject
// runs after kustomize build, on its output.

// inBuild are annotations that kustomize puts on resources only while it
// builds (a KRM function of a kustomization sees them): inject is running
// inside a build, which may be a base's.
var inBuild = []string{
	"config.kubernetes.io/path",
	"internal.config.kubernetes.io/path",
	"config.kubernetes.io/index",
	"internal.config.kubernetes.io/index",
}

// BaseWarning says why inject should run on kustomize build's output, not
// on a kustomization's files; what says what in the input is one.
func BaseWarning(what string) string {
	return fmt.Sprintf("%s: inject runs after kustomize build (kustomize build DIR | podseq inject -f -): injected into a base, the containers move, and an overlay's patches that name containers by index (containers/1) patch other ones", what)
}

// kustomizeWarnings warns when a document that inject changed is one of
// a kustomize build's resources on their way, or the input holds a
// Kustomization (the files of a kustomize directory, not its build).
func (pr *processor) kustomizeWarnings(obj object, root *yaml.Node, changed bool) {
	if obj.kind == "Kustomization" && !pr.warnedBase {
		pr.warnedBase = true
		pr.warnings = append(pr.warnings, BaseWarning(obj.String()+": a kustomization in the input"))
		return
	}
	if !changed || pr.o.KRMFunction {
		return
	}
	ann := annotations(root)
	for _, k := range inBuild {
		if _, ok := ann[k]; ok {
			pr.warnings = append(pr.warnings, BaseWarning(fmt.Sprintf("%s: annotation %s (inside a kustomize build; if this kustomization is a base)", obj, k)))
			return
		}
	}
}
