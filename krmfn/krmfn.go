// Package krmfn runs inject as a KRM function (the Kubernetes Resource Model
// function protocol that kustomize and kpt speak): a ResourceList
// (apiVersion config.kubernetes.io/v1) on the input, whose functionConfig
// carries inject's options (see configOptions), and the same ResourceList on
// the output, its items injected and its results holding inject's warnings,
// or the error that stopped it. It knows nothing of flags: the command line
// gives it streams and inject's default options.
package krmfn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/podseq/podseq/inject"
)

// ErrBadInput is wrapped by every error about the input: a stream that is
// not a ResourceList, a bad functionConfig, or an item inject rejects.
var ErrBadInput = errors.New("bad input")

// WriteError is an output that could not be written.
type WriteError struct{ Err error }

func (e *WriteError) Error() string { return "write the output: " + oneLine(e.Err) }

func (e *WriteError) Unwrap() error { return e.Err }

// Outcome is what Run did, for the command line's stderr: the warnings it
// also put in the results.
type Outcome struct {
	Warnings []string
}

// Run reads a ResourceList from in and writes one to out: its items with
// podseq injected under the options of its functionConfig (over defaults),
// and a result per warning. When the items or the functionConfig are bad,
// it writes the items unchanged with one error result, and returns an error
// wrapping ErrBadInput; when in is not a ResourceList, it writes nothing.
// A failure to write returns a *WriteError.
func Run(in io.Reader, out io.Writer, defaults inject.Options) (*Outcome, error) {
	b, err := io.ReadAll(io.LimitReader(in, inject.MaxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read the ResourceList: %v", ErrBadInput, err)
	}
	if len(b) > inject.MaxInputBytes {
		return nil, fmt.Errorf("%w: input over %d MiB", ErrBadInput, inject.MaxInputBytes>>20)
	}
	if err := isResourceList(b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	rw := &kio.ByteReadWriter{Reader: bytes.NewReader(b), Writer: out, KeepReaderAnnotations: true}
	items, err := rw.Read()
	if err == nil && rw.WrappingKind != kio.ResourceListKind {
		// kyaml reads a ResourceList without items as an object of its
		// own: it holds none, and comes back with an empty list.
		rw, err = withItems(b, out)
		if err == nil {
			items, err = rw.Read()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read the ResourceList: %v", ErrBadInput, oneLine(err))
	}
	if err := checkItems(items); err != nil {
		// The writer cannot write such an item back: nothing is written.
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	res, runErr := process(items, rw.FunctionConfig, defaults)
	if runErr != nil && !errors.Is(runErr, ErrBadInput) {
		return nil, runErr // podseq's own failure: nothing is written
	}
	rw.Results = nil
	if len(res.results) > 0 {
		if rw.Results, err = resultsNode(res.results); err != nil {
			return nil, err
		}
	}
	if err := rw.Write(res.items); err != nil {
		return nil, &WriteError{Err: err}
	}
	if runErr != nil {
		return nil, runErr
	}
	return &Outcome{Warnings: res.warnings}, nil
}

// withItems is a reader of the ResourceList b, given an empty items list.
func withItems(b []byte, out io.Writer) (*kio.ByteReadWriter, error) {
	node, err := yaml.Parse(string(b))
	if err != nil {
		return nil, err
	}
	if err := node.PipeE(yaml.SetField("items", yaml.NewListRNode())); err != nil {
		return nil, err
	}
	s, err := node.String()
	if err != nil {
		return nil, err
	}
	return &kio.ByteReadWriter{Reader: strings.NewReader(s), Writer: out, KeepReaderAnnotations: true}, nil
}

// Result is one entry of the ResourceList's results, as the KRM functions
// specification has it (kyaml/fn/framework's Result writes the same fields).
type Result struct {
	// Message says what happened, in one line.
	Message string `yaml:"message"`
	// Severity is SeverityError or SeverityWarning.
	Severity string `yaml:"severity"`
	// ResourceRef names the object at fault, if one is.
	ResourceRef *yaml.ResourceIdentifier `yaml:"resourceRef,omitempty"`
	// Field is the field at fault, if one is.
	Field *Field `yaml:"field,omitempty"`
}

// Field names a field of an object in a Result.
type Field struct {
	// Path is the field's path, dotted: spec.mode.
	Path string `yaml:"path"`
}

// The severities of results.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// processed is what process gives Run to write.
type processed struct {
	items    []*yaml.RNode
	results  []*Result
	warnings []string
}

// process injects the items. On error it returns the items as they came,
// with one error result.
func process(items []*yaml.RNode, fc *yaml.RNode, defaults inject.Options) (processed, error) {
	fail := func(r *Result, err error) (processed, error) {
		return processed{items: items, results: []*Result{r}}, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	o, err := configOptions(fc, defaults)
	if err != nil {
		r := &Result{Severity: SeverityError, Message: err.Error()}
		var ce *ConfigError
		if errors.As(err, &ce) && ce.Field != "" {
			r.Field = &Field{Path: ce.Field}
		}
		if ref, ok := refOf(fc); ok {
			r.ResourceRef = &ref
		}
		return fail(r, err)
	}
	var stream strings.Builder
	for i, it := range items {
		s, err := it.String()
		if err != nil {
			return fail(&Result{Severity: SeverityError, Message: err.Error()},
				fmt.Errorf("item %d: %v", i, err))
		}
		if i > 0 {
			stream.WriteString("---\n")
		}
		stream.WriteString(s)
	}
	o.KRMFunction = true // the items carry kustomize's in-build annotations
	res, err := inject.Process([]byte(stream.String()), o)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), inject.ErrBadInput.Error()+": ")
		return fail(&Result{Severity: SeverityError, Message: msg}, errors.New(msg))
	}
	out, err := (&kio.ByteReader{Reader: bytes.NewReader(res.Out), OmitReaderAnnotations: true}).Read()
	if err != nil {
		return processed{}, fmt.Errorf("read inject's output: %w", err)
	}
	if len(out) != len(items) {
		return processed{}, fmt.Errorf("inject gave %d items for %d", len(out), len(items))
	}
	p := processed{items: out, warnings: res.Warnings}
	for _, w := range res.Warnings {
		p.results = append(p.results, &Result{Severity: SeverityWarning, Message: w})
	}
	return p, nil
}

// isResourceList checks that b holds one document, a ResourceList of
// config.kubernetes.io/v1.
func isResourceList(b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return errors.New("empty input: want a ResourceList (apiVersion " + kio.ResourceListAPIVersion + ")")
	}
	d := yaml.NewDecoder(bytes.NewReader(b))
	var n yaml.Node
	if err := d.Decode(&n); err != nil {
		return fmt.Errorf("not a ResourceList: %v", oneLine(err))
	}
	var extra yaml.Node
	if err := d.Decode(&extra); err != io.EOF {
		return errors.New("not a ResourceList: more than one document")
	}
	rn := yaml.NewRNode(&n)
	if rn.YNode().Kind != yaml.MappingNode {
		return errors.New("not a ResourceList: not a mapping")
	}
	kind, api := rn.GetKind(), rn.GetApiVersion()
	if kind != kio.ResourceListKind || api != kio.ResourceListAPIVersion {
		return fmt.Errorf("not a ResourceList: apiVersion %q, kind %q: want %s, %s",
			api, kind, kio.ResourceListAPIVersion, kio.ResourceListKind)
	}
	items := rn.Field("items")
	if items != nil && !yaml.IsMissingOrNull(items.Value) && items.Value.YNode().Kind != yaml.SequenceNode {
		return errors.New("ResourceList items: want a list")
	}
	if items != nil && items.Value.YNode().Kind == yaml.SequenceNode {
		for i, it := range items.Value.Content() {
			if it.Kind != yaml.MappingNode {
				return fmt.Errorf("ResourceList items[%d]: want an object", i)
			}
		}
	}
	return nil
}

// refOf names an object for a result.
func refOf(n *yaml.RNode) (yaml.ResourceIdentifier, bool) {
	if n == nil || n.YNode().Kind != yaml.MappingNode {
		return yaml.ResourceIdentifier{}, false
	}
	return yaml.ResourceIdentifier{
		TypeMeta: yaml.TypeMeta{APIVersion: n.GetApiVersion(), Kind: n.GetKind()},
		NameMeta: yaml.NameMeta{Name: n.GetName(), Namespace: n.GetNamespace()},
	}, true
}

// resultsNode encodes results for the ResourceList.
func resultsNode(rs []*Result) (*yaml.RNode, error) {
	b, err := yaml.Marshal(rs)
	if err != nil {
		return nil, fmt.Errorf("encode the results: %w", err)
	}
	return yaml.Parse(string(b))
}

// oneLine folds an error onto one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// checkItems checks what the ResourceList's writer needs of every item: a
// mapping, whose metadata (where it has one) is a mapping too.
func checkItems(items []*yaml.RNode) error {
	for i, it := range items {
		n := it.YNode()
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("item %d is not a mapping", i)
		}
		if md := it.Field("metadata"); md != nil && md.Value.YNode().Kind != yaml.MappingNode {
			return fmt.Errorf("item %d: metadata is not a mapping", i)
		}
	}
	return nil
}
