package inject

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// FuzzInject checks, on any input that inject accepts: injecting its output
// changes nothing, undoing its output gives the input back (byte for byte
// when the input is laid out as kyaml prints it and has no aliases, the
// same objects otherwise), and every failure is a bad-input error. Seeds: the golden
// and bad inputs of testdata, the realistic layouts, the alias cases and
// the patch shapes.
func FuzzInject(f *testing.F) {
	for _, dir := range []string{"testdata/golden/*.in.*", "testdata/bad/*", "testdata/layout/*"} {
		files, _ := filepath.Glob(dir)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, tc := range aliasCases {
		f.Add([]byte(tc.in))
	}
	for _, tc := range patchShapes {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		o := Options{Image: "podseq:fuzz"}
		res, err := Process(in, o)
		if err != nil {
			if !errors.Is(err, ErrBadInput) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error not one bad-input line: %v", err)
			}
			return
		}
		again, err := Process(res.Out, o)
		if err != nil {
			t.Fatalf("inject of the output fails: %v\noutput:\n%s", err, res.Out)
		}
		if string(again.Out) != string(res.Out) {
			t.Fatalf("not idempotent:\n%s", diff(string(res.Out), string(again.Out)))
		}
		if strings.Contains(string(in), UndoKey) {
			return // an injected input: undo gives its own original
		}
		back, err := Process(res.Out, Options{Undo: true})
		if err != nil {
			t.Fatalf("undo fails: %v", err)
		}
		if string(back.Out) == string(in) {
			return
		}
		if canonical(string(in)) && !hasAliases(string(in)) {
			t.Fatalf("undo does not restore the input byte for byte:\n%s", diff(string(in), string(back.Out)))
		}
		if !sameObjects(t, string(in), string(back.Out)) {
			t.Fatalf("undo does not restore the input's objects:\n%s", diff(string(in), string(back.Out)))
		}
	})
}

// canonical reports whether every document of a YAML input is laid out as
// kyaml prints it.
func canonical(in string) bool {
	if isJSON(in) {
		return false
	}
	for _, ch := range splitYAML(in) {
		if blank(ch.text) {
			continue
		}
		doc, err := parseDoc(ch.text)
		if err != nil {
			return false
		}
		out, err := encodeYAML(doc, ch.text)
		if err != nil || out != ch.text {
			return false
		}
	}
	return true
}

// hasAliases reports whether a YAML input holds an alias or a merge key,
// which inject writes out where it edits (undo gives their data back).
func hasAliases(in string) bool {
	var walk func(n *yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		if n.Kind == yaml.AliasNode || isMergeKey(n) {
			return true
		}
		for _, c := range n.Content {
			if walk(c) {
				return true
			}
		}
		return false
	}
	for _, ch := range splitYAML(in) {
		if doc, err := parseDoc(ch.text); err == nil && walk(doc) {
			return true
		}
	}
	return false
}

// sameObjects compares two inputs document by document, as data.
func sameObjects(t *testing.T, a, b string) bool {
	t.Helper()
	decode := func(s string) []any {
		var out []any
		if isJSON(s) {
			var v any
			if err := yaml.Unmarshal([]byte(s), &v); err != nil {
				t.Fatalf("decode: %v", err)
			}
			return []any{v}
		}
		for _, ch := range splitYAML(s) {
			var v any
			if err := yaml.Unmarshal([]byte(ch.text), &v); err != nil {
				t.Fatalf("decode: %v", err)
			}
			out = append(out, v)
		}
		return out
	}
	return reflect.DeepEqual(decode(a), decode(b))
}

// FuzzInjectPods builds a workload from the fuzzer's bytes (its kind, up to
// five containers with or without command, probe and ports, random after
// and ready annotations, a mode) and checks the same properties as
// FuzzInject on it: random inputs that reach every mode.
func FuzzInjectPods(f *testing.F) {
	f.Add([]byte{0, 2, 1, 0, 0, 1, 3, 0})
	f.Add([]byte{6, 3, 7, 7, 7, 1, 2, 3, 4, 5, 2})
	f.Add([]byte{7, 4, 255, 128, 64, 32, 16, 8, 4, 2, 1, 3})
	f.Add([]byte{1, 5, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 1})
	f.Fuzz(func(t *testing.T, seed []byte) {
		in := genWorkload(seed)
		res, err := Process([]byte(in), Options{})
		if err != nil {
			if !errors.Is(err, ErrBadInput) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error not one bad-input line: %v\ninput:\n%s", err, in)
			}
			return
		}
		again, err := Process(res.Out, Options{})
		if err != nil || string(again.Out) != string(res.Out) {
			t.Fatalf("not idempotent (%v):\ninput:\n%s\noutput:\n%s", err, in, res.Out)
		}
		back, err := Process(res.Out, Options{Undo: true})
		if err != nil || string(back.Out) != in {
			t.Fatalf("undo (%v) does not restore:\n%s\ninput:\n%s", err, diff(in, string(back.Out)), in)
		}
	})
}

