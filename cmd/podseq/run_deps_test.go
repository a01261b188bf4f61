package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/internal/testio"
	"github.com/podseq/podseq/tombstone"
)

// depsHang bounds what only fails when something hangs.
const depsHang = 30 * time.Second

// proc is a podseq binary running in a test.
type proc struct {
	cmd    *exec.Cmd
	stderr *testio.Buffer
	done   chan struct{}
	code   int
}

// startPodseq starts the podseq binary with args (after "podseq") and extra
// environment variables, on a free admin port. It is killed when the test ends.
func startPodseq(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	if len(args) > 0 && args[0] == "run" {
		args = append([]string{"run", "--listen=127.0.0.1:0"}, args[1:]...)
	}
	return startPodseqArgs(t, env, args...)
}

// startPodseqArgs is startPodseq with the arguments exactly as given.
func startPodseqArgs(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(podseqBinary(t), args...), stderr: new(testio.Buffer), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = 128 + int(ws.Signal())
			}
		} else if err != nil {
			p.code = -1
		}
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitLog waits until the process wrote want on stderr.
func (p *proc) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(depsHang)
	for !strings.Contains(p.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%v never said %q; stderr:\n%s", p.cmd.Args, want, p.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wait waits for the process to exit and returns its exit code and stderr.
func (p *proc) wait(t *testing.T) (int, string) {
	t.Helper()
	select {
	case <-p.done:
		return p.code, p.stderr.String()
	case <-time.After(depsHang):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%v hangs; stderr:\n%s", p.cmd.Args, p.stderr.String())
		return 0, ""
	}
}

// until waits until cond holds on the graveyard dir's tombstones.
func until(t *testing.T, dir string, what string, cond func(get func(string) tombstone.Status) bool) {
	t.Helper()
	w, err := tombstone.Watch(dir, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), depsHang)
	defer cancel()
	if err := w.Until(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func readTombstone(t *testing.T, dir, name string) *tombstone.Tombstone {
	t.Helper()
	ts, err := tombstone.Read(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// In-process runs are not parallel: urfave/cli's help and version flags are
// globals.
func TestRunDepsUsageErrors(t *testing.T) {
	dir := t.TempDir()
	// b already waits for a: a container named a that waits for b closes a
	// cycle podseq can see as it starts.
	b, err := tombstone.CreateDeclared(dir, "b", tombstone.Declared{BirthDeps: []string{"a"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--name", "a/b"}, `podseq run: --name: name "a/b" contains a slash`},
		{[]string{"--name", ".."}, `podseq run: --name: name ".."`},
		{[]string{"--name", "app", "--birth-deps", "db,app"}, "podseq run: --birth-deps: app depends on itself (it is --name)"},
		{[]string{"--name", "app", "--death-deps", "app"}, "podseq run: --death-deps: app depends on itself"},
		{[]string{"--name", "app", "--outlive", "app"}, "podseq run: --outlive: app depends on itself"},
		{[]string{"--birth-deps", "db,,cache"}, "podseq run: --birth-deps: empty name"},
		{[]string{"--birth-deps", "db,db"}, "podseq run: --birth-deps: db is listed twice"},
		{[]string{"--death-deps", "App"}, `podseq run: --death-deps: name "App": a container name has only lowercase`},
		{[]string{"--birth-deps", "db", "--birth-timeout", "0s"}, "podseq run: --birth-timeout 0s: must be positive"},
		{[]string{"--name", "app", "--graveyard", filepath.Join(dir, "nope")}, "podseq run: --name app: graveyard " + dir + "/nope: no such directory"},
		{[]string{"--death-deps", "app", "--graveyard", filepath.Join(dir, "nope")}, "podseq run: graveyard " + dir + "/nope: no such directory"},
		{[]string{"--name", "a", "--birth-deps", "b"}, "podseq run: --birth-deps: birth deps form a cycle: a -> b -> a"},
		// Steps.
		{[]string{"--name", "s", "--after", "s"}, "podseq run: --after: s depends on itself (it is --name)"},
		{[]string{"--after", "b,b"}, "podseq run: --after: b is listed twice"},
		{[]string{"--after", "B"}, `podseq run: --after: name "B": a container name has only lowercase`},
		{[]string{"--on-error", "ignore"}, `podseq run: --on-error "ignore": want stop or continue`},
		{[]string{"--step-timeout", "-1s"}, "podseq run: --step-timeout -1s: must not be negative (0: no limit)"},
	} {
		args := append([]string{"run", "--listen=127.0.0.1:0", "--graveyard", dir}, tc.args...)
		args = append(args, "--", "true")
		code, stdout, stderr := runInProcess(args...)
		lines := stderrLines(stderr)
		if code != exitcode.Usage || len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want) || stdout != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 and one line %q", tc.args, code, stderr, stdout, tc.want)
		}
	}
	// The container that saw the cycle recorded that it will never start.
	if a := readTombstone(t, dir, "a"); a.State != tombstone.Died || a.ExitCode != exitcode.Usage || !a.Born.IsZero() {
		t.Errorf("tombstone of a after the cycle: %+v", a)
	}
}

// TestRunBirthDeps: the app is declared first and waits for two siblings
// started after it; it is born only after both are ready, as the tombstones'
// times show. Configured through the environment, as a pod spec would.
func TestRunBirthDeps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	marker := filepath.Join(t.TempDir(), "app-ran")
	app := startPodseq(t, []string{"PODSEQ_GRAVEYARD=" + dir, "PODSEQ_NAME=app", "PODSEQ_BIRTH_DEPS=db, cache", "PODSEQ_BIRTH_TIMEOUT=25s"},
		"run", "--", "touch", marker)
	until(t, dir, "app waiting", func(get func(string) tombstone.Status) bool {
		s := get("app")
		return s.Tombstone != nil && s.Tombstone.State == tombstone.Waiting
	})
	db := startPodseq(t, nil, "run", "--graveyard", dir, "--name", "db", "--ready-after", "300ms", "--", "sleep", "2")
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the app ran before its birth deps were ready")
	}
	cache := startPodseq(t, nil, "run", "--graveyard", dir, "--name", "cache", "--ready-after", "100ms", "--", "sleep", "2")
	if code, stderr := app.wait(t); code != 0 {
		t.Fatalf("app exit %d:\n%s", code, stderr)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the app's command never ran: %v", err)
	}
	a := readTombstone(t, dir, "app")
	for _, dep := range []string{"db", "cache"} {
		d := readTombstone(t, dir, dep)
		if d.Ready.IsZero() || a.Born.Before(d.Ready) {
			t.Errorf("app born %s, before %s was ready (%s)", a.Born, dep, d.Ready)
		}
	}
	if a.State != tombstone.Died || a.ExitCode != 0 || strings.Join(a.BirthDeps, ",") != "db,cache" {
		t.Errorf("app's tombstone: %+v", a)
	}
	for _, p := range []*proc{db, cache} {
		if code, stderr := p.wait(t); code != 0 {
			t.Errorf("%v: exit %d\n%s", p.cmd.Args, code, stderr)
		}
	}
}

// TestRunBirthTimeout: a dependency that never appears ends the wait with
// podseq wait's first line and exit 1, the command never starts, and the
// tombstone records the death.
func TestRunBirthTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	marker := filepath.Join(t.TempDir(), "app-ran")
	p := startPodseq(t, nil, "run", "--graveyard", dir, "--name", "app", "--birth-deps", "db", "--birth-timeout", "1500ms", "--", "touch", marker)
	code, stderr := p.wait(t)
	lines := stderrLines(stderr)
	want := "podseq run: not ready after 1.5s: tombstone://db: no tombstone yet ("
	if code != exitcode.NotReady || len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], want) {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and %q", code, stderr, want)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran although its birth deps never were ready")
	}
	if a := readTombstone(t, dir, "app"); a.State != tombstone.Died || a.ExitCode != exitcode.NotReady || !a.Born.IsZero() {
		t.Errorf("tombstone after the timeout: %+v", a)
	}
}

