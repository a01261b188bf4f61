package probes

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestExecExitCodes(t *testing.T) {
	t.Parallel()
	ok, err := NewExec(helperCommand("exit", "0"))
	if err != nil {
		t.Fatal(err)
	}
	if ok.Kind != "exec" || !ok.Local || !strings.HasPrefix(ok.Name, "exec "+os.Args[0]+" ") {
		t.Errorf("target %+v", ok)
	}
	if err := check(t, ok, 10*time.Second); err != nil {
		t.Errorf("exit 0: %v", err)
	}
	for _, code := range []int{1, 2, 42, 255} {
		tg, err := NewExec(helperCommand("exit", strconv.Itoa(code)))
		if err != nil {
			t.Fatal(err)
		}
		err = check(t, tg, 10*time.Second)
		if err == nil || err.Error() != fmt.Sprintf("exit status %d", code) {
			t.Errorf("exit %d: got %v, want exactly \"exit status %d\"", code, err, code)
		}
	}
}

// A failed command's error ends with the tail of its output, on one line.
func TestExecOutputTail(t *testing.T) {
	t.Parallel()
	tg, err := NewExec(helperCommand("fail-loud", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	err = check(t, tg, 10*time.Second)
	wantErr(t, err, "exit status 3: ", "LAST LINE", "on stderr")
	if strings.Contains(err.Error(), "noise line 0 ") || strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("error %q holds the head of the output, or a line break", err)
	}
	if len(err.Error()) > 300 {
		t.Errorf("error is %d bytes long: %q", len(err.Error()), err)
	}
}

// The command runs directly, never through a shell: shell syntax reaches it
// as plain arguments.
func TestExecNoShell(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "marker")
	// Through a shell, "; touch marker" would create it and exit 0.
	tg, err := NewExec(helperCommand("exit", "3", ";", "touch", marker))
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, check(t, tg, 10*time.Second), "exit status 3")
	if _, err := os.Stat(marker); err == nil {
		t.Error("the arguments went through a shell")
	}
}

// An attempt that outlives its timeout is killed with its whole process group
// (a grandchild that holds stdout open included), and leaves no zombie.
func TestExecKillsProcessGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pids")
	tg, err := NewExec(helperCommand("fork-and-hang", pidFile))
	if err != nil {
		t.Fatal(err)
	}
	// Give the command time to start its grandchild (a loaded machine is
	// slow to exec), then cut the attempt.
	start := time.Now()
	err = check(t, tg, 3*time.Second)
	took := time.Since(start)
	wantErr(t, err, "attempt timed out (command killed)")
	// The grandchild hangs for good and holds the output pipe: a Check that
	// waited for it would never return. The bound only tells "returned" from
	// "hung", with room for a loaded machine; the group checks below are the
	// real test.
	if took > 30*time.Second {
		t.Errorf("Check took %s with a 3s attempt timeout", took)
	}
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatalf("the helper did not start its grandchild in 3s: %v", rerr)
	}
	var child, grandchild int
	if _, err := fmt.Sscan(string(b), &child, &grandchild); err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	// The child is ours: Check must have reaped it, so it is gone, not a
	// zombie.
	if st, ok := procState(child); ok {
		t.Errorf("the command (pid %d) is still there after Check, state %s", child, st)
	}
	// The grandchild was reparented (to init or a subreaper) and killed: it
	// must be gone or dead soon. Nothing in the group may still run.
	deadline := time.Now().Add(5 * time.Second)
	for {
		alive := aliveInGroup(child)
		if len(alive) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v of the command's group still run", alive)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, ok := procState(grandchild); ok && st != "Z" && st != "X" {
		t.Errorf("grandchild %d is in state %s", grandchild, st)
	}
	// No zombie child of this test process.
	if z := zombieChildren(os.Getpid()); len(z) > 0 {
		t.Errorf("zombie children of the test: %v", z)
	}
}

// procStat reads the state, parent and process group of pid from /proc.
func procStat(pid int) (state string, ppid, pgrp int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, 0, false
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return "", 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	pgrp, _ = strconv.Atoi(f[2])
	return f[0], ppid, pgrp, true
}

func procState(pid int) (string, bool) {
	st, _, _, ok := procStat(pid)
	return st, ok
}

// allPids lists the processes in /proc.
func allPids() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// aliveInGroup lists the processes of group pgrp that are not zombies.
func aliveInGroup(pgrp int) []int {
	var alive []int
	for _, pid := range allPids() {
		if st, _, g, ok := procStat(pid); ok && g == pgrp && st != "Z" && st != "X" {
			alive = append(alive, pid)
		}
	}
	return alive
}

// zombieChildren lists the zombie children of parent.
func zombieChildren(parent int) []int {
	var z []int
	for _, pid := range allPids() {
		if st, pp, _, ok := procStat(pid); ok && pp == parent && st == "Z" {
			z = append(z, pid)
		}
	}
	return z
}

// An exec target in Wait: it turns ready when its condition does.
func TestExecInWait(t *testing.T) {
	t.Parallel()
	runs := filepath.Join(t.TempDir(), "runs")
	tg, err := NewExec(helperCommand("third", runs)) // fails twice, then succeeds
	if err != nil {
		t.Fatal(err)
	}
	r, err := waitDeadline(t, 30*time.Second, Schedule{}, tg)
	if err != nil {
		t.Fatalf("Wait: %v (%s)", err, r.Pending())
	}
	if st := r.Targets[0]; st.Attempts != 3 || st.LastErr == nil || st.LastErr.Error() != "exit status 1: not yet" {
		t.Errorf("status %+v, want 3 attempts, the last failure \"exit status 1: not yet\"", st)
	}
}
