// Package inject puts the containers of existing Kubernetes workloads in
// order: it reads manifests whose pod templates say, in annotations, which
// container starts after which, and adds what podseq needs to enforce it
// (an init container that installs podseq, or the podseq image as a volume;
// postStart gates, wrapped commands, native sidecars or tombstones).
// Documents are parsed with kyaml, edited as trees, and written back as a
// patch on their original text (textpatch.go), so every line inject does not
// own stays byte for byte; aliases and merge keys are written out where
// inject edits (alias.go); documents it does not change are copied byte for
// byte; --undo takes every change back.
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
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/podseq/podseq/internal/version"
	"github.com/podseq/podseq/probes"
)

// Size limits. Kubernetes stores no object over 1.5 MiB (etcd's request
// limit), so a bigger document is a mistake, not a workload.
const (
	// MaxDocBytes bounds one document.
	MaxDocBytes = 2 << 20
	// MaxInputBytes bounds the whole input.
	MaxInputBytes = 64 << 20
)

// DefaultTimeout bounds every wait inject writes: probes.DefaultTimeout.
var DefaultTimeout = FormatTimeout(probes.DefaultTimeout)

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
	// Image is the podseq image the install init container runs, or that
	// the image volume mounts; empty means the image of this build's version
	// (version.DefaultImage).
	Image string
	// Delivery overrides podseq.dev/delivery for every pod; "" leaves it to
	// each (init-container when absent).
	Delivery Delivery
	// Timeout bounds every wait inject writes (a Go duration); default 2m.
	Timeout string
	// Undo removes what an earlier inject added, instead of injecting.
	Undo bool
	// KRMFunction says that the input is a kustomize build's resources
	// handed to inject as a KRM function (package krmfn): their in-build
	// annotations are expected there and not warned about.
	KRMFunction bool
}

func (o *Options) timeout() string {
	if o.Timeout == "" {
		return DefaultTimeout
	}
	return o.Timeout
}

func (o *Options) image() string {
	if o.Image == "" {
		return version.DefaultImage()
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
	res, _, err := process(in, o)
	return res, err
}

// process is Process, which also returns how many documents it printed
// anew rather than patched.
func process(in []byte, o Options) (*Result, int, error) {
	res, pr, err := run(in, o, false)
	if err != nil {
		return nil, 0, err
	}
	return res, pr.reprinted, nil
}

func run(in []byte, o Options, reprint bool) (*Result, *processor, error) {
	if len(in) > MaxInputBytes {
		return nil, nil, fmt.Errorf("%w: input of %d bytes: the limit is %d MiB", ErrBadInput, len(in), MaxInputBytes>>20)
	}
	if !o.Undo {
		if err := checkOptions(&o); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrBadInput, err)
		}
	}
	pr := &processor{o: &o, used: map[string]bool{}, reprint: reprint}
	text := string(in)
	var out strings.Builder
	if isJSON(text) {
		s, err := pr.doc(text, 1, true)
		if err != nil {
			return nil, nil, err
		}
		out.WriteString(s)
	} else {
		for _, ch := range splitYAML(text) {
			s, err := pr.doc(ch.text, ch.line, false)
			if err != nil {
				return nil, nil, err
			}
			out.WriteString(ch.sep)
			out.WriteString(s)
		}
	}
	if err := pr.unused(); err != nil {
		return nil, nil, err
	}
	if pr.nativeDefault {
		pr.warnings = append(pr.warnings, NativeSidecarsNeed)
	}
	if pr.imageVolume {
		pr.warnings = append(pr.warnings, ImageVolumeNeeds)
	}
	return &Result{Out: []byte(out.String()), Warnings: pr.warnings}, pr, nil
}

func isJSON(text string) bool {
	t := strings.TrimLeft(text, " \t\r\n")
	return strings.HasPrefix(t, "{")
}

