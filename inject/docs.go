package inject

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// chunk is one document of a YAML stream: the separator line that opened it
// (empty for the first document) and its text, both kept verbatim.
type chunk struct {
	sep  string
	text string
	line int // 1-based line of the document's first line
}

// splitYAML splits a YAML stream at its "---" lines. Joining every chunk's
// sep and text gives the input back.
func splitYAML(in string) []chunk {
	var out []chunk
	cur := chunk{line: 1}
	start, line := 0, 1 // where cur's text starts in in, and the line at pos
	for pos := 0; pos < len(in); line++ {
		end := len(in)
		if i := strings.IndexByte(in[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		if l := in[pos:end]; isSeparator(l) {
			cur.text = in[start:pos]
			out = append(out, cur)
			cur, start = chunk{sep: l, line: line + 1}, end
		}
		pos = end
	}
	cur.text = in[start:]
	return append(out, cur)
}

// isSeparator reports whether a line starts a new YAML document: "---" alone
// or followed by blanks or a comment. A "---" followed by content keeps that
// content in the document (the parser reads it), so it is not split off.
func isSeparator(l string) bool {
	rest, ok := strings.CutPrefix(strings.TrimRight(l, "\r\n"), "---")
	if !ok {
		return false
	}
	rest = strings.TrimLeft(rest, " \t")
	return rest == "" || strings.HasPrefix(rest, "#")
}

// blank reports whether a document holds nothing but blanks and comments.
func blank(text string) bool {
	for _, l := range strings.Split(text, "\n") {
		t := strings.TrimSpace(l)
		if t != "" && !strings.HasPrefix(t, "#") && t != "..." {
			return false
		}
	}
	return true
}

// parseDoc parses one document into its root node (a mapping for every
// Kubernetes object).
func parseDoc(text string) (*yaml.Node, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("malformed YAML: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("malformed YAML: a second document without a --- line")
	}
	if err := uniqueKeys(&doc); err != nil {
		return nil, fmt.Errorf("malformed YAML: %w", err)
	}
	return &doc, nil
}

// uniqueKeys rejects a mapping with a key twice, as kubectl does.
func uniqueKeys(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if at, ok := seen[k.Value]; ok {
				return fmt.Errorf("yaml: line %d: key %q already defined at line %d", k.Line, k.Value, at)
			}
			seen[k.Value] = k.Line
		}
	}
	for _, c := range n.Content {
		if err := uniqueKeys(c); err != nil {
			return err
		}
	}
	return nil
}

// encodeYAML prints a document node the way kustomize does, keeping the
// sequence indentation style of the original text.
func encodeYAML(doc *yaml.Node, original string) (string, error) {
	spellFlowNulls(doc, false)
	style := yaml.SequenceIndentStyle(yaml.DeriveSeqIndentStyle(original))
	b, err := yaml.MarshalWithOptions(doc, &yaml.EncoderOptions{SeqIndent: style})
	if err != nil {
		return "", fmt.Errorf("print YAML: %w", err)
	}
	return keepCommentSpacing(string(b), original), nil
}

// spellFlowNulls writes an empty null in a flow collection ({a}, [a, ])
// as null: the encoder would print it as ”, a string.
func spellFlowNulls(n *yaml.Node, inFlow bool) {
	if n.Kind == yaml.ScalarNode && inFlow && n.ShortTag() == "!!null" && n.Value == "" {
		n.Value = "null"
	}
	for _, c := range n.Content {
		spellFlowNulls(c, inFlow || n.Style&yaml.FlowStyle != 0)
	}
}

// commentGap matches the blanks before a line comment.
var commentGap = regexp.MustCompile(`[ \t]+#`)

// keepCommentSpacing puts back the blanks an original line had before its
// comment, which the encoder folds into one: an output line that equals an
// original line with those blanks folded is that original line.
func keepCommentSpacing(out, original string) string {
	orig := map[string]string{}
	for _, l := range strings.Split(original, "\n") {
		if strings.Contains(l, "#") {
			if n := commentGap.ReplaceAllString(strings.TrimRight(l, " \t"), " #"); n != l {
				orig[n] = l
			}
		}
	}
	if len(orig) == 0 {
		return out
	}
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if o, ok := orig[l]; ok {
			lines[i] = o
		}
	}
	return strings.Join(lines, "\n")
}

// encodeJSON prints a node as JSON with keys in their order, indented with
// indent (kubectl's is four spaces), ending with a newline.
//
// HTML characters are escaped (\u003c) only if the input escaped them, as
// kubectl does.
func encodeJSON(n *yaml.Node, original string) (string, error) {
	j := jsonWriter{indent: jsonIndent(original), escapeHTML: strings.Contains(original, `\u003c`) ||
		strings.Contains(original, `\u003e`) || strings.Contains(original, `\u0026`)}
	var b strings.Builder
	if err := j.write(&b, n, ""); err != nil {
		return "", err
	}
	b.WriteByte('\n')
	return b.String(), nil
}

type jsonWriter struct {
	indent     string
	escapeHTML bool
}

func (j jsonWriter) write(b *strings.Builder, n *yaml.Node, prefix string) error {
	indent := j.indent
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("print JSON: empty document")
		}
		return j.write(b, n.Content[0], prefix)
	case yaml.MappingNode:
		return j.block(b, "{", "}", len(n.Content)/2, prefix, func(i int) error {
			j.str(b, n.Content[2*i].Value)
			b.WriteString(": ")
			return j.write(b, n.Content[2*i+1], prefix+indent)
		})
	case yaml.SequenceNode:
		return j.block(b, "[", "]", len(n.Content), prefix, func(i int) error {
			return j.write(b, n.Content[i], prefix+indent)
		})
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			b.WriteString("null")
		case "!!bool", "!!int", "!!float":
			if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 && json.Valid([]byte(n.Value)) {
				b.WriteString(n.Value)
				return nil
			}
			j.str(b, n.Value)
		default:
			j.str(b, n.Value)
		}
	case yaml.AliasNode:
		return j.write(b, n.Alias, prefix)
	}
	return nil
}

// block writes n entries between open and close, one a line, indented one
// step more than prefix.
func (j jsonWriter) block(b *strings.Builder, open, close string, n int, prefix string, entry func(i int) error) error {
	if n == 0 {
		b.WriteString(open + close)
		return nil
	}
	b.WriteString(open + "\n")
	for i := range n {
		b.WriteString(prefix + j.indent)
		if err := entry(i); err != nil {
			return err
		}
		if i+1 < n {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(prefix + close)
	return nil
}

// str writes s as a JSON string the way encoding/json does.
func (j jsonWriter) str(b *strings.Builder, s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(j.escapeHTML)
	_ = enc.Encode(s) // a string always encodes
	b.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}

// jsonIndent guesses the indentation of a JSON text from its second line.
func jsonIndent(text string) string {
	lines := strings.SplitN(text, "\n", 3)
	if len(lines) < 2 {
		return "    "
	}
	l := lines[1]
	ind := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
	if ind == "" {
		return "    "
	}
	return ind
}

// lineOf returns a human position such as "line 12".
func lineOf(n int) string { return "line " + strconv.Itoa(n) }
