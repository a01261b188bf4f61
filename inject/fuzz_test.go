package inject

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// FuzzInject checks, on any input that inject accepts: injecting its output
// changes nothing, undoing its output gives the input back (byte for byte
// when the input is laid out as kyaml prints it, the same objects
// otherwise), and every failure is a bad-input error. Seeds: the golden
// and bad inputs of testdata.
func FuzzInject(f *testing.F) {
	for _, dir := range []string{"testdata/golden/*.in.*", "testdata/bad/*"} {
		files, _ := filepath.Glob(dir)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
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
		if canonical(string(in)) {
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
