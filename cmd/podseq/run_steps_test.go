package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/tombstone"
)

// step starts `podseq run --name NAME --graveyard DIR [--after AFTER] [extra]
// -- sh -c SCRIPT`, exactly as the steps' contract writes it: no --listen
// (steps bind no fixed port). -q keeps stderr to podseq's one line.
func step(t *testing.T, dir, name, after, script string, extra ...string) *proc {
	t.Helper()
	args := []string{"run", "-q", "--name", name, "--graveyard", dir}
	if after != "" {
		args = append(args, "--after", after)
	} else {
		args = append(args, "--listen", "127.0.0.1:0")
	}
	args = append(append(args, extra...), "--", "sh", "-c", script)
	return startPodseqArgs(t, nil, args...)
}

// TestStepsInOrder: three steps started last first run one after another;
// each finds the previous one's exit code in its environment.
func TestStepsInOrder(t *testing.T) {
	t.Parallel()
	dir, out := t.TempDir(), t.TempDir()
	record := func(n string) string {
		return `echo "$PODSEQ_STEP_A_EXIT_CODE$PODSEQ_STEP_B_EXIT_CODE" > ` + filepath.Join(out, n)
	}
	c := step(t, dir, "c", "b", record("c"))
	b := step(t, dir, "b", "a", record("b"))
	until(t, dir, "b and c waiting", func(get func(string) tombstone.Status) bool {
		return get("b").Tombstone != nil && get("c").Tombstone != nil
	})
	a := step(t, dir, "a", "", record("a"))
	for _, p := range []*proc{a, b, c} {
		if code, stderr := p.wait(t); code != 0 || stderr != "" {
			t.Fatalf("%v: exit %d, stderr %q; want 0 and nothing", p.cmd.Args, code, stderr)
		}
	}
	ta, tb, tc := readTombstone(t, dir, "a"), readTombstone(t, dir, "b"), readTombstone(t, dir, "c")
	if !tb.Born.After(ta.Died) || !tc.Born.After(tb.Died) {
		t.Errorf("a died %s, b born %s, b died %s, c born %s: want one after another", ta.Died, tb.Born, tb.Died, tc.Born)
	}
	if strings.Join(tc.After, ",") != "b" || tc.State != tombstone.Died || tc.ExitCode != 0 {
		t.Errorf("c's tombstone: %+v", tc)
	}
	for n, want := range map[string]string{"a": "\n", "b": "0\n", "c": "0\n"} {
		if got, err := os.ReadFile(filepath.Join(out, n)); err != nil || string(got) != want {
			t.Errorf("%s saw the exit codes %q, %v; want %q", n, got, err, want)
		}
	}
}

// TestStepsFailureCascade: a failing middle step skips every later step at
// once, each with one line naming the failed step and its code, exit 125,
// and a skipped tombstone; their commands never run.
func TestStepsFailureCascade(t *testing.T) {
	t.Parallel()
	dir, out := t.TempDir(), t.TempDir()
	marker := filepath.Join(out, "ran")
	d := step(t, dir, "d", "c", "touch "+marker)
	c := step(t, dir, "c", "b", "touch "+marker, "--termination-log", filepath.Join(out, "c.msg"))
	b := step(t, dir, "b", "a", "exit 3", "--termination-log", filepath.Join(out, "b.msg"))
	a := step(t, dir, "a", "", "exit 0")
	if code, stderr := a.wait(t); code != 0 {
		t.Fatalf("a: exit %d\n%s", code, stderr)
	}
	if code, stderr := b.wait(t); code != 3 || stderr != "" {
		t.Errorf("b: exit %d, stderr %q; want its command's 3", code, stderr)
	}
	for _, tc := range []struct {
		p    *proc
		want string
	}{
		{c, "podseq run: skipped: step b exited with code 3\n"},
		{d, "podseq run: skipped: step c was skipped: step b exited with code 3\n"},
	} {
		if code, stderr := tc.p.wait(t); code != exitcode.Skipped || stderr != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want 125 and %q", tc.p.cmd.Args, code, stderr, tc.want)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a step after the failed one ran")
	}
	tb := readTombstone(t, dir, "b")
	for _, n := range []string{"c", "d"} {
		ts := readTombstone(t, dir, n)
		if ts.State != tombstone.Skipped || ts.FailedStep != "b" || ts.FailedExitCode != 3 || ts.ExitCode != exitcode.Skipped || !ts.Born.IsZero() {
			t.Errorf("%s's tombstone: %+v; want skipped by b (3)", n, ts)
		}
		// At once: the skip follows b's death, it does not wait for a rescan.
		if lag := ts.Skipped.Sub(tb.Died); lag < 0 || lag > 10*time.Second {
			t.Errorf("%s skipped %s after b died", n, lag)
		}
	}
	for n, want := range map[string]string{"b": "b: failed: exited with code 3 after ", "c": "c: skipped: step b exited with code 3"} {
		got, err := os.ReadFile(filepath.Join(out, n+".msg"))
		if err != nil || !strings.HasPrefix(string(got), want) {
			t.Errorf("%s's termination message %q, %v; want %q", n, got, err, want)
		}
	}
}

