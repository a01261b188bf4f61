package krmfn

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/podseq/podseq/inject"
)

const deployment = `  - apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      annotations:
        config.kubernetes.io/index: '0'
        internal.config.kubernetes.io/id: '1'
    spec:
      template:
        spec:
          containers:
          - name: app
            image: example.com/app:1
            command: [/app]
          - name: proxy
            image: example.com/proxy:1
            readinessProbe:
              httpGet: {path: /ready, port: 9901}
`

const configMap = `  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: settings}
    data: {a: b}
`

// resourceList wraps items and a functionConfig spec (indented YAML, "" for
// none) in a ResourceList.
func resourceList(spec string, items ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n")
	for _, it := range items {
		b.WriteString(it)
	}
	if spec != "" {
		b.WriteString("functionConfig:\n  apiVersion: podseq.dev/v1alpha1\n  kind: Inject\n  metadata: {name: podseq}\n  spec:\n")
		b.WriteString(spec)
	}
	return b.String()
}

// decode reads a ResourceList written by Run.
func decode(t *testing.T, out string) (items []*yaml.RNode, results *yaml.RNode) {
	t.Helper()
	rw := &kio.ByteReadWriter{Reader: strings.NewReader(out)}
	items, err := rw.Read()
	if err != nil {
		t.Fatalf("output is not a ResourceList: %v\n%s", err, out)
	}
	if rw.WrappingKind != kio.ResourceListKind {
		t.Fatalf("output kind %q:\n%s", rw.WrappingKind, out)
	}
	return items, rw.Results
}

func TestRunInjects(t *testing.T) {
	in := resourceList("    after: {app: proxy}\n    timeout: 90s\n    image: registry.example/podseq:v1\n", deployment, configMap)
	var out bytes.Buffer
	oc, err := Run(strings.NewReader(in), &out, inject.Options{Image: "default/podseq:dev"})
	if err != nil {
		t.Fatal(err)
	}
	if len(oc.Warnings) != 0 {
		t.Errorf("warnings %q", oc.Warnings)
	}
	items, results := decode(t, out.String())
	if len(items) != 2 {
		t.Fatalf("%d items:\n%s", len(items), out.String())
	}
	if results != nil {
		t.Errorf("results without warnings:\n%s", results.MustString())
	}
	web := items[0].MustString()
	for _, want := range []string{
		"after.podseq.dev/app: proxy",
		"image: registry.example/podseq:v1",
		"--timeout=1m30s",
		"config.kubernetes.io/index: '0'",
		"internal.config.kubernetes.io/id: '1'",
	} {
		if !strings.Contains(web, want) {
			t.Errorf("item lacks %q:\n%s", want, web)
		}
	}
	// The proxy moved ahead of the app and holds it back with its hook.
	cs, err := items[0].Pipe(yaml.Lookup("spec", "template", "spec", "containers"))
	if err != nil {
		t.Fatal(err)
	}
	names, _ := cs.ElementValues("name")
	if strings.Join(names, ",") != "proxy,app" {
		t.Errorf("containers %v, want proxy then app", names)
	}
	if hook, _ := items[0].Pipe(yaml.Lookup("spec", "template", "spec", "containers", "[name=proxy]", "lifecycle", "postStart")); hook == nil {
		t.Errorf("proxy has no postStart hook:\n%s", web)
	}
	if got := items[1].MustString(); !strings.Contains(got, "data: {a: b}") {
		t.Errorf("the ConfigMap changed:\n%s", got)
	}
	if !strings.Contains(out.String(), "functionConfig:") {
		t.Errorf("the functionConfig is not written back:\n%s", out.String())
	}
}