// TestRunBirthCycleWhileWaiting: a waits for b; b then starts waiting for a.
// b sees the cycle as it starts (exit 2); a, already waiting, sees it through
// b's tombstone and stops at once instead of at its timeout.
func TestRunBirthCycleWhileWaiting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := startPodseq(t, nil, "run", "--graveyard", dir, "--name", "a", "--birth-deps", "b", "--birth-timeout", "25s", "--", "true")
	until(t, dir, "a waiting", func(get func(string) tombstone.Status) bool { return get("a").Tombstone != nil })
	b := startPodseq(t, nil, "run", "--graveyard", dir, "--name", "b", "--birth-deps", "a", "--birth-timeout", "25s", "--", "true")
	code, stderr := b.wait(t)
	if code != exitcode.Usage || !strings.Contains(stderr, "podseq run: --birth-deps: birth deps form a cycle: b -> a -> b") {
		t.Errorf("b: exit %d, stderr:\n%s", code, stderr)
	}
	code, stderr = a.wait(t)
	if code != exitcode.NotReady || !strings.Contains(stderr, "podseq run: birth deps form a cycle: b -> a -> b") {
		t.Errorf("a: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestRunSignalWhileWaiting: SIGTERM during the birth wait ends podseq with
// 143 and the tombstone says so: none is lost.
func TestRunSignalWhileWaiting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startPodseq(t, nil, "run", "--graveyard", dir, "--name", "app", "--birth-deps", "db", "--", "true")
	p.waitLog(t, "waiting for birth deps") // podseq handles signals from then on
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, stderr := p.wait(t); code != 143 {
		t.Errorf("exit %d, want 143; stderr:\n%s", code, stderr)
	}
	if a := readTombstone(t, dir, "app"); a.State != tombstone.Died || a.ExitCode != 143 {
		t.Errorf("tombstone: %+v", a)
	}
}

// TestRunDeathDeps: a Job's sidecar stops once the app died, and exits 0 so
// that the pod succeeds.
func TestRunDeathDeps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sidecar := startPodseq(t, []string{"PODSEQ_DEATH_DEPS=app"}, "run", "--graveyard", dir, "--name", "proxy", "--", "sleep", "60")
	until(t, dir, "proxy born", func(get func(string) tombstone.Status) bool {
		s := get("proxy")
		return s.Tombstone != nil && s.Tombstone.State == tombstone.Ready
	})
	app := startPodseq(t, nil, "run", "--graveyard", dir, "--name", "app", "--", "sh", "-c", "exit 0")
	if code, stderr := app.wait(t); code != 0 {
		t.Fatalf("app: exit %d\n%s", code, stderr)
	}
	code, stderr := sidecar.wait(t)
	if code != 0 || !strings.Contains(stderr, "reason=\"death dep app died with exit code 0\"") && !strings.Contains(stderr, "reason=death dep app died with exit code 0") {
		t.Errorf("sidecar: exit %d, stderr:\n%s", code, stderr)
	}
	pr, ap := readTombstone(t, dir, "proxy"), readTombstone(t, dir, "app")
	if pr.State != tombstone.Died || pr.Died.Before(ap.Died) {
		t.Errorf("proxy died %s, app died %s", pr.Died, ap.Died)
	}
	// A death dep dead before the sidecar starts counts too (kubexit#6).
	late := startPodseq(t, nil, "run", "--graveyard", dir, "--name", "late", "--death-deps", "app", "--", "sleep", "60")
	if code, stderr := late.wait(t); code != 0 {
		t.Errorf("late sidecar: exit %d\n%s", code, stderr)
	}
}

