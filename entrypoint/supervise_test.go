package entrypoint

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podseq/podseq/internal/testnet"
)

// The tests in this file run the supervisor in a process of its own: its
// reaper waits for any child, which in the test process would steal the
// status of the test's other children.

func TestExitCodes(t *testing.T) {
	t.Parallel()
	// Every code is checked in the test process (TestRunExitCodes); here a
	// few, with podseq in a process of its own.
	for _, c := range []int{0, 1, 2, 126, 127, 128, 255} {
		t.Run(strconv.Itoa(c), func(t *testing.T) {
			t.Parallel()
			s := startSupervisor(t, superviseConfig{Command: helperCmd("exit", strconv.Itoa(c))})
			if got := s.wait(); got != c {
				t.Errorf("child exited %d: podseq exited %d, want %d", c, got, c)
			}
		})
	}
}

func TestSignalDeath(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGKILL, syscall.SIGUSR1,
		syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGALRM, syscall.SIGTERM} {
		t.Run(SignalName(sig), func(t *testing.T) {
			t.Parallel()
			s := startSupervisor(t, superviseConfig{Command: helperCmd("die", strconv.Itoa(int(sig)))})
			if got, want := s.wait(), 128+int(sig); got != want {
				t.Errorf("child died of %s: podseq exited %d, want %d", SignalName(sig), got, want)
			}
		})
	}
}

func TestForwardsSignals(t *testing.T) {
	t.Parallel()
	s := startSupervisor(t, superviseConfig{Command: helperCmd("trap", "child", "TERM")})
	s.expect("child ready")
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
		syscall.SIGWINCH, syscall.SIGALRM} {
		s.signal(sig)
		s.expect("child got " + SignalName(sig))
	}
	// SIGCHLD is podseq's own business: never forwarded.
	s.signal(syscall.SIGCHLD)
	s.signal(syscall.SIGTERM)
	s.expect("child got SIGTERM")
	if got := s.wait(); got != 0 {
		t.Errorf("child exited 0 on SIGTERM: podseq exited %d", got)
	}
	for _, l := range s.rest() {
		if strings.Contains(l, "SIGCHLD") {
			t.Errorf("SIGCHLD was forwarded: %q", l)
		}
	}
}

func TestForwardsSIGINT(t *testing.T) {
	t.Parallel()
	s := startSupervisor(t, superviseConfig{Command: helperCmd("trap", "child", "INT")})
	s.expect("child ready")
	s.signal(syscall.SIGINT)
	s.expect("child got SIGINT")
	if got := s.wait(); got != 0 {
		t.Errorf("podseq exited %d, want 0", got)
	}
}

func TestStopSignalReplacesSIGTERM(t *testing.T) {
	t.Parallel()
	s := startSupervisor(t, superviseConfig{Command: helperCmd("trap", "child", "QUIT,TERM"), StopSignal: int(syscall.SIGQUIT)})
	s.expect("child ready")
	s.signal(syscall.SIGTERM)
	if l := s.expect("child got"); l != "child got SIGQUIT" {
		t.Errorf("with stop signal SIGQUIT, SIGTERM reached the child as %q", l)
	}
	if got := s.wait(); got != 0 {
		t.Errorf("podseq exited %d, want 0", got)
	}
}

func TestGraceThenKill(t *testing.T) {
	t.Parallel()
	s := startSupervisor(t, superviseConfig{Command: helperCmd("trap", "child", "none"), Grace: 200 * time.Millisecond})
	s.expect("child ready")
	start := time.Now()
	s.signal(syscall.SIGTERM)
	s.expect("child got SIGTERM")
	if got := s.wait(); got != 128+int(syscall.SIGKILL) {
		t.Errorf("child ignoring SIGTERM: podseq exited %d, want 137", got)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("child killed %s after SIGTERM, before the 200ms grace", d)
	}
	if !strings.Contains(s.log.String(), "outlived the grace period") {
		t.Errorf("no warning about the kill in the log:\n%s", s.log.String())
	}
}

