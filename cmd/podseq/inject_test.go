package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podseq/podseq/internal/exitcode"
)

// TestInjectRunsKubectlPodseq: podseq inject is kubectl-podseq inject, found
// next to the podseq executable; without it, one line says what to install.
func TestInjectRunsKubectlPodseq(t *testing.T) {
	t.Parallel()
	dir, self := podseqAlone(t)
	in := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - {name: app, image: a, command: [/app]}\n  - {name: proxy, image: p, readinessProbe: {tcpSocket: {port: 1080}}}\n"

	cmd := exec.Command(self, "inject", "-f", "-", "--after", "app=proxy")
	cmd.Env = []string{"PATH=/nonexistent"}
	cmd.Stdin = strings.NewReader(in)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != exitcode.Usage || out.Len() != 0 ||
		!strings.HasPrefix(errb.String(), "podseq inject: inject is the command kubectl-podseq, which is neither next to podseq nor on $PATH") {
		t.Fatalf("without kubectl-podseq: exit %d (%v), stdout %q, stderr %q", code, err, out.String(), errb.String())
	}

	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "kubectl-podseq"), "../kubectl-podseq")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	cmd = exec.Command(self, "inject", "-f", "-", "--after", "app=proxy")
	cmd.Env = []string{"PATH=/nonexistent"}
	cmd.Stdin = strings.NewReader(in)
	out.Reset()
	errb.Reset()
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("podseq inject: %v, stderr %q", err, errb.String())
	}
	if want := "command: [/podseq-bin/podseq, wait, --timeout=2m, 'tcp://localhost:1080', --, /app]"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
}

// TestInjectPassesArgumentsOnce: podseq inject hands kubectl-podseq its
// arguments as given, "--" and what follows once.
func TestInjectPassesArgumentsOnce(t *testing.T) {
	t.Parallel()
	dir, self := podseqAlone(t)
	if err := os.WriteFile(filepath.Join(dir, "kubectl-podseq"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(self, "inject", "-f", "-", "--", "app", "--flag").Output()
	if err != nil {
		t.Fatalf("podseq inject: %v", err)
	}
	if got, want := string(out), "inject\n-f\n-\n--\napp\n--flag\n"; got != want {
		t.Errorf("kubectl-podseq got arguments %q, want %q", got, want)
	}
}

// podseqAlone copies the podseq binary into a directory of its own, where a
// kubectl-podseq beside it is the test's to place, and returns both paths.
func podseqAlone(t *testing.T) (dir, self string) {
	t.Helper()
	dir = t.TempDir()
	self = filepath.Join(dir, "podseq")
	// A hard link, where it can be made: a copy written here is open for
	// writing while parallel tests fork, and a child that inherited that
	// descriptor until its exec makes ours fail with "text file busy".
	if err := os.Link(podseqBinary(t), self); err == nil {
		return dir, self
	}
	b, err := os.ReadFile(podseqBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(self, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, self
}
