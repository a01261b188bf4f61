package tombstone

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary a helper process instead of running tests.
const helperEnv = "TOMBSTONE_TEST_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(helper(h, os.Args[len(os.Args)-2:]))
	}
	goleak.VerifyTestMain(m)
}

// helper is the child side of the tests that need another process.
func helper(name string, args []string) int {
	dir, who := args[0], args[1]
	switch name {
	case "hold-ready": // write a ready tombstone, say so, and hang until killed
		w, err := CreateDeclared(dir, who, Declared{}, time.Now())
		if err == nil {
			err = w.Born(os.Getpid(), time.Now())
		}
		if err == nil {
			err = w.Ready(time.Now())
		}
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		fmt.Println("ready")
		select {}
	case "read-only": // make dir a read-only mount in a private namespace, then Create
		if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
			fmt.Println("bind mount:", err)
			return 3
		}
		if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
			fmt.Println("remount read-only:", err)
			return 3
		}
		_, err := CreateDeclared(dir, who, Declared{}, time.Now())
		fmt.Println(err)
		return 0
	}
	fmt.Println("unknown helper", name)
	return 2
}

// startHelper runs the test binary as helper h and returns it once it printed
// its first line, which must be want.
func startHelper(t *testing.T, h, dir, name, want string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", dir, name)
	cmd.Env = append(os.Environ(), helperEnv+"="+h)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != want {
		t.Fatalf("helper %s said %q (%v), want %q", h, line, err, want)
	}
	return cmd
}

func TestWriterLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, err := CreateDeclared(dir, "app", Declared{BirthDeps: []string{"db"}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	steps := []struct {
		do    func() error
		state State
	}{
		{func() error { return nil }, Waiting},
		{func() error { return w.Born(42, t0.Add(time.Second)) }, Born},
		{func() error { return w.Ready(t0.Add(2 * time.Second)) }, Ready},
		{func() error { return w.NotReady(t0.Add(3 * time.Second)) }, Born},
		{func() error { return w.Ready(t0.Add(4 * time.Second)) }, Ready},
		{func() error { return w.Died(143, t0.Add(5*time.Second)) }, Died},
	}
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got, err := Read(dir, "app")
		if err != nil {
			t.Fatalf("step %d: Read: %v", i, err)
		}
		if got.State != s.state || got.Instance != w.Tombstone().Instance || got.Name != "app" || got.BirthDeps[0] != "db" {
			t.Errorf("step %d: read %+v, want state %s", i, got, s.state)
		}
		if st := Get(dir, "app"); st.Gone {
			t.Errorf("step %d: Gone while the writer is alive", i)
		}
	}
	got, _ := Read(dir, "app")
	if got.PID != 42 || got.ExitCode != 143 || !got.Ready.Equal(t0.Add(4*time.Second)) || !got.Died.Equal(t0.Add(5*time.Second)) {
		t.Errorf("final tombstone %+v", got)
	}
	fi, err := os.Stat(Path(dir, "app"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("tombstone mode %v (%v), want 0644: readers may be other users", fi.Mode(), err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".app.tmp-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Born(1, t0); err == nil {
		t.Error("a write after Close succeeded")
	}
	if st := Get(dir, "app"); st.Gone || !st.IsDead() {
		t.Errorf("after Died and Close: %+v, want dead and not gone", st)
	}
}

func TestCreateTwiceAndRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w1, err := CreateDeclared(dir, "app", Declared{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w1.Died(1, t0); err != nil {
		t.Fatal(err)
	}
	_, err = CreateDeclared(dir, "app", Declared{}, t0)
	if err == nil || !strings.Contains(err.Error(), `another podseq run named "app" is alive`) {
		t.Errorf("second live writer: %v", err)
	}
	w1.Close()
	w2, err := CreateDeclared(dir, "app", Declared{}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if p := w2.Previous(); p == nil || p.State != Died || p.ExitCode != 1 {
		t.Errorf("Previous() = %+v, want the first instance's death", p)
	}
	if got, _ := Read(dir, "app"); got.Restarts != 1 || got.State != Waiting || !got.Died.IsZero() {
		t.Errorf("after a restart: %+v, want a fresh tombstone with restarts 1", got)
	}
}

func TestGraveyardErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ dir, want string }{
		"missing":  {filepath.Join(dir, "nope"), "graveyard " + dir + "/nope: no such directory (mount the same emptyDir"},
		"not dir":  {file, "is not a directory"},
		"bad name": {dir, `name "a/b" contains a slash`},
	} {
		who := "app"
		if name == "bad name" {
			who = "a/b"
		}
		_, err := CreateDeclared(tc.dir, who, Declared{}, t0)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Create = %v, want %q", name, err, tc.want)
		}
		if name != "bad name" {
			if _, err := Watch(tc.dir, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: Watch = %v, want %q", name, err, tc.want)
			}
		}
	}
	if err := graveyardErr("/g", syscall.EACCES); !strings.Contains(err.Error(), "permission denied (give the emptyDir an fsGroup") {
		t.Errorf("EACCES: %v", err)
	}
}

// TestReadOnlyGraveyard mounts a real read-only graveyard in a private user
// and mount namespace, and has the helper try to write there.
func TestReadOnlyGraveyard(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$", dir, "app")
	cmd.Env = append(os.Environ(), helperEnv+"=read-only")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	want := "graveyard " + dir + " is read-only (mount it read-write"
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("Create on a read-only graveyard: %q, want %q", out, want)
	}
}

