package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/podseq/podseq/containerlog"
	"github.com/podseq/podseq/internal/exitcode"
)

func init() {
	registerTestHelper("container-main", containerMain)
}

// containerMain plays a container's main process: PID 1 of new user, PID and
// mount namespaces, with /proc mounted for them. It runs args (podseq wait,
// as a postStart hook would be exec'd beside it) with the hook's output on
// its own stdout, then prints the hook's exit code there too. Its stderr,
// what the test reads, is the container's log.
func containerMain(args []string) int {
	if err := mountProc(); err != nil {
		fmt.Println(err)
		return 3
	}
	hook := exec.Command(args[0], args[1:]...)
	hook.Stdout, hook.Stderr = os.Stdout, os.Stdout
	err := hook.Run()
	fmt.Println("hook exit", hook.ProcessState.ExitCode(), err)
	return 0
}

// mountProc mounts a /proc of this PID namespace, in a private copy of the
// mount namespace, as a container runtime does.
func mountProc() error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := syscall.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	return nil
}

// containerAttr is a new user (root in it: us), PID and mount namespace, and
// a network namespace when net is set.
func containerAttr(net bool) *syscall.SysProcAttr {
	flags := uintptr(syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS)
	if net {
		flags |= syscall.CLONE_NEWNET
	}
	return &syscall.SysProcAttr{
		Cloneflags:  flags,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
}

// inContainer runs podseq with args beside a main process; it returns what
// the hook printed and what reached the container's log.
func inContainer(t *testing.T, args ...string) (hook, log string) {
	t.Helper()
	cmd := testHelperCommand(t, "container-main", append([]string{podseqBinary(t)}, args...)...)
	cmd.SysProcAttr = containerAttr(false)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("main process: %v\nstdout: %s\nstderr: %s", err, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

// TestWaitWritesToTheContainerLog: podseq wait exec'd beside the container's
// main process (a postStart hook) writes its result, and its failure, to its
// own stderr (kept by kubelet) and to the main process's (kubectl logs).
func TestWaitWritesToTheContainerLog(t *testing.T) {
	t.Parallel()
	ready := filepath.Join(t.TempDir(), "ready")
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	hook, log := inContainer(t, "wait", "--timeout=1m", "file://"+ready)
	if !strings.HasPrefix(hook, "podseq: ready after ") || !strings.Contains(hook, "hook exit 0") {
		t.Errorf("hook's own output %q, want its ready line and exit 0", hook)
	}
	if !strings.HasPrefix(log, "podseq wait: ready after ") || !strings.HasSuffix(log, " (1 attempt)\n") || strings.Count(log, "\n") != 1 {
		t.Errorf("container log %q, want one line \"podseq wait: ready after ... (1 attempt)\"", log)
	}

	missing := "file://" + filepath.Join(t.TempDir(), "never")
	hook, log = inContainer(t, "wait", "--timeout=300ms", "--quiet", missing)
	want := "podseq wait: not ready after 300ms: " + missing + ": "
	if !strings.HasPrefix(log, want) || !strings.Contains(hook, "hook exit 1") {
		t.Errorf("failed wait: container log %q, want %q...; hook %q", log, want, hook)
	}

	hook, log = inContainer(t, "wait", "--timeout=1m", "--container-log=false", "file://"+ready)
	if log != "" || !strings.Contains(hook, "hook exit 0") {
		t.Errorf("--container-log=false: container log %q, want nothing; hook %q", log, hook)
	}
	hook, log = inContainer(t, "wait", "--timeout=1m", "--log-format=json", "file://"+ready)
	if !strings.Contains(log, `"command":"podseq wait"`) || !strings.Contains(log, `"msg":"ready after `) {
		t.Errorf("json: container log %q; hook %q", log, hook)
	}
}

func init() {
	registerTestHelper("container-exec", containerExec)
}

// containerExec is containerMain that becomes args itself (exec: PID 1 stays
// PID 1), as a container whose entrypoint is podseq run.
func containerExec(args []string) int {
	if err := mountProc(); err != nil {
		fmt.Println(err)
		return 3
	}
	if err := loopbackUp(); err != nil {
		fmt.Println("lo up:", err)
		return 3
	}
	err := syscall.Exec(args[0], args, os.Environ())
	fmt.Println("exec:", err)
	return 3
}

// loopbackUp brings up lo in a fresh network namespace (SIOCSIFFLAGS).
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var ifr [40]byte // struct ifreq: the name, then the flags
	copy(ifr[:], "lo")
	*(*uint16)(unsafe.Pointer(&ifr[syscall.IFNAMSIZ])) = syscall.IFF_UP | syscall.IFF_LOOPBACK | syscall.IFF_RUNNING
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		return errno
	}
	return nil
}

// TestHookSeesItsSidecarDie: podseq run is a container's main process and
// its command exits 3 before it is ready, while the container's postStart
// hook, podseq wait, holds a long poll on it. The hook must say that the
// sidecar died and exit 1 before the container (and the hook with it) is
// gone, in its own output (kubelet's message) and in the container's log.
func TestHookSeesItsSidecarDie(t *testing.T) {
	t.Parallel()
	bin := podseqBinary(t)
	addr := "127.0.0.1:15780" // in a network namespace of its own
	out := filepath.Join(t.TempDir(), "hook")
	url := "http://" + addr + "/ready"
	hook := fmt.Sprintf(`(%s wait --timeout=1m %s >%s 2>&1; echo "exit $?" >>%s) & sleep 1; exit 3`, bin, url, out, out)
	cmd := testHelperCommand(t, "container-exec", bin, "run", "--listen="+addr, "--ready-after=1h", "--", "/bin/sh", "-c", hook)
	cmd.SysProcAttr = containerAttr(true)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	err := cmd.Run()
	if cmd.ProcessState.ExitCode() != 3 {
		t.Fatalf("podseq run: %v, want exit 3\n%s", err, log.String())
	}
	got, _ := os.ReadFile(out)
	want := "podseq: not ready after "
	if !strings.HasPrefix(string(got), want) || !strings.Contains(string(got), url+": the sidecar died: command exited with code 3 (") ||
		!strings.HasSuffix(string(got), "\nexit 1\n") {
		t.Errorf("the hook printed %q, want %q... the sidecar died: command exited with code 3 (N attempts), then exit 1", got, want)
	}
	if !strings.Contains(log.String(), "podseq wait: not ready after ") || !strings.Contains(log.String(), "the sidecar died: command exited with code 3") {
		t.Errorf("the container's log lacks the hook's line:\n%s", log.String())
	}
}

// TestHookFirstLineIsTheFailure: a failing podseq wait run as kubelet runs a
// postStart hook (beside the container's main process, no terminal, stdout
// and stderr captured) prints its failure line first, whatever the timeout:
// 12 s (two progress lines' worth) and the default 2 minutes (23). The
// progress lines go to the container's log.
func TestHookFirstLineIsTheFailure(t *testing.T) {
	t.Parallel()
	firstProgress := regexp.MustCompile(`(?m)^podseq wait: waiting 5(\.\d+)?s: tcp://127\.0\.0\.1:1: connection refused \(`)
	for _, tc := range []struct {
		name      string
		args      []string
		timeout   string
		wantLines int // progress lines in the container's log, one every 5 s
	}{
		{"12s", []string{"--timeout=12s"}, "12s", 2},
		{"default", nil, "2m0s", 23},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{"wait"}, tc.args...), "tcp://127.0.0.1:1")
			hook, log := inContainer(t, args...)
			lines := stderrLines(hook)
			first := "podseq: not ready after " + tc.timeout + ": tcp://127.0.0.1:1: connection refused ("
			if len(lines) < 2 || !strings.HasPrefix(lines[0], first) || !strings.HasPrefix(lines[len(lines)-1], "hook exit 1 ") {
				t.Fatalf("the hook's captured output:\n%s\nwant its first line %q..., then exit 1", hook, first)
			}
			if strings.Contains(hook, "waiting ") {
				t.Errorf("the hook's captured output holds progress lines:\n%s", hook)
			}
			progress := strings.Count(log, "podseq wait: waiting ")
			if progress != tc.wantLines || !firstProgress.MatchString(log) ||
				!strings.Contains(log, "podseq wait: "+strings.TrimPrefix(lines[0], "podseq: ")) {
				t.Errorf("the container's log:\n%s\nwant %d progress lines from 5s on, then the failure line; got %d", log, tc.wantLines, progress)
			}
		})
	}
}

