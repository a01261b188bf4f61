// Package inject puts the containers of existing Kubernetes workloads in
// order: it reads manifests whose pod templates say, in annotations, which
// container starts after which, and adds what podseq needs to enforce it
// (an init container that installs podseq, postStart gates, wrapped
// commands, native sidecars or tombstones). Edits go through kyaml, so
// comments, unknown fields and the order of keys stay; documents it does
// not change are copied byte for byte; --undo takes every change back.
package inject

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Size limits. Kubernetes stores no object over 1.5 MiB (etcd's request
// limit), so a bigger document is a mistake, not a workload.
const (
	// MaxDocBytes bounds one document.
	MaxDocBytes = 2 << 20
	// MaxInputBytes bounds the whole input.
	MaxInputBytes = 64 << 20
)

// DefaultTimeout bounds every wait inject writes.
const DefaultTimeout = "2m"

// FormatTimeout writes a duration as Options.Timeout takes it, short: 2m
// rather than 2m0s, 1m30s as it is.
func FormatTimeout(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Options are what the command line gives inject.
type Options struct {
	// After overrides after.podseq.dev/CONTAINER: container -> dependencies,
	// for every pod that has the container.
	After map[string][]string
	// Ready overrides ready.podseq.dev/CONTAINER: container -> targets.
	Ready map[string][]string
	// Mode overrides podseq.dev/mode for every pod; "" leaves it to each.
	Mode Mode
	// Image is the podseq image the install init container runs.
	Image string
	// Timeout bounds every wait inject writes (a Go duration); default 2m.
	Timeout string
	// Undo removes what an earlier inject added, instead of injecting.
	Undo bool
}

func (o *Options) timeout() string {
	if o.Timeout == "" {
		return DefaultTimeout
	}
	return o.Timeout
}

func (o *Options) image() string {
	if o.Image == "" {
		return "podseq:dev"
	}
	return o.Image
}

// ErrBadInput is wrapped by every error about the input (exit code 2).
var ErrBadInput = errors.New("bad input")

// Result is the output of Process.
type Result struct {
	// Out is the whole output stream.
	Out []byte
	// Warnings are one line each, for stderr: pods whose order rests on a
	// postStart hook alone.
	Warnings []string
}

// Process injects (or with Undo, removes) podseq in every workload of a
// YAML stream or a JSON document. It returns an error wrapping ErrBadInput,
// and no output, if any document is bad.
func Process(in []byte, o Options) (*Result, error) {
	if len(in) > MaxInputBytes {
		return nil, fmt.Errorf("%w: input of %d bytes: the limit is %d MiB", ErrBadInput, len(in), MaxInputBytes>>20)
	}
	if !o.Undo {
		if err := checkOptions(&o); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
		}
	}
	pr := &processor{o: &o, used: map[string]bool{}}
	text := string(in)
	var out strings.Builder
	if isJSON(text) {
		s, err := pr.doc(text, 1, true)
		if err != nil {
			return nil, err
		}
		out.WriteString(s)
	} else {
		for _, ch := range splitYAML(text) {
			s, err := pr.doc(ch.text, ch.line, false)
			if err != nil {
				return nil, err
			}
			out.WriteString(ch.sep)
			out.WriteString(s)
		}
	}
	if err := pr.unused(); err != nil {
		return nil, err
	}
	return &Result{Out: []byte(out.String()), Warnings: pr.warnings}, nil
}

func isJSON(text string) bool {
	t := strings.TrimLeft(text, " \t\r\n")
	return strings.HasPrefix(t, "{")
}

// checkOptions validates the overrides once, before any document.
func checkOptions(o *Options) error {
	for c, deps := range o.After {
		if len(deps) == 0 {
			return fmt.Errorf("--after %s=: no dependency", c)
		}
	}
	for c, ts := range o.Ready {
		if _, err := ParseTargets(strings.Join(ts, " ")); err != nil {
			return fmt.Errorf("--ready %s: %v", c, err)
		}
	}
	return nil
}

// processor carries what spans documents.
type processor struct {
	o        *Options
	used     map[string]bool // overrides that applied to some pod
	warnings []string
}

// unused rejects overrides that named a container no pod has.
func (pr *processor) unused() error {
	if pr.o.Undo {
		return nil
	}
	var missing []string
	for c := range pr.o.After {
		if !pr.used["after "+c] {
			missing = append(missing, "--after "+c)
		}
	}
	for c := range pr.o.Ready {
		if !pr.used["ready "+c] {
			missing = append(missing, "--ready "+c)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return fmt.Errorf("%w: %s: no pod in the input has that container", ErrBadInput, strings.Join(missing, ", "))
}

// doc processes one document and returns its output text: the input
// itself when nothing changes.
func (pr *processor) doc(text string, line int, asJSON bool) (string, error) {
	where := func(err error) error {
		return fmt.Errorf("%w: document at %s: %v", ErrBadInput, lineOf(line), err)
	}
	if len(text) > MaxDocBytes {
		return "", where(fmt.Errorf("%d bytes: the limit for one document is %d MiB", len(text), MaxDocBytes>>20))
	}
	if blank(text) {
		return text, nil
	}
	doc, err := parseDoc(text)
	if err != nil {
		return "", where(absoluteLine(err, line))
	}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return text, nil
	}
	changed, err := pr.object(root)
	if err != nil {
		var de *docError
		if errors.As(err, &de) {
			return "", fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		return "", where(err)
	}
	if !changed {
		return text, nil
	}
	if asJSON {
		return encodeJSON(doc, text)
	}
	return encodeYAML(doc, text)
}

// object processes an object, or each item of a List; it reports whether
// anything changed.
func (pr *processor) object(root *yaml.Node) (bool, error) {
	if listKinds[str(root, "kind")] {
		changed := false
		for _, it := range items(get(root, "items")) {
			if it.Kind != yaml.MappingNode {
				continue
			}
			c, err := pr.object(it)
			if err != nil {
				return false, err
			}
			changed = changed || c
		}
		return changed, nil
	}
	obj := objectOf(root)
	tmpl, workload := template(root)
	if !workload {
		if k := podseqKey(annotations(root)); k != "" {
			return false, &docError{obj: obj, msg: fmt.Sprintf("annotation %s: this kind has no pod template", k)}
		}
		return false, nil
	}
	if tmpl == nil {
		if k := podseqKey(annotations(root)); k != "" {
			return false, &docError{obj: obj, msg: fmt.Sprintf("annotation %s: the object has no pod template", k)}
		}
		return false, nil
	}
	if tmpl != root {
		if k := podseqKey(annotations(root)); k != "" {
			return false, &docError{obj: obj, msg: fmt.Sprintf("annotation %s is on the %s, not on its pod template: move it to %s.metadata.annotations", k, obj.kind, strings.Join(templatePaths[obj.kind], "."))}
		}
	}
	injected := get(path(tmpl, "metadata", "annotations"), UndoKey) != nil
	// The settings as the input shows them, including those an earlier
	// inject wrote from its flags: injecting its output again keeps them.
	shown := annotations(tmpl)
	if err := undo(obj, tmpl); err != nil {
		return false, err
	}
	if pr.o.Undo {
		return injected, nil
	}
	names := map[string]bool{}
	for _, c := range items(path(tmpl, "spec", "containers")) {
		names[str(c, "name")] = true
	}
	s := effective(shown, names, pr.o, pr.used)
	if !s.hasOrder() {
		if injected {
			return true, nil
		}
		for k := range s {
			if strings.HasPrefix(k, ReadyPrefix) {
				// Checked even when unused, so that a typo is seen.
				if _, err := newPod(obj, tmpl, s); err != nil {
					return false, err
				}
				break
			}
		}
		return false, nil
	}
	p, err := newPod(obj, tmpl, s)
	if err != nil {
		return false, err
	}
	in := &injector{p: p, o: pr.o}
	if err := in.apply(s); err != nil {
		return false, err
	}
	for _, w := range in.weak {
		pr.warnings = append(pr.warnings, fmt.Sprintf("%s: container %s", obj, w))
	}
	return true, nil
}

// podseqKey returns the first annotation inject reads or writes, or "".
func podseqKey(ann map[string]string) string {
	var keys []string
	for k := range ann {
		if strings.HasPrefix(k, AfterPrefix) || strings.HasPrefix(k, ReadyPrefix) ||
			slices.Contains([]string{ModeKey, InjectedKey, UndoKey}, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}

// yamlLine matches the position the YAML parser gives, relative to the
// document.
var yamlLine = regexp.MustCompile(`yaml: line (\d+): `)

// absoluteLine turns the parser's line, counted in the document, into a
// line of the input.
func absoluteLine(err error, start int) error {
	msg := yamlLine.ReplaceAllStringFunc(err.Error(), func(m string) string {
		n, _ := strconv.Atoi(yamlLine.FindStringSubmatch(m)[1])
		return lineOf(n+start-1) + ": "
	})
	return errors.New(msg)
}
