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
// it changed, from the marks it left and its record: the native sidecars
// go back to the containers, each container gets back what inject changed
// in it, then the containers their order, the volumes and the annotations.
func undo(obj object, tmpl *yaml.Node, src *source) error {
	ann := path(tmpl, "metadata", "annotations")
	raw := get(ann, UndoKey)
	if raw == nil {
		return nil
	}
	u := &undoer{obj: obj, tmpl: tmpl, src: src}
	if err := json.Unmarshal([]byte(raw.Value), &u.rec); err != nil {
		return &docError{obj: obj, msg: UndoKey + " annotation: malformed: " + err.Error()}
	}
	spec := get(tmpl, "spec")
	cs := get(spec, "containers")
	u.nativeBack(spec, cs)
	for _, c := range append(items(cs), items(get(spec, "initContainers"))...) {
		if err := u.container(c); err != nil {
			return err
		}
	}
	u.order(cs)
	u.volumes(spec)
	u.annotations(ann)
	return nil
}

// undoer undoes one pod template's injection from its record.
type undoer struct {
	obj  object
	tmpl *yaml.Node
	src  *source
	rec  record
}

// created reports whether inject created the field label (and so removes
// it once empty).
func (u *undoer) created(label string) bool { return slices.Contains(u.rec.Created, label) }

// nativeBack moves the native sidecars inject made back to the containers
// and drops the install container.
func (u *undoer) nativeBack(spec, cs *yaml.Node) {
	ics := get(spec, "initContainers")
	if ics == nil {
		return
	}
	kept := ics.Content[:0]
	for _, c := range ics.Content {
		name := str(c, "name")
		switch {
		case name == InstallContainer:
		case slices.Contains(u.rec.Native, name):
			del(c, "restartPolicy")
			cs.Content = append(cs.Content, c)
		default:
			kept = append(kept, c)
		}
	}
	ics.Content = kept
	if len(ics.Content) == 0 && u.created("initContainers") {
		del(spec, "initContainers")
	}
}

// container gives c back its command, hook, startupProbe and mounts.
func (u *undoer) container(c *yaml.Node) error {
	name := str(c, "name")
	if cmd := get(c, "command"); ours(cmd) {
		unwrap(cmd)
	}
	if lc := get(c, "lifecycle"); lc != nil && ours(path(lc, "postStart", "exec", "command")) {
		// A hook that inject composed with gets its own command back.
		if !unwrap(path(lc, "postStart", "exec", "command")) {
			del(lc, "postStart")
		}
		if len(lc.Content) == 0 && u.created(name+"/lifecycle") {
			del(c, "lifecycle")
		}
	}
	if err := u.startupProbe(c, name); err != nil {
		return err
	}
	if vms := get(c, "volumeMounts"); vms != nil {
		vms.Content = slices.DeleteFunc(vms.Content, func(m *yaml.Node) bool { return ourVolume(str(m, "name")) })
		if len(vms.Content) == 0 && u.created(name+"/volumeMounts") {
			del(c, "volumeMounts")
		}
	}
	return nil
}

// startupProbe puts back the startupProbe inject replaced in container
// name, from the record (as the file's lines where it kept those), or
// removes the one it added.
func (u *undoer) startupProbe(c *yaml.Node, name string) error {
	sp := get(c, "startupProbe")
	if sp == nil || !ours(path(sp, "exec", "command")) {
		return nil
	}
	old, ok := u.rec.Probes[name]
	if !ok {
		del(c, "startupProbe")
		return nil
	}
	n, err := yaml.Parse(old)
	if err != nil {
		return &docError{obj: u.obj, container: name, msg: UndoKey + " annotation: the startupProbe it keeps is malformed: " + err.Error()}
	}
	set(c, "startupProbe", n.YNode()) // in its place
	if u.src != nil && recordedText(old) {
		u.src.verbatim[n.YNode()] = old
	}
	return nil
}

// order puts the containers back in their original order; containers
// added since keep theirs, at the end.
func (u *undoer) order(cs *yaml.Node) {
	if cs == nil {
		return
	}
	slices.SortStableFunc(cs.Content, func(a, b *yaml.Node) int {
		return rank(u.rec.Containers, str(a, "name")) - rank(u.rec.Containers, str(b, "name"))
	})
}

// volumes removes podseq's volumes.
func (u *undoer) volumes(spec *yaml.Node) {
	vols := get(spec, "volumes")
	if vols == nil {
		return
	}
	vols.Content = slices.DeleteFunc(vols.Content, func(v *yaml.Node) bool { return ourVolume(str(v, "name")) })
	if len(vols.Content) == 0 && u.created("volumes") {
		del(spec, "volumes")
	}
}

// annotations removes inject's annotations and puts back the settings it
// changed, then the metadata it created if nothing is left in it.
func (u *undoer) annotations(ann *yaml.Node) {
	for _, k := range []string{InjectedKey, UnsafeKey, UndoKey} {
		del(ann, k)
	}
	for _, k := range slices.Sorted(maps.Keys(u.rec.Settings)) {
		if old := u.rec.Settings[k]; old == nil {
			del(ann, k)
		} else if v := get(ann, k); v != nil {
			v.Value = *old
		} else {
			set(ann, k, scalar(*old))
		}
	}
	md := get(u.tmpl, "metadata")
	if len(ann.Content) == 0 && u.created("annotations") {
		del(md, "annotations")
	}
	if md != nil && len(md.Content) == 0 && u.created("metadata") {
		del(u.tmpl, "metadata")
	}
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
