package tombstone

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// returns runs f and fails the test if it has not returned within hang. A
// call that hangs is left behind: the test fails anyway.
func returns[T any](t *testing.T, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(hang):
		t.Fatalf("%s: still blocked after %s", what, hang)
	}
	var zero T
	return zero
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

// hostileEntries puts something that is not a tombstone at dir/db, one kind
// a case, and names what Read must say about it.
var hostileEntries = []struct {
	name string
	make func(t *testing.T, path string)
	want string
}{
	{"fifo", mkfifo, "is a named pipe (FIFO), not a regular file"},
	{"symlink to a fifo", func(t *testing.T, path string) {
		mkfifo(t, path+".pipe")
		if err := os.Symlink(filepath.Base(path)+".pipe", path); err != nil {
			t.Fatal(err)
		}
	}, "is a named pipe (FIFO), not a regular file"},
	{"directory", func(t *testing.T, path string) {
		if err := os.Mkdir(path, 0o755); err != nil {
			t.Fatal(err)
		}
	}, "is a directory, not a regular file"},
	{"socket", func(t *testing.T, path string) {
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
	}, "is a socket, not a regular file"},
	{"symlink to a device", func(t *testing.T, path string) {
		if err := os.Symlink("/dev/zero", path); err != nil {
			t.Fatal(err)
		}
	}, "is a character device, not a regular file"},
}

// TestReadRefusesWhatIsNotARegularFile: whatever another container put where
// a tombstone should be, Read returns at once with one line saying what it
// is; a named pipe's open never waits for a writer.
func TestReadRefusesWhatIsNotARegularFile(t *testing.T) {
	for _, tt := range hostileEntries {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.make(t, Path(dir, "db"))
			err := returns(t, "Read", func() error { _, err := Read(dir, "db"); return err })
			want := "tombstone " + Path(dir, "db") + ": " + tt.want
			if err == nil || err.Error() != want {
				t.Errorf("Read: %v, want %q", err, want)
			}
			s := returns(t, "Get", func() Status { return Get(dir, "db") })
			if s.IsReady() || s.IsDead() || s.Reason() != want {
				t.Errorf("Get: ready %v, dead %v, reason %q", s.IsReady(), s.IsDead(), s.Reason())
			}
		})
	}
}

// TestCreateOverWhatIsNotATombstone: podseq run --name db replaces anything
// at GRAVEYARD/db without opening it, except a directory, which it cannot
// replace and says so; a lock that is not a regular file is refused.
func TestCreateOverWhatIsNotATombstone(t *testing.T) {
	for _, tt := range hostileEntries {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.make(t, Path(dir, "db"))
			type result struct {
				w   *Writer
				err error
			}
			r := returns(t, "Create", func() result { w, err := CreateDeclared(dir, "db", Declared{}, time.Now()); return result{w, err} })
			if tt.name == "directory" {
				want := "tombstone " + Path(dir, "db") + " is a directory: remove it, the tombstone is written there"
				if r.err == nil || r.err.Error() != want {
					t.Fatalf("Create: %v, want %q", r.err, want)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("Create: %v", r.err)
			}
			defer r.w.Close()
			if r.w.Previous() != nil {
				t.Errorf("Previous: %+v, want none", r.w.Previous())
			}
			if ts, err := Read(dir, "db"); err != nil || ts.State != Waiting {
				t.Errorf("Read after Create: %+v, %v", ts, err)
			}
		})
	}
	t.Run("fifo lock", func(t *testing.T) {
		dir := t.TempDir()
		mkfifo(t, lockPath(dir, "db"))
		err := returns(t, "Create", func() error { _, err := CreateDeclared(dir, "db", Declared{}, time.Now()); return err })
		want := "lock " + lockPath(dir, "db") + " is a named pipe (FIFO), not a regular file: remove it"
		if err == nil || err.Error() != want {
			t.Errorf("Create: %v, want %q", err, want)
		}
	})
}

// TestAliveWithAFifoLock: a reader never blocks on a lock file that is a
// named pipe; it only cannot tell whether the writer lives.
func TestAliveWithAFifoLock(t *testing.T) {
	dir := t.TempDir()
	w, err := CreateDeclared(dir, "db", Declared{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Born(1, time.Now()); err != nil {
		t.Fatal(err)
	}
	w.Close() // removes its instance's lock: readers check that one
	mkfifo(t, instanceLockPath(dir, "db", w.Tombstone().Instance))
	s := returns(t, "Get", func() Status { return Get(dir, "db") })
	if s.Err != nil || s.Gone || s.Tombstone.State != Born {
		t.Errorf("Get: %+v", s)
	}
}

// TestWriteIntoADirectorySaysSo: a directory that appears at the tombstone's
// name after Create makes the next write fail with that reason, not with
// rename's "file exists".
func TestWriteIntoADirectorySaysSo(t *testing.T) {
	dir := t.TempDir()
	w, err := CreateDeclared(dir, "db", Declared{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := os.Remove(Path(dir, "db")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(Path(dir, "db"), 0o755); err != nil {
		t.Fatal(err)
	}
	err = w.Born(1, time.Now())
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("Born: %v, want is a directory", err)
	}
	var nr *NotRegularError
	if errors.As(err, &nr) {
		t.Errorf("Born: %v is a read error", err)
	}
}
