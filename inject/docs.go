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
	line := 1
	for len(in) > 0 {
		end := strings.IndexByte(in, '\n')
		l := in
		if end >= 0 {
			l = in[:end+1]
		}
		in = in[len(l):]
		if isSeparator(l) {
			out = append(out, cur)
			cur = chunk{sep: l, line: line + 1}
		} else {
			cur.text += l
		}
		line++
	}
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
	return &doc, nil
}

// encodeYAML prints a document node the way kustomize does, keeping the
// sequence indentation style of the original text.
func encodeYAML(doc *yaml.Node, original string) (string, error) {
	style := yaml.SequenceIndentStyle(yaml.DeriveSeqIndentStyle(original))
	b, err := yaml.MarshalWithOptions(doc, &yaml.EncoderOptions{SeqIndent: style})
	if err != nil {
		return "", fmt.Errorf("print YAML: %w", err)
	}
	return keepCommentSpacing(string(b), original), nil
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
func encodeJSON(n *yaml.Node, indent string) (string, error) {
	var b strings.Builder
	if err := writeJSON(&b, n, indent, ""); err != nil {
		return "", err
	}
	b.WriteByte('\n')
	return b.String(), nil
}

func writeJSON(b *strings.Builder, n *yaml.Node, indent, prefix string) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("print JSON: empty document")
		}
		return writeJSON(b, n.Content[0], indent, prefix)
	case yaml.MappingNode:
		if len(n.Content) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteString("{\n")
		for i := 0; i+1 < len(n.Content); i += 2 {
			b.WriteString(prefix + indent)
			writeString(b, n.Content[i].Value)
			b.WriteString(": ")
			if err := writeJSON(b, n.Content[i+1], indent, prefix+indent); err != nil {
				return err
			}
			if i+2 < len(n.Content) {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(prefix + "}")
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteString("[\n")
		for i, c := range n.Content {
			b.WriteString(prefix + indent)
			if err := writeJSON(b, c, indent, prefix+indent); err != nil {
				return err
			}
			if i+1 < len(n.Content) {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(prefix + "]")
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			b.WriteString("null")
		case "!!bool", "!!int", "!!float":
			if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 && json.Valid([]byte(n.Value)) {
				b.WriteString(n.Value)
				return nil
			}
			writeString(b, n.Value)
		default:
			writeString(b, n.Value)
		}
	case yaml.AliasNode:
		return writeJSON(b, n.Alias, indent, prefix)
	}
	return nil
}

// writeString writes s as a JSON string the way encoding/json does.
func writeString(b *strings.Builder, s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
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
