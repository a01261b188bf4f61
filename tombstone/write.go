package tombstone

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Writer writes one container's tombstone through its child's life. It holds
// the tombstone's lock from CreateDeclared to Close, so that readers can tell it is
// alive. Its methods are safe for concurrent use.
type Writer struct {
	mu    sync.Mutex
	dir   string
	lock  *os.File // NAME's lock: one live writer per name
	ilock *os.File // this instance's lock: readers check it
	t     Tombstone
	prev  *Tombstone
}

// lockRetry is how long CreateDeclared retries the lock: a reader holds it shared for
// a few microseconds while it checks a writer is alive.
const lockRetry = 200 * time.Millisecond

// Declared is what a container's first tombstone declares besides its name.
type Declared struct {
	// BirthDeps must be ready before the child starts.
	BirthDeps []string
	// After are the steps that must have exited 0 before the child starts.
	After []string
	// OnError is OnErrorContinue when the step's failure does not skip the
	// steps after it.
	OnError string
}

// CreateDeclared checks the graveyard dir, takes NAME's lock and writes
// NAME's first tombstone, in state Waiting with what it declares: birth
// deps, and for a step the steps it runs after and its on-error. An existing
// tombstone of a previous instance (the container restarted) is replaced,
// and counted in Restarts. The errors say what is wrong with the graveyard
// in one line.
func CreateDeclared(dir, name string, d Declared, now time.Time) (*Writer, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if err := CheckGraveyard(dir); err != nil {
		return nil, err
	}
	if err := notADirectory(Path(dir, name)); err != nil {
		return nil, err
	}
	lock, err := lockName(dir, name)
	if err != nil {
		return nil, err
	}
	w := &Writer{dir: dir, lock: lock, t: Tombstone{
		Name: name, State: Waiting, Instance: NewInstance(), Waiting: now.UTC(),
		BirthDeps: append([]string(nil), d.BirthDeps...),
		After:     append([]string(nil), d.After...), OnError: d.OnError,
		InstanceLock: true,
	}}
	// Our own lock before our first tombstone: a reader that finds that
	// tombstone finds the lock held. An earlier instance's lock file is
	// removed; its tombstone's readers then see it gone, as they must.
	if w.ilock, err = lockInstance(dir, name, w.t.Instance); err != nil {
		w.Close()
		return nil, err
	}
	if prev, err := Read(dir, name); err == nil {
		w.prev = prev
		w.t.Restarts = prev.Restarts + 1
	}
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			f := dir + "/" + e.Name()
			if strings.HasPrefix(e.Name(), "."+name+".") && strings.HasSuffix(e.Name(), ".lock") &&
				f != lockPath(dir, name) && f != w.ilock.Name() {
				_ = os.Remove(f)
			}
		}
	}
	if err := w.write(); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// lockName takes NAME's lock, which only one live writer holds.
func lockName(dir, name string) (*os.File, error) {
	lock, err := openLock(dir, lockPath(dir, name))
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(lockRetry)
	for {
		err = flock(lock, lockExclusive)
		if err == nil {
			return lock, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			lock.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("another podseq run named %q is alive (it holds %s): give each container its own name", name, lockPath(dir, name))
			}
			return nil, fmt.Errorf("locking %s: %w", lockPath(dir, name), err)
		}
		time.Sleep(time.Millisecond)
	}
}

// lockInstance creates and locks the lock file of one instance of NAME.
func lockInstance(dir, name, instance string) (*os.File, error) {
	path := instanceLockPath(dir, name, instance)
	f, err := openLock(dir, path)
	if err != nil {
		return nil, err
	}
	if err := flock(f, lockExclusive); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return f, nil
}