// genWorkload writes a workload, in kubectl's layout, from seed bytes.
func genWorkload(seed []byte) string {
	next := func() int {
		if len(seed) == 0 {
			return 0
		}
		b := int(seed[0])
		seed = seed[1:]
		return b
	}
	kinds := []string{"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"}
	kind := kinds[next()%len(kinds)]
	n := 1 + next()%5
	var b strings.Builder
	ind := "    "
	switch kind {
	case "Pod":
		ind = ""
	case "CronJob":
		ind = "        "
	}
	apiVersion := map[string]string{"Pod": "v1", "ReplicationController": "v1", "Job": "batch/v1", "CronJob": "batch/v1"}[kind]
	if apiVersion == "" {
		apiVersion = "apps/v1"
	}
	fmt.Fprintf(&b, "apiVersion: %s\nkind: %s\nmetadata:\n  name: w\n", apiVersion, kind)
	switch kind {
	case "Pod":
	case "CronJob":
		b.WriteString("spec:\n  schedule: '@daily'\n  jobTemplate:\n    spec:\n      template:\n")
	default:
		b.WriteString("spec:\n  template:\n")
	}
	var ann []string
	mode := next() % 5
	if mode < 3 {
		ann = append(ann, fmt.Sprintf("podseq.dev/mode: %s", []Mode{Gate, Native, Tombstone}[mode]))
	}
	name := func(i int) string { return fmt.Sprintf("c%d", i) }
	for i := range n {
		var deps []string
		mask := next()
		for j := range n {
			if j != i && mask&(1<<j) != 0 {
				deps = append(deps, name(j))
			}
		}
		if len(deps) > 0 {
			ann = append(ann, fmt.Sprintf("after.podseq.dev/%s: %s", name(i), strings.Join(deps, ",")))
		}
	}
	if next()%3 == 0 {
		ann = append(ann, "ready.podseq.dev/c0: tcp://localhost:7000 http://localhost:7001/ok")
	}
	if len(ann) > 0 {
		fmt.Fprintf(&b, "%smetadata:\n%s  annotations:\n", ind, ind)
		for _, a := range ann {
			fmt.Fprintf(&b, "%s    %s\n", ind, a)
		}
	}
	if ind != "" {
		fmt.Fprintf(&b, "%sspec:\n", ind)
	} else {
		b.WriteString("spec:\n")
	}
	if kind == "Job" || kind == "CronJob" {
		fmt.Fprintf(&b, "%s  restartPolicy: %s\n", ind, []string{"Never", "OnFailure"}[next()%2])
	}
	// Some containers after the first are native sidecars already: init
	// containers with restartPolicy Always, listed first.
	natives := next() &^ 1
	var inits, regular strings.Builder
	for i := range n {
		c := next()
		b := &regular
		if natives&(1<<i) != 0 {
			b = &inits
		}
		fmt.Fprintf(b, "%s  - name: %s\n%s    image: example.com/%s:1\n", ind, name(i), ind, name(i))
		if b == &inits {
			fmt.Fprintf(b, "%s    restartPolicy: Always\n", ind)
		}
		if c&1 != 0 {
			fmt.Fprintf(b, "%s    command: [/%s, --flag]\n", ind, name(i))
		}
		if c&2 != 0 {
			fmt.Fprintf(b, "%s    ports:\n%s    - name: p%d\n%s      containerPort: %d\n", ind, ind, i, ind, 8000+i)
		}
		switch (c >> 2) % 6 {
		case 1:
			fmt.Fprintf(b, "%s    readinessProbe:\n%s      httpGet: {path: /ready, port: %d}\n", ind, ind, 9000+i)
		case 2:
			fmt.Fprintf(b, "%s    startupProbe:\n%s      tcpSocket:\n%s        port: p%d\n", ind, ind, ind, i)
		case 3:
			fmt.Fprintf(b, "%s    readinessProbe:\n%s      grpc: {port: %d}\n", ind, ind, 9100+i)
		case 4:
			fmt.Fprintf(b, "%s    readinessProbe:\n%s      exec:\n%s        command: [cat, /tmp/ready]\n", ind, ind, ind)
		}
		if c&64 != 0 {
			fmt.Fprintf(b, "%s    lifecycle:\n%s      preStop:\n%s        exec:\n%s          command: [/drain]\n", ind, ind, ind, ind)
		}
		if c&128 != 0 {
			fmt.Fprintf(b, "%s    volumeMounts:\n%s    - name: data\n%s      mountPath: /data\n", ind, ind, ind)
		}
	}
	if inits.Len() > 0 {
		fmt.Fprintf(&b, "%s  initContainers:\n%s", ind, inits.String())
	}
	fmt.Fprintf(&b, "%s  containers:\n%s", ind, regular.String())
	if next()%2 == 0 {
		fmt.Fprintf(&b, "%s  volumes:\n%s  - name: data\n%s    emptyDir: {}\n", ind, ind, ind)
	}
	return b.String()
}

