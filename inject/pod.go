package inject

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

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

// PodObjects is what PlanPodObjects made of one Pod: the pod before and
// after, as encoding/json decodes JSON (numbers as json.Number).
type PodObjects struct {
	// Original is the input; Planned the pod planned (Original itself when
	// nothing changed).
	Original, Planned map[string]any
	// Changed reports whether Planned differs from Original.
	Changed bool
	// Warnings are one line each, "container C: why", for containers whose
	// order rests on a postStart hook alone (Result.Warnings, without the
	// pod's name, which the caller knows better).
	Warnings []string
}

// PlanPodObjects plans one Pod given as JSON (an object of kind Pod) with
// the code Process runs for a Pod document: the same input and options give
// the same pod. A pod that is not asking for an order comes back unchanged;
// one injected earlier is planned again from its original (containers added
// since take their place in the order). Errors: *PodError for a pod inject
// cannot order; otherwise an error wrapping ErrBadInput for input that is
// not a Pod object. The pods come back as values, not text: what an
// admission webhook diffs into a patch, without printing the plan and
// reading it back.
func PlanPodObjects(in []byte, o Options) (*PodObjects, error) {
	var orig map[string]any
	root, changed, warnings, err := planPodWith(in, o, func(root *yaml.Node) { orig, _ = nodeValue(root).(map[string]any) })
	if err != nil {
		return nil, err
	}
	res := &PodObjects{Original: orig, Planned: orig, Changed: changed, Warnings: warnings}
	if changed {
		res.Planned, _ = nodeValue(root).(map[string]any)
	}
	return res, nil
}

// planPodWith parses and plans a Pod; before, if not nil, sees the parsed
// pod before the planner changes it.
func planPodWith(in []byte, o Options, before func(*yaml.Node)) (*yaml.Node, bool, []string, error) {
	if len(in) > MaxDocBytes {
		return nil, false, nil, fmt.Errorf("%w: a pod of %d bytes: the limit is %d MiB", ErrBadInput, len(in), MaxDocBytes>>20)
	}
	if !isJSON(string(in)) {
		return nil, false, nil, fmt.Errorf("%w: the pod is not a JSON object", ErrBadInput)
	}
	// JSON is UTF-8; encoding/json would put U+FFFD for a bad byte where
	// Process refuses the document, as it does here.
	if bad := notUTF8(string(in)); bad != nil {
		return nil, false, nil, fmt.Errorf("%w: %s: not UTF-8 text (byte 0x%02x)", ErrBadInput, lineOf(bad.line), bad.b)
	}
	if err := checkOptions(&o); err != nil {
		return nil, false, nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	root, err := jsonNode(in)
	if err != nil {
		return nil, false, nil, fmt.Errorf("%w: malformed JSON: %v", ErrBadInput, err)
	}
	if root.Kind != yaml.MappingNode {
		return nil, false, nil, fmt.Errorf("%w: the pod is not a JSON object", ErrBadInput)
	}
	if k := str(root, "kind"); k != "Pod" {
		return nil, false, nil, fmt.Errorf("%w: kind %q: want Pod", ErrBadInput, k)
	}
	if before != nil {
		before(root)
	}
	pr := &processor{o: &o, used: map[string]bool{}}
	changed, err := pr.object(root)
	if err != nil {
		var de *docError
		if errors.As(err, &de) {
			return nil, false, nil, &PodError{Container: de.container, Reason: de.msg}
		}
		return nil, false, nil, err
	}
	var warnings []string
	prefix := objectOf(root).String() + ": "
	for _, w := range pr.warnings {
		warnings = append(warnings, strings.TrimPrefix(w, prefix))
	}
	return root, changed, warnings, nil
}

// nodeValue is a node as encoding/json decodes the JSON encodeJSON prints
// of it (with UseNumber).
func nodeValue(n *yaml.Node) any {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 1 {
			return nodeValue(n.Content[0])
		}
		return nil
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = nodeValue(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, c := range n.Content {
			s[i] = nodeValue(c)
		}
		return s
	case yaml.AliasNode:
		return nodeValue(n.Alias)
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		return n.Value
	}
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		switch n.Value {
		case "true":
			return true
		case "false":
			return false
		}
	case "!!int", "!!float":
		if n.Value != "" && (n.Value[0] == '-' || n.Value[0] >= '0' && n.Value[0] <= '9') && json.Valid([]byte(n.Value)) {
			return json.Number(n.Value)
		}
	}
	return n.Value
}

// jsonNode reads one JSON value into the nodes the YAML parser makes of it
// (the same kinds, tags and quoting), several times faster than that parser:
// an admission webhook plans every pod created.
func jsonNode(in []byte) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber()
	n, err := jsonValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON value")
	}
	return n, nil
}

func jsonValue(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				if seen[k] {
					return nil, fmt.Errorf("key %q twice in an object", k)
				}
				seen[k] = true
				val, err := jsonValue(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: k}, val)
			}
			_, err := dec.Token() // }
			return n, err
		case '[':
			n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
			for dec.More() {
				val, err := jsonValue(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, val)
			}
			_, err := dec.Token() // ]
			return n, err
		}
		return nil, fmt.Errorf("unexpected %v", v)
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: v}, nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(string(v), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(v)}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(v)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}
