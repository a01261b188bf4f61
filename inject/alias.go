package inject

import (
	"fmt"
	"slices"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Inject reads and edits pod templates as plain trees: an alias (*name)
// or a merge key (<<: *name) anywhere in a document is first replaced by a
// copy of what it stands for, as it was parsed. Once inject is done, every
// copy that nothing changed, of an anchor that nothing changed, is put
// back as the alias or merge key it was; the others stay written out, so
// that neither an edit through an alias nor an edit of an anchored node
// reaches anything else.

// MaxExpandedNodes bounds the nodes that expanding a document's aliases
// may create (a few aliases of aliases can stand for billions).
const MaxExpandedNodes = 200_000

// expansion is an alias replaced by a copy.
type expansion struct {
	parent   *yaml.Node // the collection that held the alias
	alias    *yaml.Node
	copy     *yaml.Node
	restored bool
}

// merge is a mapping whose merge keys were written out.
type merge struct {
	m       *yaml.Node
	content []*yaml.Node // the mapping's pairs as parsed
	added   []*yaml.Node // keys the merge added
}

// expander writes out the aliases and merge keys of one document.
type expander struct {
	exps    []expansion
	aliasOf map[*yaml.Node]*yaml.Node // copy -> the alias it replaced
	merges  []merge
	created int
}

// errTooManyAliases is returned when aliases expand beyond the bound.
type errTooManyAliases struct{}

// Error says what the bound is.
func (errTooManyAliases) Error() string {
	return fmt.Sprintf("YAML aliases expand to more than %d nodes: inject cannot write them out", MaxExpandedNodes)
}

// expand writes out every alias and merge key under n.
func (x *expander) expand(n *yaml.Node) error {
	if err := x.aliases(n); err != nil {
		return err
	}
	return x.mergeKeys(n)
}

// aliases replaces every alias under n by a copy, and records it.
func (x *expander) aliases(n *yaml.Node) error {
	for i, c := range n.Content {
		if c.Kind == yaml.AliasNode {
			cp, err := x.copyOf(c.Alias, 0)
			if err != nil {
				return err
			}
			n.Content[i] = cp
			x.exps = append(x.exps, expansion{parent: n, alias: c, copy: cp})
			x.aliasOf[cp] = c
			// The aliases the copy holds are expanded (and may go back)
			// in turn.
			if err := x.aliases(cp); err != nil {
				return err
			}
			continue
		}
		if err := x.aliases(c); err != nil {
			return err
		}
	}
	return nil
}

// copyOf returns a deep copy of n without anchors, comments or
// positions; the aliases in n, and the copies that stand for aliases, are
// copied as aliases.
func (x *expander) copyOf(n *yaml.Node, depth int) (*yaml.Node, error) {
	if n == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	x.created++
	if x.created > MaxExpandedNodes || depth > 1000 {
		return nil, errTooManyAliases{}
	}
	if a, ok := x.aliasOf[n]; ok {
		n = a
	}
	if n.Kind == yaml.AliasNode {
		return &yaml.Node{Kind: yaml.AliasNode, Alias: n.Alias, Value: n.Value}, nil
	}
	cp := &yaml.Node{Kind: n.Kind, Style: n.Style, Tag: n.Tag, Value: n.Value}
	for _, c := range n.Content {
		cc, err := x.copyOf(c, depth+1)
		if err != nil {
			return nil, err
		}
		cp.Content = append(cp.Content, cc)
	}
	return cp, nil
}

// isMergeKey reports whether a mapping key is YAML's merge key, <<.
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "!!merge" || k.Tag == "" || k.ShortTag() == "!!merge") && k.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0
}

// expandedCopy is a copy of n with the aliases in it written out.
func (x *expander) expandedCopy(n *yaml.Node) (*yaml.Node, error) {
	cp, err := x.copyOf(n, 0)
	if err != nil {
		return nil, err
	}
	holder := &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{cp}}
	if err := x.aliases(holder); err != nil {
		return nil, err
	}
	return holder.Content[0], nil
}

