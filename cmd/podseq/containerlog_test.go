package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
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
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		fmt.Println("make / private:", err)
		return 3
	}
	if err := syscall.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		fmt.Println("mount /proc:", err)
		return 3
	}
	hook := exec.Command(args[0], args[1:]...)
	hook.Stdout, hook.Stderr = os.Stdout, os.Stdout
	err := hook.Run()
	fmt.Println("hook exit", hook.ProcessState.ExitCode(), err)
	return 0
}

// inContainer runs podseq with args beside a main process; it returns what
// the hook printed and what reached the container's log.
func inContainer(t *testing.T, args ...string) (hook, log string) {
	t.Helper()
	cmd := testHelperCommand(t, "container-main", append([]string{podseqBinary(t)}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
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