// TestStepsKilledStep: SIGKILL of a step's podseq run (as the OOM killer or
// a kubelet would kill the container) leaves a tombstone that says ready;
// the released flock tells, and the next step is skipped, not hung.
func TestStepsKilledStep(t *testing.T) {
	t.Parallel()
	dir, out := t.TempDir(), t.TempDir()
	pidFile := filepath.Join(out, "pid")
	a := step(t, dir, "a", "", "echo $$ > "+pidFile+"; exec sleep 60")
	b := step(t, dir, "b", "a", "touch "+filepath.Join(out, "ran"))
	until(t, dir, "a running", func(get func(string) tombstone.Status) bool { return get("a").IsReady() })
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Its child is orphaned; in a container it dies with podseq.
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	want := "podseq run: skipped: step a was killed before it recorded an exit code (SIGKILL or OOM)\n"
	if code, stderr := b.wait(t); code != exitcode.Skipped || stderr != want {
		t.Errorf("b: exit %d, stderr %q; want 125 and %q", code, stderr, want)
	}
	if ta := readTombstone(t, dir, "a"); ta.State != tombstone.Ready {
		t.Errorf("a's tombstone says %s: the killed podseq wrote nothing more", ta.State)
	}
	if tb := readTombstone(t, dir, "b"); tb.State != tombstone.Skipped || tb.FailedStep != "a" || tb.FailedExitCode != -1 {
		t.Errorf("b's tombstone: %+v", tb)
	}
}

// TestStepsTimeout: a step past --step-timeout is stopped, exits 124, and
// the next step is skipped with that code.
func TestStepsTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := step(t, dir, "a", "", "exec sleep 60", "--step-timeout", "500ms")
	b := step(t, dir, "b", "a", "true")
	code, stderr := a.wait(t)
	if code != exitcode.TimedOut || stderr != "podseq run: timed out after 500ms: the command was stopped (killed by SIGTERM)\n" {
		t.Errorf("a: exit %d, stderr %q; want 124 and the time limit", code, stderr)
	}
	if code, stderr := b.wait(t); code != exitcode.Skipped || stderr != "podseq run: skipped: step a exited with code 124\n" {
		t.Errorf("b: exit %d, stderr %q", code, stderr)
	}
	if ta := readTombstone(t, dir, "a"); ta.ExitCode != exitcode.TimedOut || ta.TimedOut != 500*time.Millisecond {
		t.Errorf("a's tombstone: %+v", ta)
	}
}

// TestStepsOnErrorContinue: a failing step under --on-error continue exits
// 0 and lets the next step run with its code in the environment.
func TestStepsOnErrorContinue(t *testing.T) {
	t.Parallel()
	dir, out := t.TempDir(), t.TempDir()
	b := step(t, dir, "b", "a", `echo "$PODSEQ_STEP_A_EXIT_CODE" > `+filepath.Join(out, "code"))
	a := step(t, dir, "a", "", "exit 7", "--on-error", "continue")
	for _, p := range []*proc{a, b} {
		if code, stderr := p.wait(t); code != 0 || stderr != "" {
			t.Errorf("%v: exit %d, stderr %q; want 0", p.cmd.Args, code, stderr)
		}
	}
	if got, err := os.ReadFile(filepath.Join(out, "code")); err != nil || string(got) != "7\n" {
		t.Errorf("b saw %q, %v; want 7", got, err)
	}
	if ta := readTombstone(t, dir, "a"); ta.ExitCode != 7 || ta.OnError != tombstone.OnErrorContinue {
		t.Errorf("a's tombstone: %+v", ta)
	}
}

