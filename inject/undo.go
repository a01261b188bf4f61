package inject

import (
	"encoding/json"
	"maps"
	"slices"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// ours reports whether a command is one inject wrote or wrapped.
func ours(cmd *yaml.Node) bool {
	return cmd != nil && cmd.Kind == yaml.SequenceNode && len(cmd.Content) > 0 && cmd.Content[0].Value == Bin
}

// undo removes everything inject added to a pod template and restores what
// it changed, from the marks it left and its record.
func undo(obj object, tmpl *yaml.Node, src *source) error {
	ann := path(tmpl, "metadata", "annotations")
	raw := get(ann, UndoKey)
	if raw == nil {
		return nil
	}
	var rec record
	if err := json.Unmarshal([]byte(raw.Value), &rec); err != nil {
		return &docError{obj: obj, msg: UndoKey + " annotation: malformed: " + err.Error()}
	}
	created := func(label string) bool { return slices.Contains(rec.Created, label) }
	spec := get(tmpl, "spec")
	cs := get(spec, "containers")
	ics := get(spec, "initContainers")

	// Native sidecars go back to the containers.
	if ics != nil {
		kept := ics.Content[:0]
		for _, c := range ics.Content {
			name := str(c, "name")
			switch {
			case name == InstallContainer:
			case slices.Contains(rec.Native, name):
				del(c, "restartPolicy")
				cs.Content = append(cs.Content, c)
			default:
				kept = append(kept, c)
			}
		}
		ics.Content = kept
		if len(ics.Content) == 0 && created("initContainers") {
			del(spec, "initContainers")
		}
	}
	for _, c := range append(items(cs), items(get(spec, "initContainers"))...) {
		name := str(c, "name")
		if cmd := get(c, "command"); ours(cmd) {
			unwrap(cmd)
		}
		if lc := get(c, "lifecycle"); lc != nil && ours(path(lc, "postStart", "exec", "command")) {
			// A hook that inject composed with gets its own command back.
			if !unwrap(path(lc, "postStart", "exec", "command")) {
				del(lc, "postStart")
			}
			if len(lc.Content) == 0 && created(name+"/lifecycle") {
				del(c, "lifecycle")
			}
		}
		if sp := get(c, "startupProbe"); sp != nil && ours(path(sp, "exec", "command")) {
			if old, ok := rec.Probes[name]; ok {
				n, err := yaml.Parse(old)
				if err != nil {
					return &docError{obj: obj, container: name, msg: UndoKey + " annotation: the startupProbe it keeps is malformed: " + err.Error()}
				}
				set(c, "startupProbe", n.YNode()) // in its place
				if src != nil && recordedText(old) {
					src.verbatim[n.YNode()] = old
				}
			} else {
				del(c, "startupProbe")
			}
		}
		if vms := get(c, "volumeMounts"); vms != nil {
			vms.Content = slices.DeleteFunc(vms.Content, func(m *yaml.Node) bool { return ourVolume(str(m, "name")) })
			if len(vms.Content) == 0 && created(name+"/volumeMounts") {
				del(c, "volumeMounts")
			}
		}
	}
	// The original order; containers added since keep theirs, at the end.
	if cs != nil {
		slices.SortStableFunc(cs.Content, func(a, b *yaml.Node) int {
			return rank(rec.Containers, str(a, "name")) - rank(rec.Containers, str(b, "name"))
		})
	}
	if vols := get(spec, "volumes"); vols != nil {
		vols.Content = slices.DeleteFunc(vols.Content, func(v *yaml.Node) bool { return ourVolume(str(v, "name")) })
		if len(vols.Content) == 0 && created("volumes") {
			del(spec, "volumes")
		}
	}
	for _, k := range []string{InjectedKey, UnsafeKey, UndoKey} {
		del(ann, k)
	}
	for _, k := range slices.Sorted(maps.Keys(rec.Settings)) {
		if old := rec.Settings[k]; old == nil {
			del(ann, k)
		} else if v := get(ann, k); v != nil {
			v.Value = *old
		} else {
			set(ann, k, scalar(*old))
		}
	}
	md := get(tmpl, "metadata")
	if len(ann.Content) == 0 && created("annotations") {
		del(md, "annotations")
	}
	if md != nil && len(md.Content) == 0 && created("metadata") {
		del(tmpl, "metadata")
	}
	return nil
}

// unwrap removes what inject put in front of a command, up to its "--",
// and reports whether there was one.
func unwrap(cmd *yaml.Node) bool {
	for i, a := range cmd.Content {
		if a.Value == "--" {
			cmd.Content = cmd.Content[i+1:]
			return true
		}
	}
	return false
}

// rank is a name's index in order, or past the end if it is not there.
func rank(order []string, name string) int {
	if i := slices.Index(order, name); i >= 0 {
		return i
	}
	return len(order)
}