func TestRunDefaultsAndUndo(t *testing.T) {
	// Without functionConfig, the items' own annotations and the defaults
	// apply: the deployment has none, so nothing changes.
	var out bytes.Buffer
	if _, err := Run(strings.NewReader(resourceList("", deployment)), &out, inject.Options{Image: "default/podseq:dev"}); err != nil {
		t.Fatal(err)
	}
	items, _ := decode(t, out.String())
	if s := items[0].MustString(); strings.Contains(s, "podseq") {
		t.Errorf("no order asked, yet:\n%s", s)
	}
	// Injected with the default image, then undone.
	out.Reset()
	if _, err := Run(strings.NewReader(resourceList("    after: {app: [proxy]}\n", deployment)), &out, inject.Options{Image: "default/podseq:dev"}); err != nil {
		t.Fatal(err)
	}
	items, _ = decode(t, out.String())
	injected := items[0].MustString()
	if !strings.Contains(injected, "image: default/podseq:dev") {
		t.Errorf("default image not used:\n%s", injected)
	}
	var again bytes.Buffer
	undo := "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- " +
		strings.ReplaceAll(strings.TrimSuffix(injected, "\n"), "\n", "\n  ") +
		"\nfunctionConfig: {apiVersion: podseq.dev/v1alpha1, kind: Inject, spec: {undo: true}}\n"
	if _, err := Run(strings.NewReader(undo), &again, inject.Options{}); err != nil {
		t.Fatal(err)
	}
	items, _ = decode(t, again.String())
	if s := items[0].MustString(); strings.Contains(s, "podseq") {
		t.Errorf("undo left podseq:\n%s", s)
	}
}

func TestRunWarnings(t *testing.T) {
	// The app has no command and the gate mode is asked for: its order
	// rests on the proxy's hook alone, which inject warns about.
	noCmd := strings.Replace(deployment, "            command: [/app]\n", "", 1)
	var out bytes.Buffer
	oc, err := Run(strings.NewReader(resourceList("    after: {app: proxy}\n    mode: gate\n", noCmd)), &out, inject.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(oc.Warnings) != 1 || !strings.Contains(oc.Warnings[0], "Deployment/web: container app") {
		t.Errorf("warnings %q", oc.Warnings)
	}
	_, results := decode(t, out.String())
	if results == nil {
		t.Fatalf("no results:\n%s", out.String())
	}
	r := results.MustString()
	if !strings.Contains(r, "severity: warning") || !strings.Contains(r, "Deployment/web: container app") {
		t.Errorf("results:\n%s", r)
	}
}

func TestRunBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		line     string // the error's text
		field    string // the error result's field, "" for none
		written  bool   // a ResourceList with the items unchanged is written
	}{
		{"unknown spec field", resourceList("    afterr: {app: proxy}\n", deployment),
			"functionConfig spec.afterr: unknown field (want after, ready, mode, image, timeout, undo)", "spec.afterr", true},
		{"bad mode", resourceList("    mode: sidecar\n", deployment),
			"functionConfig spec.mode: ", "spec.mode", true},
		{"bad timeout", resourceList("    timeout: soon\n", deployment),
			`functionConfig spec.timeout: "soon": want a duration such as 2m`, "spec.timeout", true},
		{"zero timeout", resourceList("    timeout: 0s\n", deployment),
			"functionConfig spec.timeout: 0s: want a positive duration", "spec.timeout", true},
		{"bad undo", resourceList("    undo: maybe\n", deployment),
			`functionConfig spec.undo: "maybe": want true or false`, "spec.undo", true},
		{"after not a map", resourceList("    after: proxy\n", deployment),
			"functionConfig spec.after: want a map of container name to value", "spec.after", true},
		{"after empty dep", resourceList("    after: {app: 'proxy,'}\n", deployment),
			"functionConfig spec.after.app: ", "spec.after.app", true},
		{"ready no target", resourceList("    ready: {proxy: []}\n", deployment),
			"functionConfig spec.ready.proxy: no target", "spec.ready.proxy", true},
		{"image list", resourceList("    image: [a, b]\n", deployment),
			"functionConfig spec.image: want a single value", "spec.image", true},
		{"wrong kind", strings.Replace(resourceList("    mode: gate\n", deployment), "kind: Inject", "kind: Injector", 1),
			`functionConfig kind: "Injector": want Inject`, "kind", true},
		{"top-level field", strings.Replace(resourceList("    mode: gate\n", deployment), "{name: podseq}\n", "{name: podseq}\n  mode: gate\n", 1),
			"functionConfig mode: unknown field (want apiVersion, kind, metadata, spec)", "mode", true},
		{"unknown container", resourceList("    after: {nobody: proxy}\n", deployment),
			"--after nobody: no pod in the input has that container", "", true},
		{"cycle", resourceList("    after: {app: proxy, proxy: app}\n", deployment),
			"Deployment/web", "", true},
		{"empty", "", "empty input: want a ResourceList", "", false},
		{"a deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
			`not a ResourceList: apiVersion "apps/v1", kind "Deployment"`, "", false},
		{"a List", "apiVersion: v1\nkind: List\nitems: []\n", `not a ResourceList: apiVersion "v1", kind "List"`, "", false},
		{"old apiVersion", "apiVersion: config.kubernetes.io/v1alpha1\nkind: ResourceList\nitems: []\n",
			"want config.kubernetes.io/v1, ResourceList", "", false},
		{"two documents", resourceList("", configMap) + "---\n" + resourceList("", configMap), "more than one document", "", false},
		{"items a map", "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: {a: b}\n", "ResourceList items: want a list", "", false},
		{"item a string", "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [x]\n", "ResourceList items[0]: want an object", "", false},
		{"not YAML", "apiVersion: [\n", "not a ResourceList: ", "", false},
		{"a list", "- a\n- b\n", "not a ResourceList: not a mapping", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := Run(strings.NewReader(tc.in), &out, inject.Options{})
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("error %v, want bad input", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, tc.line) {
				t.Errorf("error %q, want one line with %q", msg, tc.line)
			}
			if !tc.written {
				if out.Len() != 0 {
					t.Errorf("wrote:\n%s", out.String())
				}
				return
			}
			items, results := decode(t, out.String())
			if len(items) != 1 || strings.Contains(items[0].MustString(), "podseq-bin") {
				t.Errorf("items changed:\n%s", out.String())
			}
			if results == nil || len(results.Content()) != 1 {
				t.Fatalf("want one result:\n%s", out.String())
			}
			r := yaml.NewRNode(results.Content()[0])
			if sev, _ := r.GetString("severity"); sev != "error" {
				t.Errorf("severity %q", sev)
			}
			if m, _ := r.GetString("message"); !strings.Contains(m, tc.line) && !strings.Contains(msg, m) {
				t.Errorf("result message %q, error %q", m, msg)
			}
			if f, _ := r.GetString("field.path"); f != tc.field {
				t.Errorf("result field %q, want %q", f, tc.field)
			}
		})
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestRunWriteError(t *testing.T) {
	_, err := Run(strings.NewReader(resourceList("", configMap)), failWriter{}, inject.Options{})
	var we *WriteError
	if !errors.As(err, &we) || errors.Is(err, ErrBadInput) {
		t.Fatalf("error %v, want a WriteError", err)
	}
}