func TestSignalGroup(t *testing.T) {
	t.Parallel()
	for _, group := range []bool{false, true} {
		t.Run(fmt.Sprintf("group=%v", group), func(t *testing.T) {
			t.Parallel()
			s := startSupervisor(t, superviseConfig{Command: helperCmd("family", "TERM"), SignalGroup: group})
			got := map[string]bool{}
			for len(got) < 2 {
				got[s.expect("ready")[:5]] = true
			}
			s.signal(syscall.SIGUSR1)
			want := map[string]bool{"child got SIGUSR1": true}
			if group {
				want["grandchild got SIGUSR1"] = true
			}
			for len(want) > 0 {
				delete(want, s.expectFunc("the SIGUSR1 reports", func(l string) bool { return want[l] }))
			}
			// The grandchild's report, had it been signalled, comes as fast
			// as the child's: give it the time a second signal takes.
			s.signal(syscall.SIGUSR2)
			s.expectPrefix("child got SIGUSR2")
			s.signal(syscall.SIGTERM)
			if code := s.wait(); code != 0 {
				t.Errorf("podseq exited %d, want 0", code)
			}
			if !group {
				for _, l := range s.rest() {
					if strings.HasPrefix(l, "grandchild got SIGUSR") {
						t.Errorf("without --signal-group the grandchild was signalled: %q", l)
					}
				}
			}
		})
	}
}

func TestGroupKilledAfterGrace(t *testing.T) {
	t.Parallel()
	s := startSupervisor(t, superviseConfig{Command: helperCmd("family", "none"), SignalGroup: true, Grace: 100 * time.Millisecond})
	var gpid int
	for gpid == 0 {
		if l := s.expect("ready pid="); strings.HasPrefix(l, "grandchild") {
			gpid, _ = strconv.Atoi(l[strings.Index(l, "=")+1:])
		}
	}
	s.signal(syscall.SIGTERM)
	if code := s.wait(); code != 137 {
		t.Errorf("podseq exited %d, want 137", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(gpid) {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still alive 10s after its group was killed", gpid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie is dead).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

func TestReapsOrphans(t *testing.T) {
	t.Parallel()
	s := startSupervisor(t, superviseConfig{Command: helperCmd("orphan")})
	l := s.expect("adoptee")
	if code := s.wait(); code != 0 {
		t.Errorf("orphan check exited %d (%s), want 0: adopted and reaped by podseq", code, l)
	}
}

// TestOrphanCheckFails proves the orphan check can fail: a parent that is not
// a subreaper does not adopt the grandchild. That parent is a shell, not this
// test process: once another test has run a supervisor here, this process is
// a subreaper itself, and would adopt and reap the grandchild.
func TestOrphanCheckFails(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sh", "-c", `"$0"; exit $?`, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=orphan")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, _ := cmd.Output()
	if code := cmd.ProcessState.ExitCode(); code != 3 && code != 4 {
		t.Errorf("orphan check under a parent that does not reap exited %d (%s), want 3 or 4", code, out)
	}
}

func TestPID1(t *testing.T) {
	t.Parallel()
	flags := uintptr(syscall.CLONE_NEWPID)
	if os.Geteuid() != 0 {
		flags |= syscall.CLONE_NEWUSER
	}
	probe := exec.Command(os.Args[0])
	probe.Env = append(os.Environ(), helperEnv+"=exit")
	probe.Args = []string{os.Args[0], "0"}
	probe.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}
	if err := probe.Run(); err != nil {
		t.Skipf("no PID namespace for this test (%v): the subreaper tests cover the reaper", err)
	}
	s := startSupervisor(t, superviseConfig{Command: helperCmd("orphan")}, func(c *exec.Cmd) {
		c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}
	})
	l := s.expect("adoptee")
	if code := s.wait(); code != 0 {
		t.Errorf("orphan check under podseq as PID 1 exited %d (%s), want 0", code, l)
	}
	if !strings.Contains(s.log.String(), `"msg":"supervisor","pid":1}`) {
		t.Errorf("the supervisor was not PID 1:\n%s", s.log.String())
	}
	if strings.Contains(s.log.String(), "subreaper") {
		t.Errorf("PID 1 warned about the subreaper:\n%s", s.log.String())
	}
}

// TestChildSignalState: the child starts with no signal blocked or ignored,
// even when podseq itself was started with SIGHUP and SIGINT ignored (as a
// shell's background job is).
func TestChildSignalState(t *testing.T) {
	t.Parallel()
	s := startSupervisor(t, superviseConfig{Command: helperCmd("sigstate")}, func(c *exec.Cmd) {
		c.Args = []string{"/bin/sh", "-c", `trap "" HUP INT; exec "$0"`, os.Args[0]}
		c.Path = "/bin/sh"
	})
	blk, ign := s.expect("SigBlk:"), s.expect("SigIgn:")
	if code := s.wait(); code != 0 {
		t.Fatalf("podseq exited %d", code)
	}
	if f := strings.Fields(blk); strings.Trim(f[1], "0") != "" {
		t.Errorf("child's %s, want no signal", blk)
	}
	// Signals ignored before the test began (GNU make, for one, starts its
	// recipes with glibc's internal signals 32 and 33 ignored) pass through
	// exec untouched, as they would through any process; podseq must add
	// none, and the SIGHUP and SIGINT it was started with ignored must reach
	// the child at their defaults.
	inherited := sigMask(t, "SigIgn:", mustReadFile(t, "/proc/self/status"))
	got := sigMask(t, "SigIgn:", ign)
	if extra := got &^ inherited; extra != 0 || got&(1<<(syscall.SIGHUP-1)|1<<(syscall.SIGINT-1)) != 0 {
		t.Errorf("child's %s, want nothing beyond the test's own ignored signals (%016x)", ign, inherited)
	}
}

// sigMask reads a signal mask line such as "SigIgn:\t0000000000000004" out
// of text from /proc/PID/status.
func sigMask(t *testing.T, key, text string) uint64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			m, err := strconv.ParseUint(f[1], 16, 64)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			return m
		}
	}
	t.Fatalf("no %s in %q", key, text)
	return 0
}

func mustReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCannotStart(t *testing.T) {
	t.Parallel()
	notExec := t.TempDir() + "/not-executable"
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		command []string
		code    int
		line    string
	}{
		{"not found", []string{"podseq-no-such-command"}, 127, "podseq run: command not found: podseq-no-such-command"},
		{"no such path", []string{"/nonexistent/cmd"}, 127, "podseq run: command not found: /nonexistent/cmd"},
		{"not executable", []string{notExec}, 126, "podseq run: cannot execute " + notExec + ": permission denied"},
		{"directory", []string{t.TempDir()}, 126, "podseq run: cannot execute"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := startSupervisor(t, superviseConfig{Command: c.command})
			if got := s.wait(); got != c.code {
				t.Errorf("podseq exited %d, want %d", got, c.code)
			}
			if !strings.Contains(s.log.String(), c.line) {
				t.Errorf("log lacks %q:\n%s", c.line, s.log.String())
			}
		})
	}
}

func TestFrontsServer(t *testing.T) {
	t.Parallel()
	addr := testnet.Reserve(t)
	s := startSupervisor(t, superviseConfig{
		Command: helperCmd("server", "300ms", addr),
		Ready:   []string{"http://" + addr + "/"},
	})
	admin := "http://" + s.addr()
	resp, err := http.Get(admin + "/ready?wait=20s")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("long poll: %s %s, want 200", resp.Status, body)
	}
	s.signal(syscall.SIGTERM)
	if code := s.wait(); code != 0 {
		t.Errorf("server stopped by SIGTERM exited 0: podseq exited %d", code)
	}
}