// Where the progress lines of podseq wait go: never first in what kubelet
// captures of a hook, always where someone watches or the container's log is.
func TestProgressOnStderr(t *testing.T) {
	t.Parallel()
	other := errors.New("process 1 is in another mount namespace")
	for _, tc := range []struct {
		name     string
		terminal bool
		logErr   error
		inPod    bool
		want     bool
	}{
		{"a hook (beside the main process)", false, nil, true, false},
		{"a hook, in a terminal (kubectl exec -t)", true, nil, true, true},
		{"an init container (the main process)", false, containerlog.ErrMain, true, true},
		{"stderr is the main process's", false, containerlog.ErrSame, true, true},
		{"in a pod, the container's log out of reach", false, other, true, false},
		{"outside a pod (a script, CI)", false, other, false, true},
		{"outside a pod, in a terminal", true, other, false, true},
	} {
		if got := progressOnStderr(tc.terminal, tc.logErr, tc.inPod); got != tc.want {
			t.Errorf("%s: progress on stderr %v, want %v", tc.name, got, tc.want)
		}
	}
}

// openPTY opens a pseudo-terminal: its controlling side, and the terminal a
// process writes to.
func openPTY(t *testing.T) (control, term *os.File) {
	t.Helper()
	control, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { control.Close() })
	var unlock int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, control.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Fatalf("unlockpt: %v", errno)
	}
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, control.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatalf("ptsname: %v", errno)
	}
	term, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { term.Close() })
	return control, term
}

