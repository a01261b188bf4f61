package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/podseq/podseq/inject"
	"github.com/podseq/podseq/internal/flagname"
)

// TestInjectArgvParses parses every podseq command line that inject writes
// into a pod (each of its golden outputs) with this command line's own
// flags, so that renaming a flag, or inject writing one podseq does not
// have, fails here and not in a pod at run time. Both sides take the names
// from internal/flagname.
func TestInjectArgvParses(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../inject/testdata/golden/*.out.*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden outputs of inject: %v", err)
	}
	outputs := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		outputs[filepath.Base(f)] = b
	}
	// A hook that waits on an HTTPS endpoint with a header, which no golden
	// output has.
	res, err := inject.Process([]byte(httpsHookPod), inject.Options{Image: "podseq:test", After: map[string][]string{"app": {"proxy"}}})
	if err != nil {
		t.Fatal(err)
	}
	outputs["https hook"] = res.Out
	seen := map[string]bool{} // "wait --timeout", "run --listen=none", ...
	for f, out := range outputs {
		for _, argv := range podseqArgvs(t, out) {
			if err := parseOnly(argv); err != nil {
				t.Errorf("%s: podseq %q: %v", f, argv, err)
			}
			for _, a := range argv[1:] {
				if !strings.HasPrefix(a, "--") {
					continue
				}
				name, value, _ := strings.Cut(a, "=")
				seen[argv[0]+" "+name] = true
				if value == flagname.ListenNone {
					seen[argv[0]+" "+a] = true
				}
			}
			seen[argv[0]] = true
		}
	}
	// Every flag inject can write is in a golden output, so each is parsed.
	want := []string{flagname.Install}
	for _, f := range []string{flagname.Timeout, flagname.Header, flagname.ExecProbe, flagname.InsecureSkipVerify, flagname.CommandFirst} {
		want = append(want, flagname.Wait+" "+flagname.Flag(f))
	}
	for _, f := range []string{flagname.Name, flagname.Graveyard, flagname.Listen, flagname.BirthDeps, flagname.BirthTimeout,
		flagname.Header, flagname.InsecureSkipVerify, flagname.Ready, flagname.Outlive, flagname.Grace, flagname.DeathDeps} {
		want = append(want, flagname.Run+" "+flagname.Flag(f))
	}
	want = append(want, flagname.Run+" "+flagname.Arg(flagname.Listen, flagname.ListenNone))
	for _, w := range want {
		if !seen[w] {
			t.Errorf("no golden output of inject writes podseq %s: add a case to inject/testdata/golden", w)
		}
	}
}

// httpsHookPod is a pod whose sidecar's readiness is an HTTPS endpoint with
// a header: inject's hook waits with --insecure-skip-verify and --header.
const httpsHookPod = `apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: proxy
    image: proxy
    readinessProbe:
      httpGet: {scheme: HTTPS, port: 8443, path: /ready, httpHeaders: [{name: X-Probe, value: podseq}]}
  - name: app
    image: app
    command: [/app]
`

// parseOnly runs argv through podseq's command line with every action
// replaced by one that does nothing: only the flags are parsed. It holds
// inProcess.
func parseOnly(argv []string) error {
	inProcess.Lock()
	defer inProcess.Unlock()
	var stderr bytes.Buffer
	app := newApp(io.Discard, &stderr)
	for _, c := range app.Commands {
		c.Action = func(*cli.Context) error { return nil }
	}
	if i := slices.Index(argv, "--"); i >= 0 {
		argv = argv[:i]
	}
	if err := app.Run(append([]string{"podseq"}, argv...)); err != nil {
		return err
	}
	if stderr.Len() > 0 {
		return errors.New(stderr.String())
	}
	return nil
}

// podseqArgvs returns the podseq command lines (without the executable) in
// a golden output: each list of strings that starts with inject.Bin, and the
// install init container's args.
func podseqArgvs(t *testing.T, b []byte) [][]string {
	t.Helper()
	var out [][]string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["name"] == inject.InstallContainer {
				out = append(out, strs(v["args"]))
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			if s := strs(v); len(s) > 0 && s[0] == inject.Bin {
				out = append(out, s[1:])
				return
			}
			for _, e := range v {
				walk(e)
			}
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%v in %s", err, b)
		}
		walk(doc)
	}
	return out
}

// strs returns v as a list of strings, nil if it is not one.
func strs(v any) []string {
	l, ok := v.([]any)
	if !ok {
		return nil
	}
	var s []string
	for _, e := range l {
		str, ok := e.(string)
		if !ok {
			return nil
		}
		s = append(s, str)
	}
	return s
}
