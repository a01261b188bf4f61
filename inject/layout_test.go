package inject

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// TestLayoutDiff injects realistic files (a Helm-rendered stream with
// mixed sequence indentation, a CRLF file, a heavily commented file, a
// multi-document stream) and diffs input and output line by line: every
// line that changed must be one inject owns (its annotations, the entries
// and items it writes) or a line of a container it moved, byte for byte.
// It logs the figures beside those of printing every changed document
// anew, the layout inject had before it patched.
func TestLayoutDiff(t *testing.T) {
	files, _ := filepath.Glob("testdata/layout/*.yaml")
	if len(files) < 4 {
		t.Fatalf("found %d layout inputs", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			o := Options{Image: "podseq:v1.2.3"}
			res, reprinted, err := process(in, o)
			if err != nil {
				t.Fatal(err)
			}
			if reprinted != 0 {
				t.Errorf("%d documents printed anew instead of patched", reprinted)
			}
			out := string(res.Out)
			before, _, err := run(in, o, true)
			if err != nil {
				t.Fatal(err)
			}
			bc := classify(t, string(in), string(before.Out))
			c := classify(t, string(in), out)
			if len(c.notOwned) > 0 {
				t.Errorf("lines changed that inject does not own:\n%s", strings.Join(c.notOwned, ""))
			}
			t.Logf("%s: %d input lines; printed anew: %d lines changed, %d of them not inject's; patched: %d lines changed (%d written by inject, %d moved byte for byte, %d replaced), %d not inject's",
				filepath.Base(f), strings.Count(string(in), "\n"), bc.changed, len(bc.notOwned),
				c.changed, c.owned, c.moved, c.replaced, len(c.notOwned))
			if strings.Contains(string(in), "\r\n") && strings.Count(out, "\n") != strings.Count(out, "\r\n") {
				t.Errorf("a CRLF input came back with LF lines")
			}
			again, err := Process(res.Out, o)
			if err != nil || string(again.Out) != out {
				t.Errorf("not idempotent (%v):\n%s", err, diff(out, string(again.Out)))
			}
			back, err := Process(res.Out, Options{Undo: true})
			if err != nil || string(back.Out) != string(in) {
				t.Errorf("undo (%v) does not restore the input:\n%s", err, diff(string(in), string(back.Out)))
			}
		})
	}
}

// diffClass sorts the lines that differ between an input and its output.
type diffClass struct {
	changed  int      // lines removed plus lines added
	owned    int      // added lines that inject owns
	moved    int      // added lines equal to removed ones (containers moved)
	replaced int      // removed lines that inject rewrote (a flow command it wraps, an empty list it fills)
	notOwned []string // the others
}

func classify(t *testing.T, in, out string) diffClass {
	t.Helper()
	removed, added := lineDiff(in, out)
	owned := ownedLines(t, out)
	moved := map[string]int{}
	for _, n := range removed {
		l := lineN(in, n)
		if !strings.HasSuffix(l, "\n") {
			l += "\n" // the input's last line, which gets a break when inject adds after it
		}
		moved[l]++
	}
	c := diffClass{changed: len(removed) + len(added)}
	for _, n := range added {
		l := lineN(out, n)
		body, eol := strings.TrimRight(l, "\r\n"), l[len(strings.TrimRight(l, "\r\n")):]
		switch {
		case owned[n]:
			c.owned++
		case moved[l] > 0:
			moved[l]--
			c.moved++
		case strings.HasSuffix(body, ":") && (moved[body+" {}"+eol] > 0 || moved[body+" []"+eol] > 0):
			// The key of an empty collection inject fills.
			c.owned++
		default:
			c.notOwned = append(c.notOwned, "+ "+l)
		}
	}
	recorded := recordedProbeLines(t, out)
	for l, n := range moved {
		t2 := strings.Trim(strings.TrimSpace(l), `"'`)
		if n == 0 {
			continue
		}
		if strings.HasPrefix(t2, "command") || strings.HasSuffix(t2, "[]") || strings.HasSuffix(t2, "{}") ||
			recorded[strings.TrimSpace(l)] {
			c.replaced += n
			continue
		}
		for range n {
			c.notOwned = append(c.notOwned, "- "+l)
		}
	}
	return c
}

// recordedProbeLines returns the lines, trimmed, of the startupProbes that
// the undo annotations of an injected stream keep: those inject replaced.
func recordedProbeLines(t *testing.T, out string) map[string]bool {
	t.Helper()
	lines := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(l), UndoKey+": ")
		if !ok {
			continue
		}
		var s string
		if err := yaml.Unmarshal([]byte(v), &s); err != nil {
			t.Fatalf("undo annotation %s: %v", v, err)
		}
		var rec struct{ Probes map[string]string }
		if err := json.Unmarshal([]byte(s), &rec); err != nil {
			t.Fatalf("undo annotation %s: %v", s, err)
		}
		for _, p := range rec.Probes {
			for _, pl := range strings.Split(p, "\n") {
				lines[strings.TrimSpace(pl)] = true
			}
		}
	}
	return lines
}