// TestGenWorkloadReachesEveryMode: FuzzInjectPods's generator yields
// workloads that inject accepts in every mode, and some it rejects.
func TestGenWorkloadReachesEveryMode(t *testing.T) {
	t.Parallel()
	seen := map[string]int{}
	x := uint32(1)
	for range 3000 {
		seed := make([]byte, 16)
		for i := range seed {
			x = x*1664525 + 1013904223
			seed[i] = byte(x >> 24)
		}
		res, err := Process([]byte(genWorkload(seed)), Options{})
		if err != nil {
			seen["error"]++
			continue
		}
		for _, m := range []Mode{Gate, Native, Tombstone} {
			if strings.Contains(string(res.Out), InjectedKey+": '"+string(m)+":") {
				seen[string(m)]++
			}
		}
	}
	for _, k := range []string{"gate", "native", "tombstone", "error"} {
		if seen[k] == 0 {
			t.Errorf("no generated workload gave %s (%v)", k, seen)
		}
	}
	t.Logf("%v", seen)
}

// FuzzInjectLayout injects workloads laid out as people write them: the
// generator's workload (FuzzInjectPods) with comment lines, end-of-line
// comments and blank lines here and there, env and volumeMounts shared
// through anchors and aliases, and CRLF line endings, chosen by the
// fuzzer's bytes. Injecting is idempotent byte for byte, every document
// is patched (none printed anew), and --undo gives the input back byte for
// byte (its data where inject wrote an alias out).
func FuzzInjectLayout(f *testing.F) {
	f.Add([]byte{0, 2, 1, 0, 0, 1, 3, 0}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{6, 3, 7, 7, 135, 129, 2, 3, 4, 5, 2}, []byte{255, 0, 7, 14, 21})
	f.Add([]byte{7, 4, 255, 128, 64, 32, 16, 8, 4, 2, 1, 3}, []byte{3, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{1, 5, 9, 136, 135, 134, 133, 4, 3, 2, 1, 0, 1, 1}, []byte{2, 9, 8, 7})
	f.Fuzz(func(t *testing.T, seed, layout []byte) {
		in := decorate(genWorkload(seed), layout)
		res, reprinted, err := process([]byte(in), Options{})
		if err != nil {
			if !errors.Is(err, ErrBadInput) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error not one bad-input line: %v\ninput:\n%s", err, in)
			}
			return
		}
		if reprinted != 0 {
			t.Fatalf("printed anew instead of patched:\ninput:\n%s\noutput:\n%s", in, res.Out)
		}
		again, err := Process(res.Out, Options{})
		if err != nil || string(again.Out) != string(res.Out) {
			t.Fatalf("not idempotent (%v):\n%s\ninput:\n%s", err, diff(string(res.Out), string(again.Out)), in)
		}
		back, err := Process(res.Out, Options{Undo: true})
		if err != nil {
			t.Fatalf("undo fails: %v", err)
		}
		if strings.Contains(in, "*") && string(res.Out) != in {
			if !sameObjects(t, in, string(back.Out)) {
				t.Fatalf("undo does not restore the input's objects:\n%s", diff(in, string(back.Out)))
			}
			round, err := Process(back.Out, Options{})
			if err != nil || string(round.Out) != string(res.Out) {
				t.Fatalf("inject of the undone output (%v) differs:\n%s", err, diff(string(res.Out), string(round.Out)))
			}
			return
		}
		if string(back.Out) != in {
			t.Fatalf("undo does not restore the input:\n%s\ninput:\n%s", diff(in, string(back.Out)), in)
		}
	})
}

