package entrypoint

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podseq/podseq/termination"
	"github.com/podseq/podseq/tombstone"
)

// stepWriter is a step's podseq run in a process of its own: it takes NAME's
// tombstone (and its flock), records a birth and holds until killed.
func stepWriter(dir, name string) int {
	w, err := tombstone.CreateDeclared(dir, name, tombstone.Declared{}, time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 95
	}
	if err := w.Born(os.Getpid(), time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 95
	}
	time.Sleep(time.Hour)
	return 94
}

func TestJudgeAfter(t *testing.T) {
	t.Parallel()
	died := func(code int, onError string) tombstone.Status {
		return tombstone.Status{Name: "a", Tombstone: &tombstone.Tombstone{Name: "a", State: tombstone.Died, ExitCode: code, OnError: onError}}
	}
	for name, tc := range map[string]struct {
		s          tombstone.Status
		want       afterOutcome
		step, line string
	}{
		"no tombstone":      {tombstone.Status{Name: "a", Err: tombstone.ErrNoTombstone}, afterPending, "", ""},
		"waiting":           {tombstone.Status{Name: "a", Tombstone: &tombstone.Tombstone{State: tombstone.Waiting}}, afterPending, "", ""},
		"running":           {tombstone.Status{Name: "a", Tombstone: &tombstone.Tombstone{State: tombstone.Ready}}, afterPending, "", ""},
		"exited 0":          {died(0, ""), afterSucceeded, "", ""},
		"failed":            {died(3, ""), afterFailed, "a", "skipped: step a exited with code 3"},
		"failed, continue":  {died(3, tombstone.OnErrorContinue), afterSucceeded, "", ""},
		"killed by signal":  {died(137, ""), afterFailed, "a", "skipped: step a exited with code 137"},
		"gone":              {tombstone.Status{Name: "a", Tombstone: &tombstone.Tombstone{State: tombstone.Born}, Gone: true}, afterFailed, "a", "skipped: step a was killed before it recorded an exit code (SIGKILL or OOM)"},
		"gone, continue":    {tombstone.Status{Name: "a", Tombstone: &tombstone.Tombstone{State: tombstone.Born, OnError: tombstone.OnErrorContinue}, Gone: true}, afterFailed, "a", "skipped: step a was killed"},
		"skipped in turn":   {tombstone.Status{Name: "b", Tombstone: &tombstone.Tombstone{State: tombstone.Skipped, FailedStep: "a", FailedExitCode: 2}}, afterFailed, "a", "skipped: step b was skipped: step a exited with code 2"},
		"skipped by killed": {tombstone.Status{Name: "b", Tombstone: &tombstone.Tombstone{State: tombstone.Skipped, FailedStep: "a", FailedExitCode: -1}}, afterFailed, "a", "skipped: step b was skipped: step a was killed"},
	} {
		got, fail := judgeAfter(tc.s)
		if got != tc.want || (fail == nil) != (tc.step == "") {
			t.Errorf("%s: judgeAfter = %v, %v; want %v", name, got, fail, tc.want)
			continue
		}
		if fail != nil && (fail.FailedStep != tc.step || !strings.HasPrefix(fail.Error(), tc.line) || fail.ExitCode() != ExitSkipped) {
			t.Errorf("%s: %+v %q, want step %s and %q", name, fail, fail.Error(), tc.step, tc.line)
		}
	}
}

func TestExitCodeEnv(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{"a": "PODSEQ_STEP_A_EXIT_CODE", "build-image": "PODSEQ_STEP_BUILD_IMAGE_EXIT_CODE", "0x": "PODSEQ_STEP_0X_EXIT_CODE"} {
		if got := ExitCodeEnv(name); got != want {
			t.Errorf("ExitCodeEnv(%s) = %s, want %s", name, got, want)
		}
	}
}

// startStep applies o to cfg and starts Run in this process.
func startStep(t *testing.T, o Ordering, cfg Config) *running {
	t.Helper()
	if err := o.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	return startRun(t, context.Background(), cfg)
}