// mergeKeys writes out the merge keys of every mapping under n, deepest
// first: explicit keys win, then the sources in their order.
func (x *expander) mergeKeys(n *yaml.Node) error {
	for _, c := range n.Content {
		if err := x.mergeKeys(c); err != nil {
			return err
		}
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	has := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		if isMergeKey(n.Content[i]) {
			has = true
		}
	}
	if !has {
		return nil
	}
	orig := append([]*yaml.Node(nil), n.Content...)
	explicit := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !isMergeKey(n.Content[i]) {
			explicit[n.Content[i].Value] = true
		}
	}
	var out, added []*yaml.Node
	for i := 0; i+1 < len(orig); i += 2 {
		k, v := orig[i], orig[i+1]
		if !isMergeKey(k) {
			out = append(out, k, v)
			continue
		}
		var sources []*yaml.Node
		switch v.Kind {
		case yaml.MappingNode:
			sources = []*yaml.Node{v}
		case yaml.SequenceNode:
			sources = v.Content
		default:
			return fmt.Errorf("yaml: line %d: a merge key (<<) takes a mapping or a list of mappings", k.Line)
		}
		for _, src := range sources {
			if src.Kind != yaml.MappingNode {
				return fmt.Errorf("yaml: line %d: a merge key (<<) takes a mapping or a list of mappings", k.Line)
			}
			for j := 0; j+1 < len(src.Content); j += 2 {
				sk := src.Content[j]
				if explicit[sk.Value] {
					continue
				}
				explicit[sk.Value] = true
				ck, err := x.expandedCopy(sk)
				if err != nil {
					return err
				}
				cv, err := x.expandedCopy(src.Content[j+1])
				if err != nil {
					return err
				}
				out = append(out, ck, cv)
				added = append(added, ck)
			}
		}
	}
	n.Content = out
	x.merges = append(x.merges, merge{m: n, content: orig, added: added})
	return nil
}

// restore puts back the aliases and merge keys whose copies nothing
// changed. after is the snapshot taken right after expand; orig the one
// taken at parse time. It returns a function that undoes the restoring.
func (x *expander) restore(orig, after snapshot) func() {
	var undos []func()
	dAfter := newDirty(after)
	for i := len(x.merges) - 1; i >= 0; i-- {
		mg := x.merges[i]
		if _, ok := orig[mg.m]; !ok {
			continue // a mapping inside a copy
		}
		cur := mg.m.Content
		present := map[*yaml.Node]bool{}
		for j := 0; j+1 < len(cur); j += 2 {
			present[cur[j]] = true
		}
		ok := true
		for _, k := range mg.added {
			if !present[k] {
				ok = false // a merged key was removed: the merge would bring it back
			}
		}
		if !ok {
			continue
		}
		added := map[*yaml.Node]bool{}
		for _, k := range mg.added {
			added[k] = true
		}
		var out, kept []*yaml.Node // merged pairs that changed stay written out
		for j := 0; j+1 < len(cur); j += 2 {
			k, v := cur[j], cur[j+1]
			switch {
			case !added[k]:
				out = append(out, k, v)
			case dAfter.dirty(k) || dAfter.dirty(v):
				kept = append(kept, k, v)
			}
		}
		// Each merge key goes back before the original key that followed
		// it, else after the last original key.
		for j := 0; j+1 < len(mg.content); j += 2 {
			if !isMergeKey(mg.content[j]) {
				continue
			}
			at := -1
			for f := j + 2; f+1 < len(mg.content) && at < 0; f += 2 {
				at = pairIndex(out, mg.content[f])
			}
			if at < 0 {
				at = 0
				for f := 0; f+1 < len(mg.content); f += 2 {
					if i := pairIndex(out, mg.content[f]); i >= 0 && i+2 > at {
						at = i + 2
					}
				}
			}
			ins := []*yaml.Node{mg.content[j], mg.content[j+1]}
			if j+2 >= len(mg.content) || !slices.ContainsFunc(mg.content[j+2:], isMergeKey) {
				ins = append(ins, kept...) // right after the last merge key
			}
			out = append(out[:at], append(ins, out[at:]...)...)
		}
		prev := mg.m.Content
		mg.m.Content = out
		m := mg.m
		undos = append(undos, func() { m.Content = prev })
	}
	for progress := true; progress; {
		progress = false
		dOrig := newDirty(orig)
		for i := range x.exps {
			e := &x.exps[i]
			if e.restored {
				continue
			}
			if dAfter.dirty(e.copy) || dOrig.dirty(e.alias.Alias) {
				continue
			}
			for j, c := range e.parent.Content {
				if c == e.copy {
					e.parent.Content[j] = e.alias
					e.restored, progress = true, true
					p, cp := e.parent, e.copy
					undos = append(undos, func() { p.Content[j] = cp; e.restored = false })
					break
				}
			}
		}
	}
	return func() {
		for i := len(undos) - 1; i >= 0; i-- {
			undos[i]()
		}
	}
}

// pairIndex returns the index of key k among the pairs of content, or -1.
func pairIndex(content []*yaml.Node, k *yaml.Node) int {
	for i := 0; i+1 < len(content); i += 2 {
		if content[i] == k {
			return i
		}
	}
	return -1
}

// snapshot records the tree under n and the merge keys' sources, which
// expand took out of it.
func (x *expander) snapshot(n *yaml.Node) snapshot {
	s := takeSnapshot(n)
	for _, mg := range x.merges {
		for _, c := range mg.content {
			for k, v := range takeSnapshot(c) {
				s[k] = v
			}
		}
	}
	return s
}