// decorate lays a generated workload out as people do, as the bytes of
// layout say: anchors and aliases for env and volumeMounts, comments,
// blank lines, CRLF.
func decorate(in string, layout []byte) string {
	x := uint32(2166136261)
	for _, b := range layout {
		x = (x ^ uint32(b)) * 16777619
	}
	next := func() uint32 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		return x
	}
	lines := strings.SplitAfter(in, "\n")
	var out []string
	anchored := map[string]bool{}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		ind := l[:len(l)-len(strings.TrimLeft(l, " "))]
		body := strings.TrimSpace(l)
		// The first container's data mount is anchored, the next ones alias
		// it; the same for an env added after each image.
		if body == "volumeMounts:" && next()%2 == 0 {
			if !anchored["vm"] {
				anchored["vm"] = true
				l = ind + "volumeMounts: &vm\n"
			} else if i+2 < len(lines) && strings.Contains(lines[i+1], "- name: data") {
				l = ind + "volumeMounts: *vm\n"
				i += 2
			}
		}
		if strings.HasPrefix(body, "image: example.com/") && next()%3 == 0 {
			if !anchored["env"] {
				anchored["env"] = true
				l += ind + "env: &env\n" + ind + "- name: MODE\n" + ind + "  value: \"fast\"   # quoted\n"
			} else {
				l += ind + "env: *env\n"
			}
		}
		switch r := next() % 16; {
		case r == 0 && i > 0:
			out = append(out, "\n")
		case r == 1:
			out = append(out, ind+"# about the next line\n")
		case r == 2 && i > 0:
			out = append(out, "\n", ind+"# a block\n", ind+"#\n", ind+"# of comments\n")
		case r == 3 && !strings.Contains(l, "#"):
			l = strings.TrimSuffix(l, "\n") + "   # note\n"
		}
		out = append(out, l)
	}
	if next()%4 == 0 {
		out = append(out, "# the end\n")
	}
	s := strings.Join(out, "")
	if next()%3 == 0 {
		s = strings.ReplaceAll(s, "\n", "\r\n")
	}
	return s
}

// TestDecorateReachesEveryLayout: FuzzInjectLayout's decorations all occur,
// and inject patches every decorated workload it accepts.
func TestDecorateReachesEveryLayout(t *testing.T) {
	t.Parallel()
	seen := map[string]int{}
	x := uint32(7)
	for range 500 {
		seed, layout := make([]byte, 16), make([]byte, 8)
		for i := range seed {
			x = x*1664525 + 1013904223
			seed[i] = byte(x >> 24)
		}
		for i := range layout {
			x = x*1664525 + 1013904223
			layout[i] = byte(x >> 24)
		}
		in := decorate(genWorkload(seed), layout)
		for _, k := range []string{"*vm", "*env", "\r\n", "# a block", "   # note", "\n\n"} {
			if strings.Contains(in, k) {
				seen[k]++
			}
		}
		res, reprinted, err := process([]byte(in), Options{})
		if err != nil {
			seen["error"]++
			continue
		}
		seen["injected"]++
		if reprinted != 0 {
			t.Fatalf("printed anew:\n%s", in)
		}
		again, err := Process(res.Out, Options{})
		if err != nil || string(again.Out) != string(res.Out) {
			t.Fatalf("not idempotent (%v):\n%s\ninput:\n%s", err, diff(string(res.Out), string(again.Out)), in)
		}
		back, err := Process(res.Out, Options{Undo: true})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(in, "*") && string(res.Out) != in {
			if !sameObjects(t, in, string(back.Out)) {
				t.Fatalf("undo does not restore the input's objects:\n%s\ninput:\n%s", diff(in, string(back.Out)), in)
			}
			seen["alias undone"]++
			continue
		}
		if string(back.Out) != in {
			t.Fatalf("undo does not restore the input:\n%s\ninput:\n%s", diff(in, string(back.Out)), in)
		}
	}
	for _, k := range []string{"*vm", "*env", "\r\n", "# a block", "   # note", "\n\n", "injected", "error", "alias undone"} {
		if seen[k] == 0 {
			t.Errorf("no decorated workload had %q (%v)", k, seen)
		}
	}
	t.Logf("%v", seen)
}