func FuzzRun(f *testing.F) {
	f.Add(resourceList("    after: {app: proxy}\n", deployment, configMap))
	f.Add(resourceList("    ready: {proxy: [tcp://localhost:1]}\n    mode: native\n", deployment))
	f.Add("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [{}]\n")
	f.Fuzz(func(t *testing.T, in string) {
		var out bytes.Buffer
		_, err := Run(strings.NewReader(in), &out, inject.Options{})
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error on two lines: %q", err)
		}
		if err == nil || out.Len() > 0 {
			if out.Len() == 0 {
				t.Fatal("no output and no error")
			}
			decode(t, out.String())
		}
	})
}

// TestRunItemShapes: an item the ResourceList's writer could not write
// back (not a mapping, or metadata that is not one) is bad input, said in
// one line, and nothing is written.
func TestRunItemShapes(t *testing.T) {
	for _, item := range []string{"  - metadata: 00\n", "  - metadata: [a]\n", "  - 7\n"} {
		var out bytes.Buffer
		_, err := Run(strings.NewReader("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"+item), &out, inject.Options{})
		if !errors.Is(err, ErrBadInput) || strings.Contains(err.Error(), "\n") || out.Len() != 0 {
			t.Errorf("item %q: error %v, output %q: want one bad-input line and no output", item, err, out.String())
		}
	}
}