// openLock opens the lock file path in the graveyard dir, creating it, if it
// is a regular file.
func openLock(dir, path string) (*os.File, error) {
	// Read-only is enough for flock, and works when a restarted container
	// runs as another user than the one that created the lock file.
	f, err := openRegular(path, os.O_RDONLY|os.O_CREATE)
	var nr *NotRegularError
	if errors.As(err, &nr) {
		return nil, fmt.Errorf("lock %s %s: remove it", nr.Path, nr.Error())
	}
	if err != nil {
		return nil, graveyardErr(dir, err)
	}
	return f, nil
}

// notADirectory refuses a directory where a tombstone is to be written: the
// rename that replaces a tombstone cannot replace it. Anything else there (a
// stale file, a named pipe) is replaced without being opened.
func notADirectory(path string) error {
	if fi, err := os.Lstat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("tombstone %s is a directory: remove it, the tombstone is written there", path)
	}
	return nil
}

// CheckGraveyard returns an error, in one line, when dir is not a directory
// podseq can write tombstones to.
func CheckGraveyard(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return graveyardErr(dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("graveyard %s is not a directory", dir)
	}
	if err := canWrite(dir); err != nil {
		return graveyardErr(dir, err)
	}
	return nil
}

// graveyardErr explains an error on the graveyard with the likely fix.
func graveyardErr(dir string, err error) error {
	err = unwrapPath(err)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("graveyard %s: no such directory (mount the same emptyDir there in every container that uses tombstones)", dir)
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("graveyard %s is read-only (mount it read-write in the container that writes its tombstone)", dir)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("graveyard %s: permission denied (give the emptyDir an fsGroup, or run as the same user in every container)", dir)
	}
	return fmt.Errorf("graveyard %s: %w", dir, err)
}

// Previous returns the tombstone of the previous instance that CreateDeclared
// replaced, nil if there was none.
func (w *Writer) Previous() *Tombstone { return w.prev }

// Tombstone returns a copy of what was last written.
func (w *Writer) Tombstone() Tombstone {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.t
	t.BirthDeps = append([]string(nil), t.BirthDeps...)
	t.After = append([]string(nil), t.After...)
	return t
}

// Born records that the child started with pid.
func (w *Writer) Born(pid int, at time.Time) error {
	return w.update(func(t *Tombstone) { t.State, t.PID, t.Born = Born, pid, at.UTC() })
}

// Ready records that the child turned ready.
func (w *Writer) Ready(at time.Time) error {
	return w.update(func(t *Tombstone) { t.State, t.Ready = Ready, at.UTC() })
}

// NotReady records that the child is no longer ready: back to Born.
func (w *Writer) NotReady(time.Time) error {
	return w.update(func(t *Tombstone) { t.State = Born })
}

// Died records that the child exited with code (or that podseq run gave up
// before starting it).
func (w *Writer) Died(code int, at time.Time) error {
	return w.update(func(t *Tombstone) { t.State, t.ExitCode, t.Died = Died, code, at.UTC() })
}

// DiedTimedOut records that the child ran past its time limit and was
// stopped: died with code (124).
func (w *Writer) DiedTimedOut(code int, limit time.Duration, at time.Time) error {
	return w.update(func(t *Tombstone) { t.State, t.ExitCode, t.Died, t.TimedOut = Died, code, at.UTC(), limit })
}

// Skipped records that the child will never start because failedStep, a step
// it runs after, did not succeed: failedCode is that step's exit code (-1 for
// none), code the one podseq exits with.
func (w *Writer) Skipped(failedStep string, failedCode, code int, at time.Time) error {
	if err := ValidName(failedStep); err != nil {
		return fmt.Errorf("tombstone %s: failed step: %w", Path(w.dir, w.t.Name), err)
	}
	if failedCode < -1 || failedCode > 255 || code < 0 || code > 255 {
		return fmt.Errorf("tombstone %s: exit codes %d, %d: want 0 to 255 (-1: none for the failed step)", Path(w.dir, w.t.Name), failedCode, code)
	}
	return w.update(func(t *Tombstone) {
		t.State, t.ExitCode, t.Skipped = Skipped, code, at.UTC()
		t.FailedStep, t.FailedExitCode = failedStep, failedCode
	})
}