func readMessage(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > termination.MaxMessage+1 || !strings.HasSuffix(string(b), "\n") || strings.Count(string(b), "\n") != 1 {
		t.Errorf("termination message %q: want one line of at most %d bytes", b, termination.MaxMessage)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// TestStepTimeout: a real child that would sleep for an hour is stopped at
// its time limit; Run returns 124, the tombstone and the termination message
// say it timed out.
func TestStepTimeout(t *testing.T) {
	dir := t.TempDir()
	msg := filepath.Join(t.TempDir(), "termination-log")
	r := startStep(t, Ordering{Name: "slow", Graveyard: dir, TerminationLog: msg, CreateTerminationLog: true},
		Config{Command: helperCmd("sleep"), Timeout: 300 * time.Millisecond, Grace: 10 * time.Second})
	code, err := r.wait()
	if code != ExitTimedOut || err == nil || !strings.HasPrefix(err.Error(), "timed out after 300ms: the command was stopped (killed by SIGTERM)") {
		t.Fatalf("Run = %d, %v; want 124 and the time limit", code, err)
	}
	ts, err := tombstone.Read(dir, "slow")
	if err != nil {
		t.Fatal(err)
	}
	if ts.State != tombstone.Died || ts.ExitCode != ExitTimedOut || ts.TimedOut != 300*time.Millisecond || ts.Born.IsZero() {
		t.Errorf("tombstone %+v: want died, 124, timed-out 300ms", ts)
	}
	if got, want := readMessage(t, msg), "slow: failed: timed out after 300ms, stopped (exit code 124)"; got != want {
		t.Errorf("termination message %q, want %q", got, want)
	}
}

// TestStepAfterKilledWriter: the step this one runs after is a real process
// holding its tombstone's flock; SIGKILL leaves its tombstone saying born, and
// only the released flock tells. The waiting step is skipped and its command
// never runs.
func TestStepAfterKilledWriter(t *testing.T) {
	dir := t.TempDir()
	writer := exec.Command(os.Args[0])
	writer.Env = append(os.Environ(), helperEnv+"=step-writer")
	writer.Args = append(writer.Args, dir, "build")
	if err := writer.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = writer.Wait(); close(waited) }()
	defer func() { _ = writer.Process.Kill(); <-waited }()
	deadline := time.Now().Add(30 * time.Second)
	for s := tombstone.Get(dir, "build"); s.Tombstone == nil || s.Tombstone.State != tombstone.Born; s = tombstone.Get(dir, "build") {
		if time.Now().After(deadline) {
			t.Fatalf("the writer never recorded its birth: %s", s.Reason())
		}
		time.Sleep(5 * time.Millisecond)
	}
	marker := filepath.Join(t.TempDir(), "ran")
	r := startStep(t, Ordering{Name: "test", Graveyard: dir, After: []string{"build"}},
		Config{Command: helperCmd("envfile", marker, "PATH")})
	// The step waits for build while build lives.
	time.Sleep(200 * time.Millisecond)
	if ts, _ := tombstone.Read(dir, "test"); ts == nil || ts.State != tombstone.Waiting {
		t.Fatalf("test's tombstone %+v: want waiting while build runs", ts)
	}
	if err := writer.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	code, err := r.wait()
	want := "skipped: step build was killed before it recorded an exit code (SIGKILL or OOM)"
	if code != ExitSkipped || err == nil || err.Error() != want {
		t.Fatalf("Run = %d, %v; want 125 and %q", code, err, want)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran although the step before it was killed")
	}
	ts, err := tombstone.Read(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if ts.State != tombstone.Skipped || ts.FailedStep != "build" || ts.FailedExitCode != -1 || ts.ExitCode != ExitSkipped {
		t.Errorf("test's tombstone %+v: want skipped by build, no exit code", ts)
	}
	if s := tombstone.Get(dir, "build"); !s.Gone {
		t.Errorf("build: %s, want gone", s.Reason())
	}
}

// TestStepOnErrorContinue: a step that failed under --on-error continue lets
// the next one run, which finds the exit code in its environment; the failed
// step's own Run returns 0.
func TestStepOnErrorContinue(t *testing.T) {
	dir := t.TempDir()
	msg := filepath.Join(t.TempDir(), "termination-log")
	lint := startStep(t, Ordering{Name: "lint", Graveyard: dir, OnErrorContinue: true, TerminationLog: msg, CreateTerminationLog: true},
		Config{Command: helperCmd("exit", "3")})
	if code, err := lint.wait(); code != 0 || err != nil {
		t.Fatalf("lint: Run = %d, %v; want 0 under --on-error continue", code, err)
	}
	if got := readMessage(t, msg); !strings.HasPrefix(got, "lint: failed: exited with code 3 after ") || !strings.HasSuffix(got, "; --on-error continue: the steps after it run") {
		t.Errorf("termination message %q", got)
	}
	ts, err := tombstone.Read(dir, "lint")
	if err != nil {
		t.Fatal(err)
	}
	if ts.State != tombstone.Died || ts.ExitCode != 3 || ts.OnError != tombstone.OnErrorContinue {
		t.Errorf("lint's tombstone %+v: want died 3, on-error continue", ts)
	}
	out := filepath.Join(t.TempDir(), "env")
	next := startStep(t, Ordering{Name: "report", Graveyard: dir, After: []string{"lint"}},
		Config{Command: helperCmd("envfile", out, ExitCodeEnv("lint"))})
	if code, err := next.wait(); code != 0 || err != nil {
		t.Fatalf("report: Run = %d, %v", code, err)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "3" {
		t.Errorf("%s in report's environment: %q, %v; want 3", ExitCodeEnv("lint"), b, err)
	}
}

// TestStepDefaultTerminationLog: the default path is written only if it
// exists, as kubelet makes it (empty); elsewhere nothing is created. A
// message the command wrote itself stays.
func TestStepDefaultTerminationLog(t *testing.T) {
	dir := t.TempDir()
	msg := filepath.Join(t.TempDir(), "termination-log")
	r := startStep(t, Ordering{Name: "a", Graveyard: dir, TerminationLog: msg}, Config{Command: helperCmd("exit", "0")})
	if code, err := r.wait(); code != 0 || err != nil {
		t.Fatalf("Run = %d, %v", code, err)
	}
	if _, err := os.Stat(msg); err == nil {
		t.Fatal("the termination log was created although it did not exist")
	}
	if err := os.WriteFile(msg, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	r = startStep(t, Ordering{Name: "b", Graveyard: dir, TerminationLog: msg}, Config{Command: helperCmd("exit", "4")})
	if code, _ := r.wait(); code != 4 {
		t.Fatalf("Run = %d, want 4", code)
	}
	if got := readMessage(t, msg); !strings.HasPrefix(got, "b: failed: exited with code 4 after ") {
		t.Errorf("termination message %q", got)
	}
	// The command's own message wins.
	own := filepath.Join(t.TempDir(), "termination-log")
	if err := os.WriteFile(own, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	r = startStep(t, Ordering{Name: "c", Graveyard: dir, TerminationLog: own}, Config{Command: helperCmd("write", own, "migrated 3 tables")})
	if code, err := r.wait(); code != 0 {
		t.Fatalf("Run = %d, %v; want 0", code, err)
	}
	if b, err := os.ReadFile(own); err != nil || string(b) != "migrated 3 tables" {
		t.Errorf("termination log %q, %v: want the command's own message", b, err)
	}
}
