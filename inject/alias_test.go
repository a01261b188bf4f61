package inject

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// aliasCases put an alias or a merge key in every place of a pod template
// that inject reads or edits, and in places it leaves alone.
var aliasCases = []struct {
	name string
	in   string
	keep []string // aliases that must stay, untouched, at least as often as in the input
}{
	{"volumeMounts", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata:
      annotations:
        after.podseq.dev/app: proxy
    spec:
      containers:
      - name: proxy
        image: proxy:1
        volumeMounts: &mounts
        - name: data
          mountPath: /data
        readinessProbe:
          tcpSocket: {port: 1080}
      - name: app
        image: app:1
        command: [/app]
        volumeMounts: *mounts
      volumes:
      - name: data
        emptyDir: {}
`, nil},
	{"env", `apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations:
    after.podseq.dev/app: proxy
    podseq.dev/mode: gate
spec:
  containers:
  - name: proxy
    image: proxy:1
    env: &env
    - name: MODE
      value: fast
    readinessProbe:
      httpGet: {path: /ready, port: 8080}
  - name: app
    image: app:1
    env: *env
`, []string{"env: *env"}},
	{"containers", `apiVersion: v1
kind: List
items:
- apiVersion: batch/v1
  kind: Job
  metadata:
    name: a
  spec:
    template:
      metadata:
        annotations:
          after.podseq.dev/app: proxy
          ready.podseq.dev/proxy: tcp://localhost:1080
      spec:
        restartPolicy: Never
        containers: &cs
        - &app
          name: app
          image: app:1
          command: [/app]
        - name: proxy
          image: proxy:1
          command: [/proxy]
- apiVersion: batch/v1
  kind: Job
  metadata:
    name: b
  spec:
    template:
      spec:
        restartPolicy: Never
        containers: *cs
        initContainers:
        - *app
`, nil},
	{"containers aliased, edited through the alias", `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: PodTemplate
  metadata:
    name: shape
  template:
    spec:
      containers: &cs
      - name: proxy
        image: proxy:1
        readinessProbe:
          tcpSocket: {port: 1080}
      - name: app
        image: app:1
        command: [/app]
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: web
  spec:
    template:
      metadata:
        annotations:
          after.podseq.dev/app: proxy
      spec:
        containers: *cs
`, []string{"containers: &cs"}},
	{"merge keys", `x-base: &base
  image: app:1
  command: [/app]
  volumeMounts:
  - name: data
    mountPath: /data
x-probe: &probe
  readinessProbe:
    tcpSocket: {port: 1080}
x-env: &env
  env:
  - name: A
    value: "1"
apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations: {after.podseq.dev/app: proxy}
spec:
  containers:
  - name: proxy
    image: proxy:1
    <<: [*probe, *env]
  - <<: *base
    name: app
  volumes:
  - name: data
    emptyDir: {}
`, []string{"<<: [*probe, *env]"}},
	{"annotations", `apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: a
  spec:
    template:
      metadata:
        annotations: &ann
          after.podseq.dev/app: proxy
          team: web
      spec:
        containers:
        - name: proxy
          image: proxy:1
          readinessProbe:
            tcpSocket: {port: 1080}
        - name: app
          image: app:1
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: b
  spec:
    template:
      metadata:
        annotations: *ann
      spec:
        containers:
        - name: proxy
          image: proxy:1
          readinessProbe:
            tcpSocket: {port: 1080}
        - name: app
          image: app:1
`, nil},
	{"command, lifecycle, spec and volumes", `x-cmd: &cmd [/app, --serve]
x-spec: &podspec
  containers:
  - name: proxy
    image: proxy:1
    lifecycle: &lc
      preStop:
        exec:
          command: [/drain]
    readinessProbe:
      grpc: {port: 9000}
  - name: app
    image: app:1
    command: *cmd
    lifecycle: *lc
  volumes: &vols
  - name: data
    emptyDir: {}
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: web
spec:
  template:
    metadata:
      annotations: {after.podseq.dev/app: proxy, podseq.dev/mode: native}
    spec: *podspec
`, nil},
	{"template, metadata, probe and ports", `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: shared
  data:
    probe: &probe
      httpGet: {path: /ready, port: admin}
      periodSeconds: 2
    ports: &ports
    - name: admin
      containerPort: 15000
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: web
  spec:
    template: &tmpl
      metadata: &md
        annotations:
          after.podseq.dev/app: proxy
      spec:
        containers:
        - name: proxy
          image: proxy:1
          ports: *ports
          readinessProbe: *probe
        - name: app
          image: app:1
          command: [/app]
- apiVersion: apps/v1
  kind: StatefulSet
  metadata:
    name: db
  spec:
    serviceName: db
    template: *tmpl
- apiVersion: apps/v1
  kind: DaemonSet
  metadata:
    name: agent
  spec:
    template:
      metadata: *md
      spec:
        containers:
        - name: proxy
          image: proxy:1
          ports: *ports
          readinessProbe: *probe
        - name: app
          image: app:1
`, []string{"ports: *ports", "readinessProbe: *probe"}},
}

// TestAliases: an alias or a merge key anywhere inject edits is written
// out there, never dropped: injecting the aliased input gives the data of
// injecting the same input with every alias written out; aliases nothing
// edits stay; injecting again changes nothing, --undo gives the input's
// data back, and injecting that gives the first output again.
func TestAliases(t *testing.T) {
	for _, tc := range aliasCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := Options{Image: "podseq:v1.2.3"}
			res, reprinted, err := process([]byte(tc.in), o)
			if err != nil {
				t.Fatal(err)
			}
			if reprinted != 0 {
				t.Errorf("printed anew instead of patched")
			}
			flat, err := Process([]byte(expandedText(t, tc.in)), o)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := decodeAll(t, string(res.Out)), decodeAll(t, string(flat.Out)); !reflect.DeepEqual(got, want) {
				t.Errorf("the aliased input gives other data than the written-out one:\n%s", res.Out)
			}
			if got, want := decodeAll(t, string(res.Out)), decodeAll(t, tc.in); reflect.DeepEqual(got, want) {
				t.Errorf("nothing injected")
			}
			for _, k := range tc.keep {
				// As often as in the input, or more: a written-out alias
				// keeps the aliases inside it.
				if strings.Count(string(res.Out), k) < strings.Count(tc.in, k) {
					t.Errorf("%q is gone:\n%s", k, res.Out)
				}
			}
			again, err := Process(res.Out, o)
			if err != nil || string(again.Out) != string(res.Out) {
				t.Errorf("not idempotent (%v):\n%s", err, diff(string(res.Out), string(again.Out)))
			}
			back, err := Process(res.Out, Options{Undo: true})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := decodeAll(t, string(back.Out)), decodeAll(t, tc.in); !reflect.DeepEqual(got, want) {
				t.Errorf("undo does not give the input's data back:\n%s", back.Out)
			}
			for _, k := range tc.keep {
				if strings.Count(string(back.Out), k) < strings.Count(tc.in, k) {
					t.Errorf("undo: %q is gone", k)
				}
			}
			// What undo gives back round-trips: injected again, it gives
			// the same output, byte for byte.
			round, err := Process(back.Out, o)
			if err != nil || string(round.Out) != string(res.Out) {
				t.Errorf("inject of the undone output (%v) differs:\n%s", err, diff(string(res.Out), string(round.Out)))
			}
		})
	}
}

// expandedText writes a YAML stream with every alias and merge key
// written out (as decoding to plain data does).
func expandedText(t *testing.T, in string) string {
	t.Helper()
	var docs []string
	for _, v := range decodeAll(t, in) {
		b, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	return strings.Join(docs, "---\n")
}

func decodeAll(t *testing.T, in string) []any {
	t.Helper()
	var out []any
	for _, ch := range splitYAML(in) {
		if blank(ch.text) {
			continue
		}
		var v any
		if err := yaml.Unmarshal([]byte(ch.text), &v); err != nil {
			t.Fatalf("decode: %v\n%s", err, ch.text)
		}
		if m, ok := v.(map[string]any); ok {
			for k := range m {
				if strings.HasPrefix(k, "x-") {
					delete(m, k) // the anchors' holders: not part of the object
				}
			}
		}
		out = append(out, v)
	}
	return out
}

// TestAliasBomb: aliases that stand for more than MaxExpandedNodes nodes
// are refused with one line when the document asks for an order, and a
// document that does not goes through as it is.
func TestAliasBomb(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 8; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	bomb := b.String()
	plain := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n" + bomb
	res, err := Process([]byte(plain), Options{})
	if err != nil || string(res.Out) != plain {
		t.Errorf("a ConfigMap with an alias bomb: %v", err)
	}
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    after.podseq.dev/app: proxy\n" + bomb +
		"spec:\n  containers:\n  - {name: proxy, image: p, readinessProbe: {tcpSocket: {port: 1}}}\n  - {name: app, image: a}\n"
	_, err = Process([]byte(pod), Options{})
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "aliases expand to more than") || strings.Contains(err.Error(), "\n") {
		t.Errorf("a Pod with an alias bomb: %v", err)
	}
}

// TestMergeKeyNotAMapping: a merge key whose value is not a mapping is
// refused with one line where inject reads the document, and a document
// inject does not read goes through.
func TestMergeKeyNotAMapping(t *testing.T) {
	t.Parallel()
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  <<: [a, b]\n"
	_, err := Process([]byte(cm), Options{After: map[string][]string{"app": {"proxy"}}})
	if err == nil || !strings.Contains(err.Error(), "no pod in the input has that container") {
		t.Errorf("a ConfigMap with a bad merge key, with --after: %v", err)
	}
	res, err := Process([]byte(cm), Options{})
	if err != nil || string(res.Out) != cm {
		t.Errorf("a ConfigMap with a bad merge key: %v", err)
	}
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {after.podseq.dev/app: proxy}\nspec:\n  containers:\n  - name: proxy\n    <<: proxy:1\n  - {name: app, image: a}\n"
	_, err = Process([]byte(cm+"---\n"+pod), Options{})
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "document at line 8: line 16: a merge key (<<) takes a mapping or a list of mappings") || strings.Contains(err.Error(), "\n") {
		t.Errorf("a Pod with a bad merge key: %v", err)
	}
}

// TestAliasInsideWrittenOut: a template written out where inject edits it
// (template: *tmpl) keeps the aliases inside it (ports: *ports), which
// nothing edits.
func TestAliasInsideWrittenOut(t *testing.T) {
	t.Parallel()
	var in string
	for _, tc := range aliasCases {
		if strings.HasPrefix(tc.name, "template,") {
			in = tc.in
		}
	}
	res, err := Process([]byte(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, sts, _ := strings.Cut(string(res.Out), "kind: StatefulSet")
	sts, _, _ = strings.Cut(sts, "kind: DaemonSet")
	if !strings.Contains(sts, "ports: *ports\n") || !strings.Contains(sts, "readinessProbe: *probe\n") || strings.Contains(sts, "template: *tmpl") {
		t.Errorf("the StatefulSet's template, written out, lost its inner aliases:\n%s", sts)
	}
}