// TestStepsAfterWithBirthDeps: --after and --birth-deps in one run. The step
// starts once a exited 0 and db is ready; when a fails, it skips at once even
// though db never becomes ready (no wait for --birth-timeout).
func TestStepsAfterWithBirthDeps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := step(t, dir, "c", "a", "true", "--birth-deps", "db", "--birth-timeout", "25s")
	a := step(t, dir, "a", "", "exit 0")
	if code, stderr := a.wait(t); code != 0 {
		t.Fatalf("a: exit %d\n%s", code, stderr)
	}
	time.Sleep(100 * time.Millisecond)
	if tc := readTombstone(t, dir, "c"); tc.State != tombstone.Waiting {
		t.Fatalf("c is %s before db is ready", tc.State)
	}
	db := startPodseq(t, nil, "run", "--graveyard", dir, "--name", "db", "--ready-after", "200ms", "--", "sleep", "5")
	if code, stderr := c.wait(t); code != 0 {
		t.Fatalf("c: exit %d\n%s", code, stderr)
	}
	if tc, tdb := readTombstone(t, dir, "c"), readTombstone(t, dir, "db"); !tc.Born.After(tdb.Ready) {
		t.Errorf("c born %s, db ready %s", tc.Born, tdb.Ready)
	}
	_ = db.cmd.Process.Signal(syscall.SIGTERM)
	db.wait(t)

	dir = t.TempDir()
	start := time.Now()
	e := step(t, dir, "e", "f", "true", "--birth-deps", "nobody", "--birth-timeout", "25s")
	f := step(t, dir, "f", "", "exit 1")
	f.wait(t)
	if code, stderr := e.wait(t); code != exitcode.Skipped || stderr != "podseq run: skipped: step f exited with code 1\n" {
		t.Errorf("e: exit %d, stderr %q", code, stderr)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the skip took %s: it waited for --birth-timeout", took)
	}
}

// TestStepsAfterCycle: two steps that run after each other would both wait
// forever; the second one sees the cycle as it starts (exit 2), and the
// first ends its wait at once (exit 1).
func TestStepsAfterCycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := step(t, dir, "a", "b", "true")
	until(t, dir, "a waiting", func(get func(string) tombstone.Status) bool { return get("a").Tombstone != nil })
	b := step(t, dir, "b", "a", "true")
	if code, stderr := b.wait(t); code != exitcode.Usage || stderr != "podseq run: steps (--after) form a cycle: b -> a -> b\n" {
		t.Errorf("b: exit %d, stderr %q", code, stderr)
	}
	if code, stderr := a.wait(t); code != 1 || stderr != "podseq run: steps (--after) form a cycle: a -> b -> a\n" {
		t.Errorf("a: exit %d, stderr %q", code, stderr)
	}
}

// TestStepsAfterCycleThroughDeadStep: the step that closes a cycle records
// its death at once; a step already waiting that sees only that death still
// reports the cycle, not a skip, as it does when it sees the step waiting.
func TestStepsAfterCycleThroughDeadStep(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := step(t, dir, "a", "b", "true")
	until(t, dir, "a waiting", func(get func(string) tombstone.Status) bool { return get("a").Tombstone != nil })
	// b, written elsewhere and moved in whole: waiting after a, then dead
	// (exit 2, never born), in one change of the graveyard.
	elsewhere := t.TempDir()
	w, err := tombstone.CreateDeclared(elsewhere, "b", tombstone.Declared{After: []string{"a"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Died(exitcode.Usage, time.Now()); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.Rename(tombstone.Path(elsewhere, "b"), tombstone.Path(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if code, stderr := a.wait(t); code != 1 || stderr != "podseq run: steps (--after) form a cycle: a -> b -> a\n" {
		t.Errorf("a: exit %d, stderr %q; want 1 and the cycle", code, stderr)
	}
}

// TestStepsUsageErrors: the flags of steps that TestRunDepsUsageErrors's
// table does not cover.
func TestStepsUsageErrors(t *testing.T) {
	code, _, stderr := runInProcess("run", "--step-timeout", "1s", "--ready-after", "1s")
	if code != exitcode.Usage || !strings.Contains(stderr, "--step-timeout needs a COMMAND") {
		t.Errorf("--step-timeout without a command: exit %d, %q", code, stderr)
	}
}