// lineN returns line n (1-based) of s, with its line break.
func lineN(s string, n int) string {
	return strings.SplitAfter(s, "\n")[n-1]
}

// lineDiff returns the lines (1-based) of a that b lacks and those of b
// that a lacks, by a longest common subsequence of whole lines (line
// breaks included, so that CRLF against LF differs).
func lineDiff(a, b string) (removed, added []int) {
	x, y := strings.SplitAfter(a, "\n"), strings.SplitAfter(b, "\n")
	n, m := len(x), len(y)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			if y[j] != "" {
				added = append(added, j+1)
			}
			j++
		default:
			if x[i] != "" {
				removed = append(removed, i+1)
			}
			i++
		}
	}
	return removed, added
}

// ownedLines returns the lines of an injected stream that inject owns: its
// annotations, the keys it created, the install container, its volumes,
// mounts, hooks, restart policies and the words it put before commands.
func ownedLines(t *testing.T, out string) map[int]bool {
	t.Helper()
	owned := map[int]bool{}
	for _, ch := range splitYAML(out) {
		if blank(ch.text) {
			continue
		}
		doc, err := parseDoc(ch.text)
		if err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		l := newLayout(ch.text, doc.Content[0], takeSnapshot(doc))
		span := func(k *yaml.Node) {
			r, ok := l.reg[k]
			if !ok {
				t.Fatalf("no region for the node at line %d", k.Line)
			}
			end := l.lineAt(r.end)
			if l.starts[end-1] == r.end {
				end--
			}
			for n := r.line; n <= end; n++ {
				owned[ch.line+n-1] = true
			}
		}
		keyLine := func(m *yaml.Node, key string) {
			for i := 0; i+1 < len(m.Content); i += 2 {
				if m.Content[i].Value == key {
					owned[ch.line+l.reg[m.Content[i]].line-1] = true
				}
			}
		}
		entry := func(m *yaml.Node, key string) {
			for i := 0; i+1 < len(m.Content); i += 2 {
				if m.Content[i].Value == key {
					span(m.Content[i])
				}
			}
		}
		var objects []*yaml.Node
		root := doc.Content[0]
		if listKinds[str(root, "kind")] {
			objects = items(get(root, "items"))
		} else {
			objects = []*yaml.Node{root}
		}
		for _, obj := range objects {
			tmpl, _ := template(obj)
			ann := path(tmpl, "metadata", "annotations")
			raw := get(ann, UndoKey)
			if raw == nil {
				continue
			}
			var rec record
			if err := json.Unmarshal([]byte(raw.Value), &rec); err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(ann.Content); i += 2 {
				k := ann.Content[i].Value
				if _, set := rec.Settings[k]; set || slices.Contains([]string{InjectedKey, UnsafeKey, UndoKey}, k) {
					span(ann.Content[i])
				}
			}
			spec := get(tmpl, "spec")
			for _, c := range rec.Created {
				switch c {
				case "metadata":
					keyLine(tmpl, "metadata")
				case "annotations":
					keyLine(get(tmpl, "metadata"), "annotations")
				case "initContainers", "volumes":
					keyLine(spec, c)
				}
			}
			for _, v := range items(get(spec, "volumes")) {
				if ourVolume(str(v, "name")) {
					span(v)
				}
			}
			for _, ctr := range append(items(get(spec, "containers")), items(get(spec, "initContainers"))...) {
				name := str(ctr, "name")
				if name == InstallContainer {
					span(ctr)
					continue
				}
				for _, what := range []string{"volumeMounts", "lifecycle"} {
					if slices.Contains(rec.Created, name+"/"+what) {
						keyLine(ctr, what)
					}
				}
				for _, m := range items(get(ctr, "volumeMounts")) {
					if ourVolume(str(m, "name")) {
						span(m)
					}
				}
				if lc := get(ctr, "lifecycle"); ours(path(lc, "postStart", "exec", "command")) {
					entry(lc, "postStart")
				}
				if slices.Contains(rec.Native, name) {
					entry(ctr, "restartPolicy")
				}
				if ours(path(ctr, "startupProbe", "exec", "command")) {
					entry(ctr, "startupProbe")
				}
				if cmd := get(ctr, "command"); ours(cmd) {
					if cmd.Style&yaml.FlowStyle != 0 {
						entry(ctr, "command")
						continue
					}
					for _, a := range cmd.Content {
						span(a)
						if a.Value == "--" {
							break
						}
					}
				}
			}
		}
	}
	return owned
}