// TestGoneAfterKill kills a writer with SIGKILL, as an OOM kill would: it never
// writes "died", and readers must tell its stale "ready" from a live one. Only
// a rescan notices (a released lock makes no event).
func TestGoneAfterKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := startHelper(t, "hold-ready", dir, "db", "ready")
	w, err := Watch(dir, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if s := w.Get("db"); !s.IsReady() || s.Gone {
		t.Fatalf("live writer: %+v %s, want ready", s, s.Reason())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last Status
	err = w.Until(ctx, func(get func(string) Status) bool { last = get("db"); return last.IsDead() })
	if err != nil {
		t.Fatalf("never saw the killed writer as dead: %v; last %s", err, last.Reason())
	}
	if last.IsReady() || !last.Gone || !strings.Contains(last.Reason(), "ready, but its podseq run is gone") {
		t.Errorf("after SIGKILL: ready=%v gone=%v reason %q", last.IsReady(), last.Gone, last.Reason())
	}
	// A new instance takes over and restarts are counted.
	w2, err := CreateDeclared(dir, "db", Declared{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if got := w2.Tombstone(); got.Restarts != 1 || got.Instance == w2.Previous().Instance {
		t.Errorf("new instance %+v, previous %+v", got, w2.Previous())
	}
}

// TestStaleReadyWhileSuccessorStarts is a container restart (or KEP-5532's
// in-place restart of every container, which keeps the emptyDir): the first
// instance is killed with its tombstone saying ready, and the next one has
// taken the tombstone's lock but not yet written its own tombstone. A reader
// that looks in that window must not take the killed instance's "ready" for
// the live successor's.
func TestStaleReadyWhileSuccessorStarts(t *testing.T) {
	t.Parallel()
	dir := killedReady(t, "db")
	if s := Get(dir, "db"); s.IsReady() || !s.Gone {
		t.Fatalf("killed writer: %s, want gone", s.Reason())
	}
	// The successor's first step, as Create takes it.
	next, err := lockName(dir, "db")
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if s := Get(dir, "db"); s.IsReady() || !s.Gone {
		t.Errorf("killed writer's ready tombstone, successor holding the lock: %s (ready=%v), want gone", s.Reason(), s.IsReady())
	}
}

// TestInstanceLocks: the successor's Create removes the killed instance's
// lock file, leaves its own and NAME's, and Close removes its own.
func TestInstanceLocks(t *testing.T) {
	t.Parallel()
	dir := killedReady(t, "db")
	w, err := CreateDeclared(dir, "db", Declared{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// A reader that read the killed instance's tombstone just before
	// Create replaced it checks a lock file that is gone now.
	prev := w.Previous()
	if a, known := alive(dir, "db", prev); a || !known {
		t.Errorf("killed instance after its successor started: alive=%v known=%v, want dead", a, known)
	}
	locks := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, ".db.*"))
		return m
	}
	want := []string{instanceLockPath(dir, "db", w.Tombstone().Instance), lockPath(dir, "db")}
	if got := locks(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("lock files %q, want %q", got, want)
	}
	if s := Get(dir, "db"); s.Gone || s.Tombstone.State != Waiting {
		t.Errorf("live successor: %s gone=%v", s.Reason(), s.Gone)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := locks(); len(got) != 1 || got[0] != lockPath(dir, "db") {
		t.Errorf("after Close: lock files %q, want only NAME's", got)
	}
	if s := Get(dir, "db"); !s.Gone {
		t.Errorf("closed without Died: %s, want gone", s.Reason())
	}
}

// killedReady returns a graveyard where NAME's writer wrote "ready" and was
// then killed with SIGKILL.
func killedReady(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := startHelper(t, "hold-ready", dir, name, "ready")
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	return dir
}