// In a pod (KUBERNETES_SERVICE_HOST) where the container's log is out of
// reach, a failing wait whose output is captured prints no progress line
// before its failure line; the same wait at a terminal (kubectl exec -t)
// shows its progress there.
func TestProgressAtATerminalOnly(t *testing.T) {
	t.Parallel()
	bin := podseqBinary(t)
	env := append(os.Environ(), "KUBERNETES_SERVICE_HOST=10.0.0.1", "PODSEQ_CONTAINER_LOG=false")
	args := []string{"wait", "--timeout=6s", "tcp://127.0.0.1:1"}
	first := "podseq: not ready after 6s: tcp://127.0.0.1:1: connection refused ("
	t.Run("captured", func(t *testing.T) {
		t.Parallel()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		_ = cmd.Run()
		if lines := stderrLines(out.String()); cmd.ProcessState.ExitCode() != exitcode.NotReady || len(lines) == 0 || !strings.HasPrefix(lines[0], first) || strings.Contains(out.String(), "waiting ") {
			t.Errorf("captured output:\n%s\nwant %q... first, and no progress line", out.String(), first)
		}
	})
	t.Run("terminal", func(t *testing.T) {
		t.Parallel()
		control, term := openPTY(t)
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = term, term
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		term.Close() // the child holds it: the controlling side reads EIO once it exited
		var out bytes.Buffer
		_, _ = io.Copy(&out, control)
		_ = cmd.Wait()
		text := strings.ReplaceAll(out.String(), "\r\n", "\n")
		// Then the pod IP hint: in a pod, a loopback target refused.
		if lines := stderrLines(text); len(lines) < 2 || !strings.HasPrefix(lines[0], "podseq: waiting 5") || !strings.HasPrefix(lines[1], first) {
			t.Errorf("at a terminal:\n%s\nwant a progress line, then the failure line", text)
		}
	})
}
