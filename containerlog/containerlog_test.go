package containerlog

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// helperEnv makes the test binary the "main process" of the tests: it says
// "ready" on stdout and waits until its stdin closes.
const helperEnv = "CONTAINERLOG_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Stdout.WriteString("ready\n")
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startMain starts the helper with stderr as its standard error and returns
// its pid once it is up.
func startMain(t *testing.T, stderr *os.File) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("helper said %q (%v)", line, err)
	}
	return cmd.Process.Pid
}

// pipeMain starts a main process whose stderr is a pipe, and opens it: it
// returns the pipe's reading end and the writer.
func pipeMain(t *testing.T) (*os.File, *Writer) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	pid := startMain(t, w)
	w.Close()
	cw, err := Open("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cw.Close() })
	return r, cw
}

func TestWritesToTheMainProcessPipe(t *testing.T) {
	r, cw := pipeMain(t)
	if _, err := cw.Write([]byte("podseq wait: ready after 1.2s (2 attempts)\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || line != "podseq wait: ready after 1.2s (2 attempts)\n" {
		t.Errorf("the main process's stderr got %q (%v)", line, err)
	}
}

func TestAppendsToAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("main: started\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	pid := startMain(t, f)
	f.Close()
	cw, err := Open("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cw.Write([]byte("hook: line\n")); err != nil {
		t.Fatal(err)
	}
	cw.Close()
	got, _ := os.ReadFile(path)
	if string(got) != "main: started\nhook: line\n" {
		t.Errorf("file holds %q, want the hook's line after the main process's", got)
	}
}

// TestFullPipeNeverBlocks: nobody reads the main process's stderr; writes
// fail with EAGAIN instead of holding the caller.
func TestFullPipeNeverBlocks(t *testing.T) {
	_, cw := pipeMain(t) // the reading end stays open, unread
	line := []byte(strings.Repeat("x", 99) + "\n")
	for i := 0; ; i++ {
		_, err := cw.Write(line)
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i > 1<<20 {
			t.Fatal("a pipe nobody reads took 100 MB")
		}
	}
}

func TestRefuses(t *testing.T) {
	if _, err := Open("/proc", os.Getpid()); !errors.Is(err, ErrMain) {
		t.Errorf("Open of ourselves = %v, want ErrMain", err)
	}
	// A main process whose stderr is ours.
	if _, err := Open("/proc", startMain(t, os.Stderr)); !errors.Is(err, ErrSame) {
		t.Errorf("Open of a process sharing our stderr = %v, want ErrSame", err)
	}
	// PID 1 of a shared PID namespace: another container's, in another
	// mount namespace (a proc tree made of symlinks, as the kernel's).
	proc := t.TempDir()
	other := os.Getpid() + 1
	for dir, ns := range map[string]string{"self": "mnt:[4026531841]", strconv.Itoa(other): "mnt:[4026532999]"} {
		if err := os.MkdirAll(filepath.Join(proc, dir, "ns"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(ns, filepath.Join(proc, dir, "ns", "mnt")); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Open(proc, other)
	if err == nil || !strings.Contains(err.Error(), "another mount namespace") || !strings.Contains(err.Error(), "shareProcessNamespace") {
		t.Errorf("Open across mount namespaces = %v", err)
	}
	if _, err := Open(proc, other+1); err == nil || !strings.Contains(err.Error(), "mount namespace of process") {
		t.Errorf("Open of a process that does not exist = %v", err)
	}
	// A main process whose stderr is a socket (reopening it would fail).
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	sock, peer := os.NewFile(uintptr(fds[0]), "sock"), os.NewFile(uintptr(fds[1]), "peer")
	defer peer.Close()
	pid := startMain(t, sock)
	sock.Close()
	if _, err := Open("/proc", pid); err == nil || !strings.Contains(err.Error(), "standard error of process "+strconv.Itoa(pid)+" is neither") {
		t.Errorf("Open of a socket stderr = %v", err)
	}
}