// checkOptions validates the overrides once, before any document.
func checkOptions(o *Options) error {
	if d, err := time.ParseDuration(o.timeout()); err != nil || d <= 0 {
		return fmt.Errorf("--timeout %q: want a positive duration such as 2m", o.Timeout)
	}
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
	o         *Options
	used      map[string]bool // overrides that applied to some pod
	warnings  []string
	reprinted int  // documents printed anew rather than patched
	reprint   bool // print every changed document anew (the layout before patches, for comparison)
	// warnedBase: the input's Kustomization was warned about.
	warnedBase bool
	// custom: objects of custom kinds without a pod template, named when
	// a flag orders a container that no pod has.
	custom []object
	// imageVolume: some pod gets podseq from an image volume.
	imageVolume bool
	// nativeDefault: some pod got native sidecars it did not ask for.
	nativeDefault bool
	// src: the document being processed.
	src *source
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
	msg := fmt.Sprintf("%s: no pod in the input has that container", strings.Join(missing, ", "))
	if len(pr.custom) > 0 {
		msg += "; " + noTemplate(pr.custom[0], missing[0]).Error()
	}
	return fmt.Errorf("%w: %s", ErrBadInput, msg)
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
	// The parser reads the CR of a CRLF line break in a comment as one
	// more line break; without the CRs, lines and columns stay the same.
	doc, err := parseDoc(strings.ReplaceAll(text, "\r\n", "\n"))
	if err != nil {
		if bad := notUTF8(text); bad != nil {
			err = fmt.Errorf("%s: not UTF-8 text (byte 0x%02x)", lineOf(line+bad.line-1), bad.b)
		} else {
			err = absoluteLine(err, line)
		}
		if !mentionsPodseq(text) {
			// Nothing in it asks for an order: it goes through as it is.
			pr.warnings = append(pr.warnings, fmt.Sprintf("document at %s: copied as it is: %v", lineOf(line), err))
			return text, nil
		}
		return "", where(err)
	}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return text, nil
	}
	orig := takeSnapshot(doc)
	x := &expander{aliasOf: map[*yaml.Node]*yaml.Node{}}
	if err := x.expand(doc); err != nil {
		// Refused where inject would have to read through the aliases:
		// a document that names podseq, or a workload the flags apply to.
		_, workload := templatePaths[str(root, "kind")]
		flags := len(pr.o.After) > 0 || len(pr.o.Ready) > 0
		if !mentionsPodseq(text) && !(flags && (workload || listKinds[str(root, "kind")])) {
			return text, nil
		}
		return "", where(absoluteLine(err, line))
	}
	after := orig
	if len(x.exps) > 0 || len(x.merges) > 0 {
		after = x.snapshot(doc)
	}
	pr.src = &source{text: text, root: root, orig: orig, verbatim: map[*yaml.Node]string{}}
	if asJSON {
		pr.src.text = "" // JSON has no lines to keep
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
	return pr.encode(doc, text, line, x, orig, after)
}

// badByte is the first byte of a text that is not UTF-8, and its line.
type badByte struct {
	line int
	b    byte
}

// notUTF8 finds the first byte that is not UTF-8, or returns nil. A text
// that starts with a UTF-16 byte order mark is left to the parser.
func notUTF8(text string) *badByte {
	if strings.HasPrefix(text, "\xfe\xff") || strings.HasPrefix(text, "\xff\xfe") || utf8.ValidString(text) {
		return nil
	}
	line := 1
	for i := 0; i < len(text); {
		r, w := utf8.DecodeRuneInString(text[i:])
		if r == utf8.RuneError && w == 1 {
			return &badByte{line: line, b: text[i]}
		}
		if r == '\n' {
			line++
		}
		i += w
	}
	return nil
}

// mentionsPodseq reports whether a document's text names an annotation
// inject reads or writes.
func mentionsPodseq(text string) bool {
	return strings.Contains(text, "podseq.dev/")
}

