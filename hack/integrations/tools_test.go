// Package integrations proves podseq with the real tools it plugs into,
// built from their Go modules (Helm 4 and Helm 3, kustomize), and against
// an earlier podseq built from this repository's history. It is a module of
// its own so that those heavy dependencies stay out of podseq's.
package integrations

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The real tools, as go.mod's tool directives name them.
const (
	helm4Pkg     = "helm.sh/helm/v4/cmd/helm"
	helm3Pkg     = "helm.sh/helm/v3/cmd/helm"
	kustomizePkg = "sigs.k8s.io/kustomize/kustomize/v5"
)

// root is the repository's root, from this package's directory.
var root = func() string {
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return abs
}()

// binDir holds what the tests build of podseq; made once per test binary.
var binDir = sync.OnceValues(func() (string, error) {
	return os.MkdirTemp("", "podseq-integrations-")
})

func TestMain(m *testing.M) {
	code := m.Run()
	if dir, err := binDir(); err == nil {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// built memoizes one build per name across the package's tests.
type built struct {
	once sync.Once
	path string
	err  error
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*built{}
)

// once builds name with build, once per test binary, and gives its path.
func once(t testing.TB, name string, build func() (string, error)) string {
	t.Helper()
	buildsMu.Lock()
	b := builds[name]
	if b == nil {
		b = &built{}
		builds[name] = b
	}
	buildsMu.Unlock()
	b.once.Do(func() {
		start := time.Now()
		b.path, b.err = build()
		if b.err == nil {
			t.Logf("built %s in %s", name, time.Since(start).Round(10*time.Millisecond))
		}
	})
	if b.err != nil {
		t.Fatalf("build %s: %v", name, b.err)
	}
	return b.path
}

// tool gives the path of one of go.mod's tools: `go tool -n` builds it
// into the Go build cache (kept across runs) and prints where, so a warm
// run links nothing.
func tool(t testing.TB, pkg string) string {
	return once(t, pkg, func() (string, error) {
		out, err := goCmd(".", nil, "tool", "-n", pkg)
		if err != nil {
			return "", err
		}
		path := strings.TrimSpace(out)
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("go tool -n %s printed %q: %v", pkg, path, err)
		}
		return path, nil
	})
}

// podseqBin builds a command of this repository (cmd/podseq or
// cmd/kubectl-podseq) as the release does: static, trimmed.
func podseqBin(t testing.TB, cmd string) string {
	return once(t, cmd, func() (string, error) {
		dir, err := binDir()
		if err != nil {
			return "", err
		}
		out := filepath.Join(dir, "current", cmd)
		_, err = goCmd(root, []string{"CGO_ENABLED=0"}, "build", "-trimpath", "-buildvcs=false", "-o", out, "./cmd/"+cmd)
		return out, err
	})
}

// pathWith is a PATH whose first directory holds kubectl-podseq.
func pathWith(t testing.TB) string {
	return filepath.Dir(podseqBin(t, "kubectl-podseq")) + string(os.PathListSeparator) + os.Getenv("PATH")
}

// goCmd runs the go command in dir and returns its stdout.
func goCmd(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s (in %s): %v: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// result is a finished command.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs a command to its end with the environment added to the
// test's, and fails the test if it cannot start or runs past a minute.
func runCmd(t testing.TB, dir string, env []string, stdin string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s %s: still running after a minute; stderr: %s", filepath.Base(name), strings.Join(args, " "), stderr.String())
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}
