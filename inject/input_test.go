package inject

import (
	"errors"
	"strings"
	"testing"
)

// TestUnparseablePassesThrough: a document that is not UTF-8, or not YAML,
// and names no podseq annotation goes through byte for byte, with one
// warning line; the rest of the stream is injected. With a podseq
// annotation it fails the stream with one line (testdata/bad).
func TestUnparseablePassesThrough(t *testing.T) {
	t.Parallel()
	const pod = `apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations:
    after.podseq.dev/app: proxy
spec:
  containers:
  - name: proxy
    image: example.com/proxy:1
    readinessProbe:
      tcpSocket:
        port: 1080
  - name: app
    image: example.com/app:1
    command: [/app]
`
	for _, tc := range []struct {
		name, doc, warning string
	}{
		{"latin-1", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\ndata:\n  text: \"caf\xe9\"\n", "document at line 1: copied as it is: line 6: not UTF-8 text (byte 0xe9)"},
		{"not YAML", "# indented with a tab\napiVersion: v1\nkind: ConfigMap\ndata:\n\tkey: value\n", "document at line 1: copied as it is: malformed YAML: line 5: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.doc + "---\n" + pod
			res, err := Process([]byte(in), Options{Image: "podseq:v1"})
			if err != nil {
				t.Fatal(err)
			}
			out := string(res.Out)
			if !strings.HasPrefix(out, tc.doc+"---\n") {
				t.Errorf("the document did not go through as it is:\n%q", out)
			}
			if !strings.Contains(out[len(tc.doc):], InjectedKey) {
				t.Errorf("the Pod after it was not injected")
			}
			if len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], tc.warning) || strings.Contains(res.Warnings[0], "\n") {
				t.Errorf("warnings %q, want one line starting %q", res.Warnings, tc.warning)
			}
			back, err := Process(res.Out, Options{Undo: true})
			if err != nil || string(back.Out) != in {
				t.Errorf("undo (%v) does not restore the input", err)
			}
			// The same document asking for an order fails the stream.
			asks := strings.Replace(tc.doc, "kind: ConfigMap\n", "kind: ConfigMap\nmetadata: {annotations: {podseq.dev/mode: gate}}\n", 1)
			_, err = Process([]byte(asks+"---\n"+pod), Options{})
			if !errors.Is(err, ErrBadInput) || !strings.HasPrefix(err.Error(), "bad input: document at line 1: ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("an unparseable document with a podseq annotation: %v", err)
			}
		})
	}
}

// TestPrintedAnewIsSaid: a document whose layout the patch cannot split
// (here its root is a flow mapping) is printed anew, with one warning line.
func TestPrintedAnewIsSaid(t *testing.T) {
	t.Parallel()
	in := "# all in flow style\n{apiVersion: v1, kind: Pod, metadata: {name: web, annotations: {after.podseq.dev/app: proxy}}, spec: {containers: [{name: proxy, image: p, readinessProbe: {tcpSocket: {port: 1080}}}, {name: app, image: a, command: [/app]}]}}\n"
	res, reprinted, err := process([]byte(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if reprinted != 1 || len(res.Warnings) != 1 || res.Warnings[0] != "document at line 1: printed anew, as kustomize prints YAML: its layout could not be patched line by line" {
		t.Errorf("printed anew %d, warnings %q", reprinted, res.Warnings)
	}
}
