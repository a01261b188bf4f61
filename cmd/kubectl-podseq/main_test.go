package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/podseq/podseq/inject"
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
		// Worded as podseq's own usage errors (internal/cliexit.UsageError).
		{"one-letter unknown flag", "", []string{"inject", "-x"}, "podseq inject: unknown flag -x (see podseq inject --help)"},
		{"bad duration", "", []string{"inject", "--timeout=5"}, `podseq inject: --timeout "5": want a duration such as 500ms, 5s or 2m (see podseq inject --help)`},
		{"bad boolean", "", []string{"inject", "--undo=maybe"}, `podseq inject: --undo="maybe": want true or false (see podseq inject --help)`},
		{"bad mode", deployment, []string{"inject", "-f", "-", "--mode", "fast"}, `podseq inject: --mode: unknown mode "fast"`},
		{"bad delivery", deployment, []string{"inject", "-f", "-", "--delivery", "volume"}, `podseq inject: --delivery: unknown delivery "volume": want init-container or image-volume`},
		{"empty delivery", deployment, []string{"inject", "-f", "-", "--delivery="}, `podseq inject: --delivery: unknown delivery ""`},
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

// TestInjectWarning: a hook-only gate (gate mode asked for, app without
// command) is reported on stderr, once; by default the same app gets a
// native sidecar, and the one line says what that needs.
func TestInjectWarning(t *testing.T) {
	t.Parallel()
	in := strings.Replace(deployment, "        command: [/app]\n", "", 1)
	code, out, stderr := runInject(t, in, "inject", "-f", "-", "--after", "app=proxy", "--mode", "gate")
	if code != 0 || out == "" {
		t.Fatalf("exit %d", code)
	}
	if want := "podseq inject: warning: Deployment/web: container app: no command in the manifest and proxy can only be held by its postStart hook"; !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one line starting %q", stderr, want)
	}
	code, out, stderr = runInject(t, in, "inject", "-f", "-", "--after", "app=proxy")
	if code != 0 || !strings.Contains(out, "startupProbe:") {
		t.Fatalf("exit %d, output without a startupProbe:\n%s", code, out)
	}
	if want := "podseq inject: warning: " + inject.NativeSidecarsNeed + "\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
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
	helpGolden(t, "testdata/inject-help.txt", "TestHelp", "inject", "--help")
}

// helpGolden checks that kubectl-podseq args prints the text of golden on
// stdout and nothing else, or rewrites golden with -update; rerun names the
// test to run again.
func helpGolden(t *testing.T, golden, rerun string, args ...string) {
	t.Helper()
	code, out, stderr := runInject(t, "", args...)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
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
		t.Errorf("help differs from %s at line %d:\n  want: %s\n  got:  %s\n(go test ./cmd/kubectl-podseq -run %s -update)", golden, n, w, g, rerun)
	}
}

// TestMain runs main when the test binary is started as the command (by
// TestInjectStdoutClosed).
func TestMain(m *testing.M) {
	if os.Getenv("PODSEQ_TEST_RUN_MAIN") == "1" {
		main()
	}
	code := m.Run()
	if builtDir != "" {
		_ = os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// TestInjectStdoutClosed: with standard output closed, inject exits 1 with
// one line, and writes nothing; output redirected to /dev/null is fine.
func TestInjectStdoutClosed(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		redirect string
		code     int
		stderr   string
	}{
		{">&-", 1, "podseq inject: standard output is closed: the output would be lost\n"},
		{">/dev/null", 0, ""},
	} {
		cmd := exec.Command("/bin/sh", "-c", `exec "$0" inject -f - --after app=proxy `+tc.redirect, self)
		cmd.Env = append(os.Environ(), "PODSEQ_TEST_RUN_MAIN=1")
		cmd.Stdin = strings.NewReader(deployment)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || errb.String() != tc.stderr {
			t.Errorf("stdout %s: exit %d, stderr %q; want exit %d, stderr %q", tc.redirect, code, errb.String(), tc.code, tc.stderr)
		}
	}
}

// TestStampedImage builds kubectl-podseq as hack/build.sh stamps it and
// checks the version it prints and the image its inject writes by default:
// a release build writes its own release image, a build between releases
// podseq:dev, and its --help says why.
func TestStampedImage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct{ stamp, image, help string }{
		{"v9.8.7", "ghcr.io/podseq/podseq:v9.8.7", "the image of this release, v9.8.7"},
		{"v9.8.7-3-gabc1234", "podseq:dev", "this dev build (v9.8.7-3-gabc1234) writes podseq:dev"},
	} {
		bin := filepath.Join(dir, "kubectl-podseq-"+c.stamp)
		build := exec.Command("go", "build", "-trimpath", "-ldflags", "-X github.com/podseq/podseq/internal/version.stamped="+c.stamp, "-o", bin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "--version").Output()
		if err != nil || string(out) != "kubectl-podseq version "+c.stamp+"\n" {
			t.Errorf("%s --version: %q, %v", c.stamp, out, err)
		}
		cmd := exec.Command(bin, "inject", "-f", "-", "--after", "app=proxy")
		cmd.Stdin = strings.NewReader(deployment)
		out, err = cmd.Output()
		if err != nil || !strings.Contains(string(out), "image: "+c.image+"\n") {
			t.Errorf("%s: inject: %v, want image: %s in:\n%s", c.stamp, err, c.image, out)
		}
		out, err = exec.Command(bin, "inject", "--help").Output()
		if err != nil || !strings.Contains(string(out), c.help) || !strings.Contains(string(out), `(default: "`+c.image+`")`) {
			t.Errorf("%s: inject --help: %v, want %q and the default %s in:\n%s", c.stamp, err, c.help, c.image, out)
		}
	}
}

// TestInjectKustomizeBase: a file of a kustomize directory (a base, maybe)
// is injected with a warning that inject runs after kustomize build; so is
// an input that holds a Kustomization; a file elsewhere gets none.
func TestInjectKustomizeBase(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	f := filepath.Join(base, "deployment.yaml")
	if err := os.WriteFile(f, []byte(deployment), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runInject(t, "", "inject", "-f", f, "--after=app=proxy")
	if code != 0 || stderr != "" {
		t.Fatalf("outside a kustomize directory: exit %d, stderr %q", code, stderr)
	}
	if err := os.WriteFile(filepath.Join(base, "kustomization.yaml"), []byte("resources: [deployment.yaml]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runInject(t, "", "inject", "-f", f, "--after=app=proxy")
	want := "podseq inject: warning: " + filepath.Join(base, "kustomization.yaml") + " lists the input file's directory as a kustomization: inject runs after kustomize build"
	if code != 0 || out == "" || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("in a kustomize directory: exit %d, stderr %q, want one line starting %q", code, stderr, want)
	}
	kust := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nmetadata: {name: base}\nresources: [deployment.yaml]\n---\n" + deployment
	code, _, stderr = runInject(t, kust, "inject", "-f", "-", "--after=app=proxy")
	want = "podseq inject: warning: Kustomization/base: a kustomization in the input: inject runs after kustomize build"
	if code != 0 || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("a Kustomization in the input: exit %d, stderr %q, want one line starting %q", code, stderr, want)
	}
}
