package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/tombstone"
)

// The off switch reaches podseq run: PODSEQ_DISABLED=true (or --disabled)
// starts the command at once, with no birth gate and no --after wait, and
// says so on one line, even with --quiet.
func TestRunDisabled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mark := filepath.Join(t.TempDir(), "ran")
	// Without the switch the birth deps and the steps hold the command:
	// neither proxy nor build exists, so it would wait an hour.
	start := time.Now()
	p := startPodseq(t, []string{"PODSEQ_DISABLED=true"}, "run", "--quiet", "--graveyard", dir, "--name", "app",
		"--birth-deps", "proxy", "--birth-timeout", "1h", "--after", "build", "--", "sh", "-c", "touch "+mark)
	code, stderr := p.wait(t)
	want := "podseq: run disabled by --disabled or PODSEQ_DISABLED: starting the command at once, not waiting for birth deps proxy, steps build\n"
	if code != 0 || stderr != want {
		t.Errorf("exit %d, stderr %q; want 0 and %q", code, stderr, want)
	}
	if _, err := os.Stat(mark); err != nil || time.Since(start) > 30*time.Second {
		t.Errorf("the command did not run at once: %v after %s", err, time.Since(start))
	}
	if ts := readTombstone(t, dir, "app"); ts.State != tombstone.Died || ts.ExitCode != 0 {
		t.Errorf("app's tombstone %+v, want died with code 0", ts)
	}

	// --disabled, a step with no graveyard at all: it runs all the same.
	code, _, stderr = runInProcess("run", "--disabled", "--listen=none", "--graveyard", filepath.Join(dir, "missing"), "--name", "test", "--after", "build", "--", "true")
	lines := stderrLines(stderr)
	if code != 0 || len(lines) < 2 || lines[0] != "podseq: run disabled by --disabled or PODSEQ_DISABLED: starting the command at once, not waiting for steps build" ||
		!strings.HasPrefix(lines[1], "podseq: run disabled by --disabled or PODSEQ_DISABLED: starting without tombstones: --name test: graveyard ") {
		t.Errorf("--disabled without a graveyard: exit %d, stderr:\n%s", code, stderr)
	}
	// And without the switch, the same command is refused.
	if code, _, _ := runInProcess("run", "--listen=none", "--graveyard", filepath.Join(dir, "missing"), "--name", "test", "--after", "build", "--", "true"); code != exitcode.Usage {
		t.Errorf("without the switch: exit %d, want 2", code)
	}
}

// Switched off, a sidecar still stops when its --death-deps die (a Job must
// complete), but passes SIGTERM on at once instead of outliving the app.
func TestRunDisabledKeepsDeathDeps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sidecar := startPodseq(t, []string{"PODSEQ_DISABLED=true"}, "run", "--graveyard", dir, "--name", "proxy", "--death-deps", "app", "--", "sleep", "60")
	sidecar.waitLog(t, "podseq: run disabled by --disabled or PODSEQ_DISABLED: starting the command at once, not waiting for anything; the death of app still stops it (--death-deps)\n")
	app := startPodseq(t, nil, "run", "--graveyard", dir, "--name", "app", "--", "true")
	if code, stderr := app.wait(t); code != 0 {
		t.Fatalf("app: exit %d\n%s", code, stderr)
	}
	if code, stderr := sidecar.wait(t); code != 0 || !strings.Contains(stderr, "death dep app died with exit code 0") {
		t.Errorf("sidecar: exit %d, stderr:\n%s", code, stderr)
	}

	proxy := startPodseq(t, nil, "run", "--disabled", "--graveyard", dir, "--name", "proxy2", "--outlive", "never", "--grace", "1h", "--", "sleep", "60")
	proxy.waitLog(t, "not waiting for the death of never before passing SIGTERM on (--outlive)\n")
	until(t, dir, "proxy2 ready", func(get func(string) tombstone.Status) bool { return get("proxy2").IsReady() })
	if err := proxy.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, stderr := proxy.wait(t); code != 143 || strings.Contains(stderr, "holding the signal") {
		t.Errorf("--outlive switched off: exit %d, stderr:\n%s\nwant SIGTERM passed on at once: 143", code, stderr)
	}
}

// Switched off, podseq wait --shutdown still stops the sidecar once the
// command exited (linkerd-await#571: a switch that skipped it left Jobs
// running), even a sidecar never seen ready.
func TestWaitDisabledShutdown(t *testing.T) {
	t.Parallel()
	sidecar := startPodseqRun(t, nil, "--ready-after=1h")
	app := startPodseq(t, []string{"PODSEQ_DISABLED=true"}, "wait", "--shutdown", "http://"+sidecar.addr()+"/ready", "--", "sh", "-c", "exit 4")
	code, stderr := app.wait(t)
	lines := stderrLines(stderr)
	if code != 4 || len(lines) == 0 || lines[0] != "podseq: wait disabled by --disabled or PODSEQ_DISABLED: not waiting for 1 target; running sh -c 'exit 4', then stopping the podseq run targets (--shutdown)" {
		t.Errorf("exit %d, stderr:\n%s\nwant the command's 4 and the disabled line first", code, stderr)
	}
	if got := sidecar.wait(); got != 0 {
		t.Errorf("the sidecar exited %d, want 0 (stopped by /quitquitquit)", got)
	}
}
