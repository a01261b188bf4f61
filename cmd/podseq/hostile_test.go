package main

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/tombstone"
)

// A graveyard is a volume that other containers can write: whatever they put
// where a tombstone should be, podseq never hangs on it, keeps its deadline,
// obeys signals, and says what is wrong in one line.

// graveyardWith returns a graveyard whose entry db is a named pipe, or a
// symbolic link to one.
func graveyardWith(t *testing.T, symlink bool) string {
	t.Helper()
	dir := t.TempDir()
	pipe := filepath.Join(dir, "db")
	if symlink {
		pipe = filepath.Join(t.TempDir(), "pipe")
	}
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Fatal(err)
	}
	if symlink {
		if err := os.Symlink(pipe, filepath.Join(dir, "db")); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const fifoReason = ": is a named pipe (FIFO), not a regular file"

// TestHostileGraveyardFIFO: podseq wait and podseq run --birth-deps end at
// their timeouts with the reason, and at once on SIGTERM, when the tombstone
// they wait for is a named pipe (or a link to one).
func TestHostileGraveyardFIFO(t *testing.T) {
	t.Parallel()
	for _, symlink := range []bool{false, true} {
		name := "fifo"
		if symlink {
			name = "symlink to a fifo"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("wait timeout", func(t *testing.T) {
				t.Parallel()
				dir := graveyardWith(t, symlink)
				p := startPodseq(t, nil, "wait", "--graveyard", dir, "--timeout", "1500ms", "tombstone://db")
				code, stderr := p.wait(t)
				want := "podseq: not ready after 1.5s: tombstone://db: tombstone " + tombstone.Path(dir, "db") + fifoReason + " ("
				if lines := stderrLines(stderr); code != exitcode.NotReady || len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
					t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
				}
			})
			t.Run("wait SIGTERM", func(t *testing.T) {
				t.Parallel()
				dir := graveyardWith(t, symlink)
				// The second request to a second target proves that podseq
				// waits, with its signal handler in place.
				srv, asked := askedTwice(t)
				p := startPodseq(t, nil, "wait", "--graveyard", dir, "--timeout", "1h", "tombstone://db", srv.URL)
				select {
				case <-asked:
				case <-p.done:
					t.Fatalf("podseq exited: %s", p.stderr.String())
				case <-time.After(depsHang):
					t.Fatal("no second request")
				}
				if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				code, stderr := p.wait(t)
				want := regexp.MustCompile(`^podseq: interrupted by SIGTERM after \S+: tombstone://db: tombstone ` +
					regexp.QuoteMeta(tombstone.Path(dir, "db")+fifoReason) + ` \(\d+ attempts?\); ` + regexp.QuoteMeta(srv.URL) + `: 503 Service Unavailable \(\d+ attempts?\)$`)
				if lines := stderrLines(stderr); code != 143 || len(lines) != 1 || !want.MatchString(lines[0]) {
					t.Errorf("exit %d, stderr %q; want exit 143 and %s", code, stderr, want)
				}
			})
			t.Run("run birth-deps timeout", func(t *testing.T) {
				t.Parallel()
				dir := graveyardWith(t, symlink)
				marker := filepath.Join(t.TempDir(), "ran")
				p := startPodseq(t, nil, "run", "--graveyard", dir, "--birth-deps", "db", "--birth-timeout", "1500ms", "--", "touch", marker)
				code, stderr := p.wait(t)
				want := "podseq run: not ready after 1.5s: tombstone://db: tombstone " + tombstone.Path(dir, "db") + fifoReason + " ("
				if lines := stderrLines(stderr); code != exitcode.NotReady || len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], want) {
					t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
				}
				if _, err := os.Stat(marker); err == nil {
					t.Error("the command ran")
				}
			})
			t.Run("run birth-deps SIGTERM", func(t *testing.T) {
				t.Parallel()
				dir := graveyardWith(t, symlink)
				p := startPodseq(t, nil, "run", "--graveyard", dir, "--birth-deps", "db", "--birth-timeout", "1h", "--", "true")
				p.waitLog(t, "waiting for birth deps")
				if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				if code, stderr := p.wait(t); code != 143 {
					t.Errorf("exit %d, want 143; stderr:\n%s", code, stderr)
				}
			})
		})
	}
}

// TestHostileGraveyardWriter: podseq run --name db replaces a named pipe at
// GRAVEYARD/db without opening it, and refuses a directory there, or a named
// pipe at its lock, with one line and exit 2, before its admin server listens.
func TestHostileGraveyardWriter(t *testing.T) {
	t.Parallel()
	t.Run("fifo", func(t *testing.T) {
		t.Parallel()
		dir := graveyardWith(t, false)
		p := startPodseq(t, nil, "run", "--graveyard", dir, "--name", "db", "--", "true")
		if code, stderr := p.wait(t); code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		if ts := readTombstone(t, dir, "db"); ts.State != tombstone.Died || ts.ExitCode != 0 {
			t.Errorf("tombstone: %+v", ts)
		}
	})
	for _, tt := range []struct {
		name string
		make func(t *testing.T, dir string) error
		want string
	}{
		{"directory", func(_ *testing.T, dir string) error { return os.Mkdir(filepath.Join(dir, "db"), 0o755) },
			"tombstone DIR/db is a directory: remove it, the tombstone is written there"},
		{"fifo lock", func(_ *testing.T, dir string) error { return syscall.Mkfifo(filepath.Join(dir, ".db.lock"), 0o644) },
			"lock DIR/.db.lock is a named pipe (FIFO), not a regular file: remove it"},
		{"socket lock", func(t *testing.T, dir string) error {
			l, err := net.Listen("unix", filepath.Join(dir, ".db.lock"))
			if err == nil {
				t.Cleanup(func() { l.Close() })
			}
			return err
		}, "lock DIR/.db.lock is a socket, not a regular file: remove it"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := tt.make(t, dir); err != nil {
				t.Fatal(err)
			}
			p := startPodseq(t, nil, "run", "--graveyard", dir, "--name", "db", "--", "true")
			code, stderr := p.wait(t)
			want := "podseq run: --name db: " + strings.ReplaceAll(tt.want, "DIR", dir)
			if lines := stderrLines(stderr); code != exitcode.Usage || len(lines) != 1 || lines[0] != want {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr, want)
			}
		})
	}
}

// TestWaitSignalDuringFirstAttempt: SIGTERM while the first attempt is still
// in flight says the signal cut it short, not that a deadline passed.
func TestWaitSignalDuringFirstAttempt(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- c // never answered
		}
	}()
	target := "http://" + l.Addr().String() + "/ready"
	p := startPodseq(t, nil, "wait", "--timeout", "1h", "--attempt-timeout", "1h", target)
	select {
	case c := <-accepted: // the attempt is in flight, after the signal handler was set
		defer c.Close()
	case <-p.done:
		t.Fatalf("podseq exited: %s", p.stderr.String())
	case <-time.After(depsHang):
		t.Fatal("no connection")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, stderr := p.wait(t)
	want := regexp.MustCompile(`^podseq: interrupted by SIGTERM after \S+: ` + regexp.QuoteMeta(target) + `: first attempt cut short: interrupted by SIGTERM \(0 attempts\)$`)
	if lines := stderrLines(stderr); code != 143 || len(lines) != 1 || !want.MatchString(lines[0]) {
		t.Errorf("exit %d, stderr %q; want exit 143 and %s", code, stderr, want)
	}
}
