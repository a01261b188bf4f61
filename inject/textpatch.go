package inject

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// A document is written back as a patch on its original text: the parsed
// tree is compared with a snapshot taken at parse time, and only the
// entries and items that changed are printed again; everything else (the
// layout, quoting, comments, blank lines, line endings) is copied. Items
// that moved (containers that inject reorders) carry their original lines
// with them, comments above them included.
//
// The unit of a patch is a whole entry of a block mapping or a whole item
// of a block sequence, with the comment and blank lines above it. A
// collection that cannot be split in such lines (flow style, two items on
// one line) is printed again as a whole when anything in it changes.

// snap is a node as it was parsed.
type snap struct {
	kind    yaml.Kind
	style   yaml.Style
	tag     string
	value   string
	anchor  string
	alias   *yaml.Node
	content []*yaml.Node
}

// snapOf records one node.
func snapOf(n *yaml.Node) snap {
	return snap{kind: n.Kind, style: n.Style, tag: n.Tag, value: n.Value, anchor: n.Anchor, alias: n.Alias, content: append([]*yaml.Node(nil), n.Content...)}
}

// snapshot records every node of a tree.
type snapshot map[*yaml.Node]snap

// takeSnapshot records the tree under n.
func takeSnapshot(n *yaml.Node) snapshot {
	s := snapshot{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if _, ok := s[n]; ok {
			return
		}
		s[n] = snapOf(n)
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return s
}

// dirtyChecker tells whether a node or anything under it changed since a
// snapshot (a node absent from the snapshot is new, hence changed).
type dirtyChecker struct {
	s    snapshot
	memo map[*yaml.Node]bool
}

// newDirty compares with the snapshot s.
func newDirty(s snapshot) *dirtyChecker { return &dirtyChecker{s: s, memo: map[*yaml.Node]bool{}} }

// dirty reports whether n or a node under it changed.
func (d *dirtyChecker) dirty(n *yaml.Node) bool {
	if v, ok := d.memo[n]; ok {
		return v
	}
	d.memo[n] = false // cycles cannot happen in a tree; aliases are not followed
	o, ok := d.s[n]
	v := !ok || o.kind != n.Kind || o.style != n.Style || o.tag != n.Tag || o.value != n.Value ||
		o.anchor != n.Anchor || o.alias != n.Alias || !sameNodes(o.content, n.Content)
	if !v {
		for _, c := range n.Content {
			if d.dirty(c) {
				v = true
				break
			}
		}
	}
	d.memo[n] = v
	return v
}

// sameNodes reports whether two lists hold the same nodes in the same order.
func sameNodes(a, b []*yaml.Node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// errRegenerate: a collection cannot be patched in place; its entry is
// printed again as a whole.
var errRegenerate = errors.New("print the entry again")

// region is where an entry or item lies in the original text: [start, end)
// with the comment and blank lines above it; line is its first line of
// content (the key's, or the dash's) and col the column of the key or dash.
type region struct {
	start, end int
	line, col  int
}

// coll is a block collection whose children were located: [start, end) is
// its extent, tail where the comment and blank lines after its last child
// start, col the column of its keys or dashes.
type coll struct {
	start, end, tail int
	col              int
	midline          bool // its first child starts after a dash on the same line
	wide             int  // for a sequence: dash column minus its key's column (0: compact or unknown)
}

// layout is the original text of one document and where its nodes lie.
type layout struct {
	text   string
	starts []int // starts[i]: offset of line i+1; starts[len-1] == len(text)
	nl     string
	orig   snapshot
	d      *dirtyChecker
	reg    map[*yaml.Node]region // seq items and mapping keys
	colls  map[*yaml.Node]*coll
	val    map[*yaml.Node]*yaml.Node // mapping key -> its original value
	parent map[*yaml.Node]*yaml.Node // collection -> enclosing collection
	wide   int                       // the document's usual sequence offset (0: compact)
	// verbatim: new values printed as these lines, indented under their
	// key (a startupProbe --undo puts back as the file had it).
	verbatim map[*yaml.Node]string
}

// newLayout locates the nodes of the snapshot orig, parsed from text.
func newLayout(text string, root *yaml.Node, orig snapshot) *layout {
	l := &layout{text: text, orig: orig, reg: map[*yaml.Node]region{}, colls: map[*yaml.Node]*coll{},
		val: map[*yaml.Node]*yaml.Node{}, parent: map[*yaml.Node]*yaml.Node{}, nl: "\n"}
	l.starts = append(l.starts, 0)
	for i := 0; i < len(text); i++ {
		if text[i] == '\n' {
			l.starts = append(l.starts, i+1)
		}
	}
	if l.starts[len(l.starts)-1] != len(text) {
		l.starts = append(l.starts, len(text))
	}
	if i := strings.IndexByte(text, '\n'); i > 0 && text[i-1] == '\r' {
		l.nl = "\r\n"
	}
	for _, s := range orig {
		if s.kind == yaml.MappingNode {
			for i := 0; i+1 < len(s.content); i += 2 {
				l.val[s.content[i]] = s.content[i+1]
			}
		}
	}
	if yaml.DeriveSeqIndentStyle(text) == string(yaml.WideSequenceStyle) {
		l.wide = 2
	}
	l.scan(root, 0, len(text))
	return l
}

// lines is the number of lines.
func (l *layout) lines() int { return len(l.starts) - 1 }

// lineText returns line n (1-based) without its line break.
func (l *layout) lineText(n int) string {
	return strings.TrimRight(l.text[l.starts[n-1]:l.starts[n]], "\r\n")
}

// lineAt returns the 1-based line of an offset.
func (l *layout) lineAt(off int) int {
	lo, hi := 0, len(l.starts)-1
	for lo < hi { // the last start <= off
		m := (lo + hi + 1) / 2
		if l.starts[m] <= off {
			lo = m
		} else {
			hi = m - 1
		}
	}
	return lo + 1
}

// offset turns a parser position (1-based line, 1-based column in
// characters) into a byte offset, or -1.
func (l *layout) offset(line, col int) int {
	if line < 1 || line > l.lines() || col < 1 {
		return -1
	}
	s := l.lineText(line)
	i := 0
	for c := 1; c < col; c++ {
		if i >= len(s) {
			return -1
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return l.starts[line-1] + i
}

// trivia reports whether a line holds only blanks or a comment, and its
// indentation.
func (l *layout) trivia(n int) (bool, int) {
	s := l.lineText(n)
	t := strings.TrimLeft(s, " ")
	ind := len(s) - len(t)
	t = strings.TrimLeft(t, " \t")
	return t == "" || strings.HasPrefix(t, "#"), ind
}

// blankLine reports whether line n holds only blanks.
func (l *layout) blankLine(n int) bool {
	return strings.TrimSpace(l.lineText(n)) == ""
}

// onlyProperties reports whether s holds nothing but anchors and tags, as
// may stand between a dash and the first key of its item.
func onlyProperties(s string) bool {
	for _, f := range strings.Fields(s) {
		if !strings.HasPrefix(f, "&") && !strings.HasPrefix(f, "!") {
			return false
		}
	}
	return true
}

// scan locates the children of a block collection that extends over
// [s, e), then their own children.
func (l *layout) scan(n *yaml.Node, s, e int) {
	o, ok := l.orig[n]
	if !ok || (o.kind != yaml.MappingNode && o.kind != yaml.SequenceNode) || o.style&yaml.FlowStyle != 0 || len(o.content) == 0 {
		return
	}
	midline := l.starts[l.lineAt(s)-1] != s
	cs, ok := l.children(o, s, e, midline)
	if !ok {
		return
	}
	c, ok := l.regions(cs, s, e, midline)
	if !ok {
		return
	}
	l.colls[n] = c
	l.descend(n, o, cs, c.tail)
}

// scanChild is a child of a collection being located: its key or item.
type scanChild struct {
	head       *yaml.Node
	line, col  int // line and byte column of the key or dash
	start, off int // region start; the offset of the key or dash
}

// children locates the keys (or dashes) of the collection o in [s, e), one
// a line, each where only blanks precede it (or, midline, the first right
// after a dash); ok is false for a layout it does not know.
func (l *layout) children(o snap, s, e int, midline bool) (cs []scanChild, ok bool) {
	step := 1
	if o.kind == yaml.MappingNode {
		step = 2
	}
	for i := 0; i < len(o.content); i += step {
		h := o.content[i]
		off := l.offset(h.Line, h.Column)
		if off < 0 || off < s || off >= e {
			return nil, false
		}
		line := h.Line
		if o.kind == yaml.SequenceNode {
			// The dash: on the item's line, or alone on a line above it.
			pre := l.text[l.starts[line-1]:off]
			if j := strings.LastIndexByte(pre, '-'); j >= 0 && strings.TrimSpace(pre[:j]) == "" && onlyProperties(pre[j+1:]) {
				off = l.starts[line-1] + j
			} else if strings.TrimSpace(pre) == "" {
				k := line - 1
				for k >= 1 {
					if t, _ := l.trivia(k); !t {
						break
					}
					k--
				}
				if k < 1 || strings.TrimSpace(strings.SplitN(l.lineText(k), "#", 2)[0]) != "-" {
					return nil, false
				}
				line = k
				off = l.starts[k-1] + strings.IndexByte(l.lineText(k), '-')
			} else if !(len(cs) == 0 && midline && off == s) {
				return nil, false
			}
			if off < s {
				return nil, false
			}
		}
		col := off - l.starts[line-1]
		pre := l.text[l.starts[line-1]:off]
		if len(cs) == 0 && midline {
			if line != l.lineAt(s) || !onlyProperties(l.text[s:off]) {
				return nil, false
			}
		} else if strings.TrimLeft(pre, " ") != "" {
			return nil, false
		}
		if len(cs) > 0 && line <= cs[len(cs)-1].line {
			return nil, false
		}
		cs = append(cs, scanChild{head: h, line: line, col: col, off: off})
	}
	return cs, true
}

// split returns the first line of the region that starts between lines
// from and to (exclusive): the lines after from's content that are
// indented deeper than col stay with it; from the first blank line or
// shallower comment on, they lead the next.
func (l *layout) split(from, to, col int) int {
	last := to - 1
	for last > from {
		if t, _ := l.trivia(last); !t {
			break
		}
		last--
	}
	for k := last + 1; k < to; k++ {
		if _, ind := l.trivia(k); l.blankLine(k) || ind <= col {
			return k
		}
	}
	return to
}

// regions sets where each child's region starts, and returns the
// collection's extent: ok is false where its children do not share a
// column, or its end is not at a line's start.
func (l *layout) regions(cs []scanChild, s, e int, midline bool) (*coll, bool) {
	first := l.lineAt(s)
	if midline {
		cs[0].start = s
	} else {
		cs[0].start = l.starts[first-1]
	}
	for i := 1; i < len(cs); i++ {
		cs[i].start = l.starts[l.split(cs[i-1].line, cs[i].line, cs[i].col)-1]
	}
	endLine := l.lineAt(e)
	if l.starts[endLine-1] != e { // e is the text's end, in a last line without a break
		endLine = l.lines() + 1
		if e != len(l.text) {
			return nil, false
		}
	}
	tail := e
	if t := l.split(cs[len(cs)-1].line, endLine, cs[0].col); t < endLine {
		tail = l.starts[t-1]
	}
	c := &coll{start: cs[0].start, end: e, tail: tail, col: cs[0].col, midline: midline}
	if midline && len(cs) > 1 {
		// A first key after a dash (and an anchor) may stand further
		// right; the others give the column.
		c.col = cs[1].col
		cs[0].col = c.col
	}
	for _, ch := range cs {
		if ch.col != c.col {
			return nil, false
		}
	}
	return c, true
}

// descend records each child's region and locates the block collections
// under them.
func (l *layout) descend(n *yaml.Node, o snap, cs []scanChild, tail int) {
	for i, ch := range cs {
		end := tail
		if i+1 < len(cs) {
			end = cs[i+1].start
		}
		l.reg[ch.head] = region{start: ch.start, end: end, line: ch.line, col: ch.col}
		var v *yaml.Node
		if o.kind == yaml.MappingNode {
			v = o.content[2*i+1]
			if vo := l.orig[v]; vo.kind == yaml.SequenceNode || vo.kind == yaml.MappingNode {
				l.parent[v] = n
				if len(vo.content) > 0 && vo.style&yaml.FlowStyle == 0 && vo.content[0].Line > ch.line && ch.line < l.lines() {
					l.scan(v, l.starts[ch.line], end)
					if vc := l.colls[v]; vc != nil && vo.kind == yaml.SequenceNode && vc.col > ch.col {
						vc.wide = vc.col - ch.col
					}
				}
			}
			continue
		}
		v = ch.head
		if vo := l.orig[v]; vo.kind == yaml.SequenceNode || vo.kind == yaml.MappingNode {
			l.parent[v] = n
			if v.Line == ch.line {
				if o := l.offset(v.Line, v.Column); o > 0 {
					l.scan(v, o, end)
				}
			} else if v.Line <= l.lines() {
				l.scan(v, l.starts[v.Line-1], end)
			}
		}
	}
}

// render prints the document as a patch on its original text.
func (l *layout) render(root *yaml.Node) (string, error) {
	l.d = newDirty(l.orig)
	c := l.colls[root]
	if c == nil {
		return "", errRegenerate
	}
	body, err := l.renderColl(root)
	if err != nil {
		return "", err
	}
	out := l.text[:c.start] + body + l.text[c.end:]
	if !strings.HasSuffix(l.text, "\n") { // nor does the output end with one
		out = strings.TrimSuffix(strings.TrimSuffix(out, "\n"), "\r")
	}
	return out, nil
}

// renderColl prints a located collection over its extent.
func (l *layout) renderColl(n *yaml.Node) (string, error) {
	c := l.colls[n]
	if !l.d.dirty(n) {
		return l.text[c.start:c.end], nil
	}
	if len(n.Content) == 0 {
		return "", errRegenerate
	}
	step := 1
	if n.Kind == yaml.MappingNode {
		step = 2
	}
	o := l.orig[n].content
	if sameNodes(o, n.Content) {
		var b strings.Builder
		pos := c.start
		for i := 0; i < len(n.Content); i += step {
			h := n.Content[i]
			if !l.childDirty(n, i) {
				continue
			}
			r := l.reg[h]
			s, err := l.renderChild(n, i, c.col)
			if err != nil {
				return "", err
			}
			b.WriteString(l.text[pos:r.start])
			b.WriteString(s)
			pos = r.end
		}
		b.WriteString(l.text[pos:c.end])
		return b.String(), nil
	}
	if c.midline && n.Content[0] != o[0] {
		return "", errRegenerate
	}
	removed := map[*yaml.Node]bool{}
	for i := 0; i < len(o); i += step {
		removed[o[i]] = true
	}
	for i := 0; i < len(n.Content); i += step {
		delete(removed, n.Content[i])
	}
	var pieces []string
	for i := 0; i < len(n.Content); i += step {
		s, err := l.renderChild(n, i, c.col)
		if err != nil {
			return "", err
		}
		if _, ok := l.reg[n.Content[i]]; !ok {
			// A new child equal to one that was removed takes its text.
			if h, ok := l.sameRemoved(n, i, o, removed); ok {
				delete(removed, h)
				r := l.reg[h]
				s = reindent(l.text[r.start:r.end], c.col-r.col)
			}
		}
		if i == 0 && c.midline {
			s = strings.TrimLeft(s, " ")
		}
		pieces = append(pieces, s)
	}
	return l.join(pieces, l.text[c.tail:c.end]), nil
}

// sameRemoved finds an unchanged child that was removed from n and prints
// as the new child i does.
func (l *layout) sameRemoved(n *yaml.Node, i int, o []*yaml.Node, removed map[*yaml.Node]bool) (*yaml.Node, bool) {
	want := encodeChild(n, i)
	step := 1
	if n.Kind == yaml.MappingNode {
		step = 2
	}
	for j := 0; j < len(o); j += step {
		h := o[j]
		if !removed[h] || l.d.dirty(h) || (step == 2 && l.d.dirty(o[j+1])) {
			continue
		}
		if _, ok := l.reg[h]; !ok {
			continue
		}
		if encodeChild(&yaml.Node{Kind: n.Kind, Content: o}, j) == want {
			return h, true
		}
	}
	return nil, false
}

// encodeChild prints child i of a collection alone, for comparison.
func encodeChild(n *yaml.Node, i int) string {
	one := &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{bare(n.Content[i])}}
	if n.Kind == yaml.MappingNode {
		one = &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{bare(n.Content[i]), bare(n.Content[i+1])}}
	}
	b, err := yaml.Marshal(one)
	if err != nil {
		return "\x00" + err.Error()
	}
	return string(b)
}

// join puts pieces one after the other, each on lines of its own, and
// keeps a missing final line break missing.
func (l *layout) join(pieces []string, tail string) string {
	var b strings.Builder
	for i, p := range pieces {
		b.WriteString(p)
		if (i+1 < len(pieces) || tail != "") && !strings.HasSuffix(p, "\n") {
			b.WriteString(l.nl)
		}
	}
	if len(pieces) > 0 && tail == "" && !strings.HasSuffix(pieces[len(pieces)-1], "\n") {
		return b.String()
	}
	b.WriteString(tail)
	s := b.String()
	return s
}

// childDirty reports whether child i of n (an item, or the entry whose key
// is at i) changed.
func (l *layout) childDirty(n *yaml.Node, i int) bool {
	if n.Kind == yaml.SequenceNode {
		return l.d.dirty(n.Content[i])
	}
	k, v := n.Content[i], n.Content[i+1]
	return l.d.dirty(k) || l.val[k] != v || l.d.dirty(v)
}

// renderChild prints child i of n: original text where it has some, else
// new lines at column col.
func (l *layout) renderChild(n *yaml.Node, i, col int) (string, error) {
	h := n.Content[i]
	r, ok := l.reg[h]
	if !ok {
		return l.gen(n, i, col)
	}
	var s string
	switch {
	case !l.childDirty(n, i):
		s = l.text[r.start:r.end]
	default:
		v := h
		if n.Kind == yaml.MappingNode {
			v = n.Content[i+1]
			if l.d.dirty(h) || l.val[h] != v {
				v = nil
			}
		}
		var err error = errRegenerate
		if vc := l.colls[v]; v != nil && vc != nil {
			var body string
			body, err = l.renderColl(v)
			if err == nil {
				s = l.text[r.start:vc.start] + body + l.text[vc.end:r.end]
			} else if !errors.Is(err, errRegenerate) {
				return "", err
			}
		}
		if err != nil {
			lead := ""
			if ls := l.starts[r.line-1]; ls > r.start {
				lead = l.text[r.start:ls]
			}
			g, err := l.gen(n, i, r.col)
			if err != nil {
				return "", err
			}
			if l.starts[r.line-1] < r.start { // after a dash: no indentation
				g = strings.TrimLeft(g, " ")
			}
			g = keepGap(g, l.lineText(r.line))
			if n.Kind == yaml.MappingNode {
				if t, ok := l.verbatim[n.Content[i+1]]; ok {
					first, _, _ := strings.Cut(g, "\n")
					g = strings.TrimSuffix(first, "\r") + l.nl + strings.ReplaceAll(reindent(t, r.col), "\n", l.nl)
				}
			}
			s = lead + g + l.trail(r)
		}
	}
	return reindent(s, col-r.col), nil
}

// keepGap gives the first line of a printed entry the blanks its original
// line had before its end-of-line comment (the printer puts one).
func keepGap(g, orig string) string {
	i := strings.LastIndex(orig, "#")
	if i < 1 || (orig[i-1] != ' ' && orig[i-1] != '\t') {
		return g
	}
	gap := len(orig[:i]) - len(strings.TrimRight(orig[:i], " \t"))
	first, rest, _ := strings.Cut(g, "\n")
	first = strings.TrimSuffix(first, "\r")
	if !strings.HasSuffix(first, " "+orig[i:]) {
		return g
	}
	eol := g[len(first) : len(first)+len(g)-len(first)-len(rest)]
	return strings.TrimSuffix(first, " "+orig[i:]) + orig[i-gap:] + eol + rest
}

// trail returns the comment and blank lines that end a region.
func (l *layout) trail(r region) string {
	end := l.lineAt(r.end)
	if l.starts[end-1] != r.end {
		return ""
	}
	k := end - 1
	for k > r.line {
		if t, _ := l.trivia(k); !t {
			break
		}
		k--
	}
	return l.text[l.starts[k]:r.end]
}

// bare copies a tree for printing, without the comments above and below
// its nodes (the original text keeps those).
func bare(n *yaml.Node) *yaml.Node { return copyNode(n, nil) }

// copyNode copies a tree for printing, with the comments above and below
// the nodes that keep(n) says are not in the original text (a startupProbe
// --undo puts back brings its own).
func copyNode(n *yaml.Node, keep func(*yaml.Node) bool) *yaml.Node {
	if n == nil {
		return nil
	}
	c := &yaml.Node{Kind: n.Kind, Style: n.Style, Tag: n.Tag, Value: n.Value, Anchor: n.Anchor, Alias: n.Alias, LineComment: n.LineComment}
	if keep != nil && keep(n) {
		c.HeadComment, c.FootComment = n.HeadComment, n.FootComment
	}
	for _, x := range n.Content {
		c.Content = append(c.Content, copyNode(x, keep))
	}
	return c
}

// reindent shifts every line of s by delta columns.
func reindent(s string, delta int) string {
	if delta == 0 || s == "" {
		return s
	}
	lines := strings.SplitAfter(s, "\n")
	for i, ln := range lines {
		if strings.TrimSpace(ln) == "" {
			continue
		}
		if delta > 0 {
			lines[i] = strings.Repeat(" ", delta) + ln
		} else {
			cut := min(-delta, len(ln)-len(strings.TrimLeft(ln, " ")))
			lines[i] = ln[cut:]
		}
	}
	return strings.Join(lines, "")
}

// wideOf returns the sequence offset to print new sequences with in the
// mapping m: that of m's own sequences, else its ancestors', else the
// document's.
func (l *layout) wideOf(m *yaml.Node) int {
	for n := m; n != nil; n = l.parent[n] {
		if n.Kind != yaml.MappingNode {
			continue
		}
		for i := 1; i < len(n.Content); i += 2 {
			if c := l.colls[n.Content[i]]; c != nil && n.Content[i].Kind == yaml.SequenceNode {
				return c.wide
			}
		}
		if p := l.parent[n]; p != nil && p.Kind == yaml.SequenceNode {
			if c := l.colls[p]; c != nil && l.parent[p] != nil {
				return c.wide
			}
		}
	}
	return l.wide
}

// gen prints child i of n anew at column col: an entry "key: value" or an
// item "- value". Original nodes inside it keep their text.
func (l *layout) gen(n *yaml.Node, i, col int) (string, error) {
	wide := l.wideOf(n)
	if n.Kind == yaml.SequenceNode {
		wide = l.wideOf(l.parent[n])
	}
	return l.genChild(n.Kind, n.Content[i:min(i+2, len(n.Content))], col, wide)
}

// genChild prints a pair (kind mapping) or an item (kind sequence) at
// column col, with sequences offset by wide (0: compact).
func (l *layout) genChild(kind yaml.Kind, kv []*yaml.Node, col, wide int) (string, error) {
	v := kv[0]
	if kind == yaml.MappingNode {
		v = kv[1]
	}
	below := false
	for _, c := range v.Content {
		below = below || l.hasOriginal(c)
	}
	if !below || (v.Kind != yaml.SequenceNode && v.Kind != yaml.MappingNode) || len(v.Content) == 0 {
		if o, ok := l.orig[v]; ok && v.Style&yaml.FlowStyle != 0 && len(o.content) == 0 && len(v.Content) > 0 {
			v.Style &^= yaml.FlowStyle // an empty [] or {} that gets items turns to block
		}
		one := &yaml.Node{Kind: kind}
		for _, c := range kv {
			one.Content = append(one.Content, copyNode(c, l.isNew))
		}
		if kind == yaml.SequenceNode {
			one.Content = one.Content[:1]
		}
		var b bytes.Buffer
		e := yaml.NewEncoder(&b)
		if wide > 0 {
			e.SetIndent(wide)
			e.DefaultSeqIndent()
		} else {
			e.SetIndent(2)
			e.CompactSeqIndent()
		}
		if err := e.Encode(one); err != nil {
			return "", err
		}
		s := reindent(b.String(), col)
		if l.nl != "\n" {
			s = strings.ReplaceAll(s, "\n", l.nl)
		}
		return s, nil
	}
	// A new collection that holds original nodes (containers moved into a
	// new initContainers): its key or dash, then its children.
	var head string
	childCol := col
	if kind == yaml.MappingNode {
		k, err := l.genChild(yaml.MappingNode, []*yaml.Node{kv[0], {Kind: yaml.ScalarNode, Tag: "!!str", Value: "x"}}, col, wide)
		if err != nil {
			return "", err
		}
		head = strings.TrimSuffix(strings.TrimRight(k, "\r\n"), " x")
		if v.Kind == yaml.MappingNode {
			childCol = col + max(wide, 2)
		} else {
			childCol = col + wide
		}
	} else {
		head = strings.Repeat(" ", col) + "-"
		childCol = col + 2
	}
	if v.Anchor != "" {
		head += " &" + v.Anchor
	}
	head += l.nl
	step := 1
	if v.Kind == yaml.MappingNode {
		step = 2
	}
	var pieces []string
	for j := 0; j < len(v.Content); j += step {
		h := v.Content[j]
		if _, ok := l.reg[h]; ok && (step == 1 || l.val[h] == v.Content[j+1]) {
			s, err := l.renderChild(v, j, childCol)
			if err != nil {
				return "", err
			}
			pieces = append(pieces, s)
			continue
		}
		s, err := l.genChild(v.Kind, v.Content[j:min(j+2, len(v.Content))], childCol, wide)
		if err != nil {
			return "", err
		}
		pieces = append(pieces, s)
	}
	body := l.join(pieces, "")
	if !strings.HasSuffix(body, "\n") {
		body += l.nl
	}
	return head + body, nil
}

// isNew reports whether n is not a node of the original text.
func (l *layout) isNew(n *yaml.Node) bool {
	_, ok := l.orig[n]
	return !ok
}

// hasOriginal reports whether an original node with a region lies in n.
func (l *layout) hasOriginal(n *yaml.Node) bool {
	if _, ok := l.reg[n]; ok {
		return true
	}
	for _, c := range n.Content {
		if l.hasOriginal(c) {
			return true
		}
	}
	return false
}

// sameData reports whether a text parses to the data of a tree.
func sameData(text string, doc *yaml.Node) bool {
	back, err := parseDoc(text)
	if err != nil {
		return false
	}
	var a, b any
	if err := doc.Decode(&a); err != nil {
		return false
	}
	if err := back.Decode(&b); err != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}