// encode writes a changed document as a patch on its original text, with
// the aliases nothing changed put back; if the patch does not give the
// tree's data (a layout it cannot split), the document is printed anew.
func (pr *processor) encode(doc *yaml.Node, text string, line int, x *expander, orig, after snapshot) (string, error) {
	root := doc.Content[0]
	if pr.reprint {
		return encodeYAML(doc, text)
	}
	unrestore := x.restore(orig, after)
	if out, ok := patchText(text, doc, root, orig, pr.src.verbatim); ok {
		return out, nil
	}
	unrestore()
	if out, ok := patchText(text, doc, root, orig, pr.src.verbatim); ok {
		return out, nil
	}
	pr.reprinted++
	pr.warnings = append(pr.warnings, fmt.Sprintf("document at %s: printed anew, as kustomize prints YAML: its layout could not be patched line by line", lineOf(line)))
	out, err := encodeYAML(doc, text)
	if err != nil {
		return "", err
	}
	if i := strings.IndexByte(text, '\n'); i > 0 && text[i-1] == '\r' {
		out = strings.ReplaceAll(out, "\n", "\r\n")
	}
	return out, nil
}

// patchText renders the changed tree as a patch on text, and checks that
// the result reads back as the tree.
func patchText(text string, doc, root *yaml.Node, orig snapshot, verbatim map[*yaml.Node]string) (out string, ok bool) {
	defer func() {
		if recover() != nil { // a layout the patch does not know: printed anew
			out, ok = "", false
		}
	}()
	l := newLayout(text, root, orig)
	l.verbatim = verbatim
	out, err := l.render(root)
	if err != nil || !sameData(out, doc) {
		return "", false
	}
	return out, true
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
	changed, err := pr.workload(obj, root)
	if err == nil {
		pr.kustomizeWarnings(obj, root, changed)
	}
	return changed, err
}

// workload processes one object that is not a List.
func (pr *processor) workload(obj object, root *yaml.Node) (bool, error) {
	tmpl, workload := template(root)
	if !workload || tmpl == nil {
		if k := podseqKey(annotations(root)); k != "" {
			return false, noTemplate(obj, k)
		}
		if custom(root) {
			pr.custom = append(pr.custom, obj)
		}
		return false, nil
	}
	if tmpl != root {
		if k := podseqKey(annotations(root)); k != "" {
			return false, &docError{obj: obj, msg: fmt.Sprintf("annotation %s is on the %s, not on its pod template: move it to %s.metadata.annotations", k, obj.kind, templatePath(obj.kind))}
		}
	}
	if err := scalarAnnotations(obj, tmpl); err != nil {
		return false, err
	}
	injected := get(path(tmpl, "metadata", "annotations"), UndoKey) != nil
	// The settings as the input shows them, including those an earlier
	// inject wrote from its flags: injecting its output again keeps them.
	shown := annotations(tmpl)
	if err := undo(obj, tmpl, pr.src); err != nil {
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
	withDelivery(s, shown, pr.o)
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
	in := &injector{p: p, o: pr.o, src: pr.src}
	if err := in.apply(s); err != nil {
		return false, err
	}
	pr.imageVolume = pr.imageVolume || in.imageVolume
	pr.nativeDefault = pr.nativeDefault || p.preferred
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
			slices.Contains([]string{ModeKey, DeliveryKey, InjectedKey, UndoKey}, k) {
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

// scalarAnnotations rejects a podseq annotation whose value is a list or a
// mapping (annotations are strings), naming what it is.
func scalarAnnotations(obj object, tmpl *yaml.Node) error {
	a := path(tmpl, "metadata", "annotations")
	if a == nil || a.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(a.Content); i += 2 {
		k, v := a.Content[i].Value, a.Content[i+1]
		if podseqKey(map[string]string{k: ""}) == "" || v.Kind == yaml.ScalarNode {
			continue
		}
		what := map[yaml.Kind]string{yaml.SequenceNode: "a list", yaml.MappingNode: "a mapping", yaml.AliasNode: "an alias"}[v.Kind]
		flow, err := yaml.MarshalWithOptions(&yaml.Node{Kind: v.Kind, Style: yaml.FlowStyle, Content: v.Content, Tag: v.Tag}, &yaml.EncoderOptions{})
		shown := strings.TrimSpace(string(flow))
		if err != nil || len(shown) > 80 || strings.Contains(shown, "\n") {
			shown = "..."
		}
		return &docError{obj: obj, msg: fmt.Sprintf("annotation %s is %s (%s): annotations are strings, write it as one (quoted)", k, what, shown)}
	}
	return nil
}