// TestRunOutlive: at pod termination every container gets SIGTERM at once;
// the proxy holds it back until the app died, so the app's last requests
// still have their proxy. Observed from the tombstones' times.
func TestRunOutlive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	proxy := startPodseq(t, nil, "run", "--graveyard", dir, "--name", "proxy", "--outlive", "app", "--grace", "20s", "--", "sleep", "60")
	app := startPodseq(t, nil, "run", "--graveyard", dir, "--name", "app", "--", "sh", "-c", `trap 'sleep 0.5; exit 0' TERM; while :; do sleep 0.05; done`)
	until(t, dir, "both ready", func(get func(string) tombstone.Status) bool { return get("proxy").IsReady() && get("app").IsReady() })
	for _, p := range []*proc{proxy, app} {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*proc{app, proxy} {
		if code, stderr := p.wait(t); code != 0 && code != 143 {
			t.Errorf("%v: exit %d\n%s", p.cmd.Args, code, stderr)
		}
	}
	pr, ap := readTombstone(t, dir, "proxy"), readTombstone(t, dir, "app")
	if ap.State != tombstone.Died || pr.State != tombstone.Died || !pr.Died.After(ap.Died) {
		t.Errorf("proxy died %s, app died %s: the proxy must die last", pr.Died, ap.Died)
	}
}