func (w *Writer) update(f func(*Tombstone)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lock == nil {
		return fmt.Errorf("tombstone %s: written after Close", Path(w.dir, w.t.Name))
	}
	f(&w.t)
	return w.write()
}

// write replaces the tombstone atomically: a temporary file in the same
// directory, fsync, rename, fsync of the directory.
func (w *Writer) write() error {
	path := Path(w.dir, w.t.Name)
	tmp, err := os.CreateTemp(w.dir, "."+w.t.Name+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing tombstone %s: %w", path, graveyardErr(w.dir, err))
	}
	_, err = tmp.Write(w.t.Marshal())
	if err == nil {
		err = tmp.Chmod(0o644) // readers may run as other users
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		if derr := notADirectory(path); derr != nil {
			return fmt.Errorf("writing %w", derr) // a directory appeared since CreateDeclared
		}
		return fmt.Errorf("writing tombstone %s: %w", path, unwrapPath(err))
	}
	if d, err := os.OpenFile(w.dir, os.O_RDONLY|openDirFlags, 0); err == nil {
		_ = d.Sync() // best effort: some filesystems refuse fsync on a directory
		d.Close()
	}
	return nil
}

// Close releases the lock: from then on readers see a tombstone not in state
// Died as Gone. Call it after Died, or when podseq exits.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lock == nil {
		return nil
	}
	var err error
	if w.ilock != nil {
		_ = os.Remove(w.ilock.Name()) // a missing instance lock reads as gone too
		err = w.ilock.Close()
		w.ilock = nil
	}
	if cerr := w.lock.Close(); err == nil { // closing the last descriptor releases the flock
		err = cerr
	}
	w.lock = nil
	return err
}

// alive reports whether the writer of t, NAME's tombstone, lives: it holds
// its instance's lock ("lock: instance"), or else NAME's lock. known is false
// when there is no lock file to tell (a tombstone written by hand or by
// another tool, or not a lock podseq wrote); a missing instance lock means
// the instance is gone.
func alive(dir, name string, t *Tombstone) (alive, known bool) {
	path := lockPath(dir, name)
	if t.InstanceLock {
		path = instanceLockPath(dir, name, t.Instance)
	}
	f, err := openRegular(path, os.O_RDONLY)
	if err != nil {
		return false, t.InstanceLock && errors.Is(err, fs.ErrNotExist)
	}
	defer f.Close()
	err = flock(f, lockShared)
	if err == nil {
		_ = flock(f, lockRelease)
		return false, true
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, true
	}
	return false, false
}

// NewInstance returns an id that tells this process apart from any earlier
// podseq of the same container: the node's boot id (first 8 hex digits), our
// pid and our start time in clock ticks since boot. After a container restart
// the pid is often the same (1), the start time never is. Without /proc it
// falls back to the wall clock.
func NewInstance() string { return instanceOf("self", os.Getpid()) }

// InstanceOf returns the id NewInstance returns in process pid (of this PID
// namespace), "" when its /proc entry cannot be read: InstanceOf(1) is the
// container's main process's, which a podseq run there has as its instance.
func InstanceOf(pid int) string {
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/stat"); err != nil {
		return ""
	}
	return instanceOf(strconv.Itoa(pid), pid)
}

// instanceOf is the instance id of pid, whose /proc entry is /proc/entry.
func instanceOf(entry string, pid int) string {
	boot := "noboot"
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		if s := strings.ReplaceAll(strings.TrimSpace(string(b)), "-", ""); len(s) >= 8 {
			boot = s[:8]
		}
	}
	start := ""
	if b, err := os.ReadFile("/proc/" + entry + "/stat"); err == nil {
		// Field 22, starttime; fields are counted after the command name,
		// which is in parentheses and may hold spaces.
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 19 {
				start = f[19]
			}
		}
	}
	if start == "" {
		start = "t" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return fmt.Sprintf("%s-%d-%s", boot, pid, start)
}
