package inject

import (
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// A startupProbe that inject replaces is kept in the undo record as the
// lines the file had for it, so that --undo puts back every byte: its
// comments, blank lines and spacing, not only its data. The record holds
// the probe's value lines with the key's indentation taken off, so that
// they stay indented under it; a record printed from the tree (an input
// whose layout could not be located, or one written before this) starts at
// column 0 and is put back as data.

// source is the text of the document being processed, where inject finds
// the lines of what it replaces.
type source struct {
	text string
	root *yaml.Node
	orig snapshot
	l    *layout // located on first use
	// verbatim: values put back from an undo record, with the text they
	// are printed as.
	verbatim map[*yaml.Node]string
}

// valueText returns the lines of the block mapping under the key node k,
// as the file has them (LF line breaks, without the comment and blank
// lines that end it, which stay in the text), with k's column taken off
// every line; ok is false where the layout does not locate them.
func (s *source) valueText(k *yaml.Node) (text string, ok bool) {
	if s == nil || s.text == "" {
		return "", false
	}
	defer func() {
		if recover() != nil { // a layout the locator does not know
			text, ok = "", false
		}
	}()
	if s.l == nil {
		s.l = newLayout(s.text, s.root, s.orig)
	}
	r, found := s.l.reg[k]
	v := s.l.val[k]
	vc := s.l.colls[v]
	if !found || vc == nil || v.Kind != yaml.MappingNode || r.line >= s.l.lines() || vc.start < s.l.starts[r.line] {
		return "", false
	}
	lines := strings.SplitAfter(strings.ReplaceAll(s.text[vc.start:vc.tail], "\r\n", "\n"), "\n")
	pad := strings.Repeat(" ", r.col)
	var b strings.Builder
	for _, ln := range lines {
		switch {
		case strings.TrimSpace(ln) == "":
			b.WriteString(strings.TrimLeft(ln, " \t"))
		case strings.HasPrefix(ln, pad+" "):
			b.WriteString(ln[r.col:])
		default:
			return "", false
		}
	}
	text = b.String()
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return text, true
}

// recordedText reports whether an undo record of a value is its lines from
// the file (indented under their key), not printed from the tree.
func recordedText(rec string) bool {
	for _, ln := range strings.Split(rec, "\n") {
		t := strings.TrimSpace(ln)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		return strings.HasPrefix(ln, " ")
	}
	return false
}

// sameTree reports whether two trees hold the same data.
func sameTree(a, b *yaml.Node) bool {
	x, err1 := yaml.Marshal(bare(a))
	y, err2 := yaml.Marshal(bare(b))
	return err1 == nil && err2 == nil && string(x) == string(y)
}
