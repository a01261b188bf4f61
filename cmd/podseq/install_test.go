package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/podseq/podseq/internal/exitcode"
)

// runInstall runs `podseq install ARGS...` in-process.
func runInstall(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"podseq", "install"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestInstallCommand(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	code, stdout, stderr := runInstall(t, dir)
	dst := filepath.Join(dir, "podseq")
	if code != 0 || stdout != "" || stderr != fmt.Sprintf("podseq: installed %s (%d bytes)\n", dst, len(want)) {
		t.Fatalf("got exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o755 || !bytes.Equal(got, want) {
		t.Errorf("%s: mode %v, same content %v; want 0755 and the executable's content", dst, fi.Mode(), bytes.Equal(got, want))
	}

	// Again, over the existing copy, quietly, with the name from the environment.
	t.Setenv("PODSEQ_INSTALL_NAME", "waiter")
	code, stdout, stderr = runInstall(t, "--quiet", dir)
	if code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("--quiet: got exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	t.Setenv("PODSEQ_NAME", "proxy") // podseq run's --name: not install's
	if code, _, stderr := runInstall(t, "--quiet", "--name=podseq", dir); code != 0 || stderr != "" {
		t.Fatalf("got exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "proxy")); !os.IsNotExist(err) {
		t.Errorf("PODSEQ_NAME changed install's --name: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "waiter")); err != nil {
		t.Errorf("PODSEQ_INSTALL_NAME=waiter: %v", err)
	}
	code, _, stderr = runInstall(t, "--log-format=json", "--name=again", dir)
	if code != 0 || !strings.HasPrefix(stderr, `{"time":`) || !strings.Contains(stderr, `"msg":"installed `) {
		t.Errorf("--log-format=json: got exit %d, stderr %q", code, stderr)
	}
}

func TestInstallCommandErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	busyDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(busyDir, "podseq"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		line string
	}{
		{"no dir", nil, 2, "podseq install: missing DIR: the directory to copy podseq into"},
		{"two dirs", []string{dir, dir}, 2, "podseq install: one DIR only, got 2 arguments"},
		{"command", []string{dir, "--", "sh"}, 2, "podseq install: install takes no command after --"},
		{"missing dir", []string{dir + "/gone"}, 2, "podseq install: " + dir + "/gone: no such directory (mount a volume there, such as an emptyDir)"},
		{"not a dir", []string{file}, 2, "podseq install: " + file + ": not a directory"},
		{"target is a dir", []string{busyDir}, 2, "podseq install: " + busyDir + "/podseq is a directory: remove it or choose another --name"},
		{"bad name", []string{"--name", "../x", dir}, 2, `podseq install: --name "../x": want a file name, without a slash`},
		{"empty name", []string{"--name=", dir}, 2, "podseq install: --name is empty: give the copy's file name, or leave --name out for podseq"},
		{"unknown flag", []string{"--force", dir}, 2, "podseq install: unknown flag --force (see podseq install --help)"},
		{"bad log format", []string{"--log-format=xml", dir}, 2, `podseq install: --log-format "xml": want text or json`},
		{"read-only", []string{readOnlyDir(t)}, 1, "podseq: install "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runInstall(t, c.args...)
			if code != c.code || stdout != "" || !strings.HasPrefix(stderr, c.line) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("got exit %d, stdout %q, stderr %q; want exit %d and one line starting %q", code, stdout, stderr, c.code, c.line)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%s holds %d entries, want only the file", dir, len(entries))
	}
}

// readOnlyDir returns a directory that refuses new files: a tmpfs mounted
// read-only when running as root (root ignores mode bits), else mode 0555.
func readOnlyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		return dir
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_RDONLY, "size=64k"); err != nil {
		t.Fatalf("mount a read-only tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// install --help's example is a pod that works: the hook that runs the copy
// is on the first container (kubelet holds back only the containers after
// it), and it waits on that container's own endpoint, not on a podseq run
// admin port that no container of the example serves.
func TestInstallHelpExample(t *testing.T) {
	_, stdout, _ := runInProcess("install", "--help")
	example := stdout[strings.Index(stdout, "EXAMPLE:"):strings.Index(stdout, "EXIT CODES:")]
	containers := strings.Split(example[strings.Index(example, "containers:"):], "   - name: ")[1:]
	if len(containers) < 2 {
		t.Fatalf("the example has %d regular containers, want a sidecar and an app:\n%s", len(containers), example)
	}
	if !strings.Contains(containers[0], "postStart") || !strings.Contains(containers[0], `"/podseq-bin/podseq", "wait"`) {
		t.Errorf("the first container has no postStart hook running the copy:\n%s", containers[0])
	}
	for _, c := range containers[1:] {
		if strings.Contains(c, "postStart") {
			t.Errorf("a hook on a later container holds back nothing that matters:\n%s", c)
		}
	}
	if strings.Contains(example, ":15780") && !strings.Contains(example, `"run"`) {
		t.Errorf("the example waits on podseq run's admin port, and no container runs podseq run:\n%s", example)
	}
}

// install --help says who makes the copy (the init container, not a hook),
// and every Job example of --shutdown in any --help is one that works in a
// pod: a finite --timeout, and podseq where podseq install put it.
func TestHelpCopyAndJobExamples(t *testing.T) {
	_, stdout, _ := runInProcess("install", "--help")
	words := strings.Join(strings.Fields(stdout), " ")
	if !strings.Contains(words, "The init container install-podseq makes the copy, before any other container starts") || strings.Contains(words, "the copy runs in the sidecar's own postStart hook") {
		t.Errorf("install --help does not say that the init container makes the copy:\n%s", stdout)
	}
	seen := 0
	for _, cmd := range []string{"wait", "run", "install"} {
		_, help, _ := runInProcess(cmd, "--help")
		for _, line := range strings.Split(help, "\n") {
			if !strings.Contains(line, `"--shutdown"`) {
				continue
			}
			seen++
			if !strings.Contains(line, `["/podseq-bin/podseq", "wait", "--shutdown", "--timeout=`) {
				t.Errorf("%s --help: %q, want /podseq-bin/podseq and a --timeout", cmd, strings.TrimSpace(line))
			}
		}
	}
	if seen < 2 {
		t.Errorf("%d --shutdown examples in wait and run --help, want one each", seen)
	}
}

// TestInstallNoexec: on a volume mounted noexec (a real tmpfs mounted so)
// install exits 126 with one line that says the copy cannot be executed,
// why, and what to use instead.
func TestInstallNoexec(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a noexec tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "podseq-bin")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOEXEC, "size=256m"); err != nil {
		t.Fatalf("mount a noexec tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	code, stdout, stderr := runInstall(t, dir)
	want := fmt.Sprintf("podseq: install %s/podseq: the copy cannot be executed: permission denied (%s is mounted noexec): ", dir, dir)
	if code != exitcode.CannotExec || stdout != "" || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 ||
		!strings.Contains(stderr, "podseq.dev/delivery: image-volume") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and one line starting %q that points at image-volume", code, stdout, stderr, exitcode.CannotExec, want)
	}
}
