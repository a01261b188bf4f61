package inject

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podseq/podseq/internal/testio"
)

var update = flag.Bool("update", false, "rewrite the golden outputs in testdata/golden")

// optionsFromHeader reads a test input's options from its first line:
// "# inject: --mode=native --after=app=proxy,db --ready=proxy=URL".
func optionsFromHeader(t *testing.T, in string) Options {
	t.Helper()
	o := Options{Image: "podseq:v1.2.3"}
	first, _, _ := strings.Cut(in, "\n")
	rest, ok := strings.CutPrefix(first, "# inject:")
	if !ok {
		return o
	}
	for _, f := range strings.Fields(rest) {
		name, value, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		switch name {
		case "mode":
			m, err := ParseMode(value)
			if err != nil {
				t.Fatal(err)
			}
			o.Mode = m
		case "after", "ready":
			c, v, _ := strings.Cut(value, "=")
			var vs []string
			var err error
			if name == "after" {
				vs, err = ParseDeps(v)
			} else {
				vs, err = ParseTargets(v)
			}
			if err != nil {
				t.Fatal(err)
			}
			m := &o.After
			if name == "ready" {
				m = &o.Ready
			}
			if *m == nil {
				*m = map[string][]string{}
			}
			(*m)[c] = append((*m)[c], vs...)
		case "timeout":
			o.Timeout = value
		case "delivery":
			d, err := ParseDelivery(value)
			if err != nil {
				t.Fatal(err)
			}
			o.Delivery = d
		default:
			t.Fatalf("unknown header option %q", f)
		}
	}
	return o
}

// TestGolden injects every testdata/golden/*.in.* file and compares with
// its .out file; it also checks that injecting the output changes nothing
// and that --undo gives the input back, byte for byte.
func TestGolden(t *testing.T) {
	ins, _ := filepath.Glob("testdata/golden/*.in.*")
	if len(ins) < 10 {
		t.Fatalf("found %d golden inputs, want every kind and mode", len(ins))
	}
	for _, inPath := range ins {
		name := filepath.Base(inPath)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(inPath)
			if err != nil {
				t.Fatal(err)
			}
			o := optionsFromHeader(t, string(in))
			res, reprinted, err := process(in, o)
			if err != nil {
				t.Fatalf("inject: %v", err)
			}
			if reprinted != 0 {
				t.Errorf("%d documents printed anew instead of patched", reprinted)
			}
			got := string(res.Out)
			if len(res.Warnings) > 0 {
				got += "# warnings:\n# " + strings.Join(res.Warnings, "\n# ") + "\n"
			}
			outPath := strings.Replace(inPath, ".in.", ".out.", 1)
			if *update {
				if err := os.WriteFile(outPath, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatalf("%v (run go test ./inject -run TestGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s:\n%s", outPath, diff(string(want), got))
			}
			again, err := Process(res.Out, o)
			if err != nil {
				t.Fatalf("inject of the output: %v", err)
			}
			if string(again.Out) != string(res.Out) {
				t.Errorf("not idempotent:\n%s", diff(string(res.Out), string(again.Out)))
			}
			back, err := Process(res.Out, Options{Undo: true})
			if err != nil {
				t.Fatalf("undo: %v", err)
			}
			if string(back.Out) != string(in) {
				t.Errorf("undo does not restore the input:\n%s", diff(string(in), string(back.Out)))
			}
		})
	}
}

// TestBadInput runs every testdata/bad/*.yaml file, whose first line is
// "# want: TEXT": inject must fail with ErrBadInput, one line holding TEXT.
func TestBadInput(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*")
	if len(files) < 10 {
		t.Fatalf("found %d bad inputs", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(in), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatalf("%s: first line must be # want: TEXT", f)
			}
			o := optionsFromHeader(t, strings.SplitN(string(in), "\n", 3)[1])
			res, err := Process(in, o)
			if err == nil {
				t.Fatalf("no error; output:\n%s", res.Out)
			}
			if !errors.Is(err, ErrBadInput) {
				t.Errorf("error %v does not wrap ErrBadInput", err)
			}
			if msg := err.Error(); !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
				t.Errorf("error:\n  %s\nwant one line containing:\n  %s", msg, want)
			}
			if res != nil {
				t.Errorf("output on error: %v", res)
			}
		})
	}
}

// diff shows the first differing line of two texts.
func diff(want, got string) string {
	n, w, g := testio.FirstDiff(want, got)
	return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", n, w, g)
}

// TestLimits: a document over MaxDocBytes and an input over MaxInputBytes
// are bad input, named by where they start.
func TestLimits(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  a: "
	big := head + strings.Repeat("x", MaxDocBytes) + "\n"
	_, err := Process([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: small}\n---\n"+big), Options{})
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "document at line 5: ") || !strings.Contains(err.Error(), "the limit for one document is 2 MiB") {
		t.Errorf("document over the limit: %v", err)
	}
	// Just under the limit is fine, and copied as it is.
	ok := head + strings.Repeat("x", MaxDocBytes-len(head)-1) + "\n"
	if res, err := Process([]byte(ok), Options{}); err != nil || string(res.Out) != ok {
		t.Errorf("document of %d bytes: %v", len(ok), err)
	}
	_, err = Process(make([]byte, MaxInputBytes+1), Options{})
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "the limit is 64 MiB") {
		t.Errorf("input over the limit: %v", err)
	}
}
