package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/podseq/podseq/internal/testio"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
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

// inProcess serializes in-process runs: urfave/cli v2 mutates its global
// HelpFlag in every run.
var inProcess sync.Mutex

// runInject runs the command line in-process with stdin.
func runInject(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	inProcess.Lock()
	defer inProcess.Unlock()
	var out, errb bytes.Buffer
	code = run(append([]string{"kubectl-podseq"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestInjectFlags(t *testing.T) {
	t.Parallel()
	code, out, stderr := runInject(t, deployment, "inject", "-f", "-", "--after", "app=proxy", "--image", "registry.example/podseq:1.0", "--timeout", "90s")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"after.podseq.dev/app: proxy",
		"image: registry.example/podseq:1.0",
		`[/podseq-bin/podseq, wait, --timeout=1m30s, 'http://localhost:9901/ready', --, /app]`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The flags were written as annotations: inject without them is a no-op,
	// and --undo restores the input.
	code, again, _ := runInject(t, out, "inject", "-f", "-", "--image", "registry.example/podseq:1.0", "--timeout", "90s")
	if code != 0 || again != out {
		t.Errorf("inject of the output (exit %d) changed it", code)
	}
	code, back, _ := runInject(t, out, "inject", "-f", "-", "--undo")
	if code != 0 || back != deployment {
		t.Errorf("--undo (exit %d) gave:\n%s", code, back)
	}
}

func TestInjectFile(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "d.yaml")
	if err := os.WriteFile(f, []byte(deployment), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runInject(t, "", "inject", "-f", f, "--mode=native", "--after=app=proxy")
	if code != 0 || !strings.Contains(out, "restartPolicy: Always") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

// TestInjectUsage: every bad input or flag exits 2 with one line on stderr
// and nothing on stdout.
func TestInjectUsage(t *testing.T) {
	t.Parallel()
	two := deployment + "---\n" + strings.Replace(deployment, "name: web", "name: api", 1)
	cases := []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"no -f", "", []string{"inject"}, "podseq inject: missing -f FILE"},
		{"missing file", "", []string{"inject", "-f", "/nonexistent/d.yaml"}, "podseq inject: -f: /nonexistent/d.yaml: no such file or directory"},
		{"unknown flag", "", []string{"inject", "--nope"}, "podseq inject: unknown flag --nope"},
		{"bad mode", deployment, []string{"inject", "-f", "-", "--mode", "fast"}, `podseq inject: --mode: unknown mode "fast"`},
		{"bad after", deployment, []string{"inject", "-f", "-", "--after", "app"}, `podseq inject: --after "app": want CONTAINER=VALUE`},
		{"bad ready", deployment, []string{"inject", "-f", "-", "--ready", "proxy=localhost"}, `podseq inject: --ready proxy: bad target "localhost": no scheme`},
		{"unknown container", deployment, []string{"inject", "-f", "-", "--after", "web=proxy"}, "podseq inject: --after web: no pod in the input has that container"},
		{"second doc bad", two, []string{"inject", "-f", "-", "--after", "app=db"}, "podseq inject: Deployment/web: container db: after.podseq.dev/app: no such container in the pod"},
		{"argument", "", []string{"inject", "-f", "-", "extra"}, "podseq inject: no arguments"},
		{"no command", "", nil, "podseq: no command: use inject"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runInject(t, tc.stdin, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.HasPrefix(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting %q", stderr, tc.want)
			}
		})
	}
}

// TestInjectWarning: a hook-only gate is reported on stderr, once.
func TestInjectWarning(t *testing.T) {
	t.Parallel()
	in := strings.Replace(deployment, "        command: [/app]\n", "", 1)
	code, out, stderr := runInject(t, in, "inject", "-f", "-", "--after", "app=proxy")
	if code != 0 || out == "" {
		t.Fatalf("exit %d", code)
	}
	if want := "podseq inject: warning: Deployment/web: container app: no command in the manifest"; !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one line starting %q", stderr, want)
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestInjectWriteError(t *testing.T) {
	t.Parallel()
	var errb bytes.Buffer
	inProcess.Lock()
	defer inProcess.Unlock()
	code := run([]string{"kubectl-podseq", "inject", "-f", "-", "--after", "app=proxy"}, strings.NewReader(deployment), failWriter{}, &errb)
	if code != 1 || !strings.HasPrefix(errb.String(), "podseq inject: write the output:") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

var update = flag.Bool("update", false, "rewrite testdata/inject-help.txt and testdata/krm-help.txt")

// TestHelp: inject --help is the text in testdata/inject-help.txt, on stdout.
func TestHelp(t *testing.T) {
	code, out, stderr := runInject(t, "", "inject", "--help")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	const golden = "testdata/inject-help.txt"
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		n, w, g := testio.FirstDiff(string(want), out)
		t.Errorf("help differs from %s at line %d:\n  want: %s\n  got:  %s\n(go test ./cmd/kubectl-podseq -run TestHelp -update)", golden, n, w, g)
	}
}