// TestRunOutliveBoundedByGrace: a container to outlive that never dies (here,
// never even appears) delays SIGTERM by --grace at most.
func TestRunOutliveBoundedByGrace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	proxy := startPodseq(t, nil, "run", "--graveyard", dir, "--name", "proxy", "--outlive", "app", "--grace", "300ms", "--", "sleep", "60")
	until(t, dir, "proxy ready", func(get func(string) tombstone.Status) bool { return get("proxy").IsReady() })
	if err := proxy.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, stderr := proxy.wait(t)
	if code != 143 || !strings.Contains(stderr, "forwarding the signal before these died") || !strings.Contains(stderr, "app: no tombstone yet") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// TestWaitTombstone: podseq wait tombstone://NAME, as a postStart hook or a
// preStop (state=died) would run it.
func TestWaitTombstone(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runInProcess("wait", "--graveyard", dir, "--timeout", "1500ms", "tombstone://db")
	if lines := stderrLines(stderr); code != exitcode.NotReady || len(lines) == 0 || !strings.HasPrefix(lines[0], "podseq: not ready after 1.5s: tombstone://db: no tombstone yet (") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runInProcess("wait", "--graveyard", filepath.Join(dir, "nope"), "tombstone://db")
	if code != exitcode.Usage || !strings.Contains(stderr, "no such directory") {
		t.Errorf("missing graveyard: exit %d, stderr %q", code, stderr)
	}
	w, err := tombstone.CreateDeclared(dir, "app", tombstone.Declared{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	done := make(chan int, 1)
	go func() {
		code, _, _ := runInProcess("wait", "-q", "--graveyard", dir, "--timeout", "25s", "tombstone://app?state=died")
		done <- code
	}()
	if err := w.Born(1, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := w.Died(0, time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("wait state=died: exit %d", code)
		}
	case <-time.After(depsHang):
		t.Fatal("wait state=died hangs")
	}
}

// TestMissingGraveyardNamesFlag: probes returns a *probes.GraveyardError
// that names no flag, and podseq adds "(--graveyard)" after the whole line,
// where it always was, for a tombstone:// target of wait and run --ready.
func TestMissingGraveyardNamesFlag(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope")
	why := "graveyard " + missing + ": no such directory (mount the same emptyDir there in every container that uses tombstones)"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"wait", "--graveyard", missing, "tombstone://db"}, `podseq wait: bad target "tombstone://db": ` + why + " (--graveyard)"},
		{[]string{"run", "--listen=none", "--graveyard", missing, "--ready", "tombstone://db", "--", "true"}, `podseq run: --ready: bad target "tombstone://db": ` + why + " (--graveyard)"},
		{[]string{"run", "--listen=none", "--graveyard", missing, "--birth-deps", "db", "--", "true"}, "podseq run: " + why},
	} {
		code, _, stderr := runInProcess(tc.args...)
		if code != exitcode.Usage || stderr != tc.want+"\n" {
			t.Errorf("podseq %q: exit %d, stderr %q; want %d, %q", tc.args, code, stderr, exitcode.Usage, tc.want+"\n")
		}
	}
}
