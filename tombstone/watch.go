package tombstone

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultRescan is how often a Watcher reads every tombstone again even
// without an event: a safety net for filesystems that miss events, and how a
// writer killed without a word (no event: its lock just went) is noticed.
const DefaultRescan = time.Second

// PollInterval is the rescan period when inotify is not available (too many
// instances on the node, an exotic filesystem).
const PollInterval = 10 * time.Millisecond

// Status is what a reader knows of one container.
type Status struct {
	// Name is the container's name.
	Name string
	// Tombstone is its tombstone, nil when Err is set.
	Tombstone *Tombstone
	// Err is why there is no tombstone: wraps ErrNoTombstone, or says what is
	// wrong with the file.
	Err error
	// Gone reports that the podseq run that wrote the tombstone is no longer
	// alive although the tombstone does not say Died: it was killed (SIGKILL,
	// OOM) before it could write it, and its child is dead too.
	Gone bool
}

// Get reads NAME's tombstone and checks its writer is alive.
func Get(dir, name string) Status {
	t, err := Read(dir, name)
	s := Status{Name: name, Tombstone: t, Err: err}
	if t != nil && !t.State.Final() {
		if a, known := alive(dir, name, t); known && !a {
			// Its writer may have recorded its end (died, skipped) and exited
			// between the read and the check: read it again, now that no
			// writer of that instance is left to change it. A new instance
			// that replaced it meanwhile is checked in turn.
			if again, err := Read(dir, name); err == nil {
				s.Tombstone = again
				if !again.State.Final() {
					a, known = alive(dir, name, again)
					s.Gone = known && !a
				}
			} else {
				s.Gone = true
			}
		}
	}
	return s
}

// IsReady reports whether the container's child is ready now.
func (s Status) IsReady() bool {
	return s.Tombstone != nil && s.Tombstone.State == Ready && !s.Gone
}

// IsDead reports whether the container's child has died, with a recorded exit
// code or killed with its podseq run, or was skipped (it never started and
// never will).
func (s Status) IsDead() bool {
	return s.Tombstone != nil && (s.Tombstone.State.Final() || s.Gone)
}

// Reason says in a few words where the container stands, for messages such
// as "tombstone://db: born, not ready".
func (s Status) Reason() string {
	if s.Err != nil {
		return s.Err.Error()
	}
	t := s.Tombstone
	var r string
	switch t.State {
	case Waiting:
		r = "waiting"
		if len(t.BirthDeps) > 0 {
			r += " for its birth deps (" + strings.Join(t.BirthDeps, ", ") + ")"
		}
	case Born:
		r = "born, not ready"
	case Ready:
		r = "ready"
	case Died:
		r = fmt.Sprintf("died with exit code %d", t.ExitCode)
		if t.TimedOut > 0 {
			r += fmt.Sprintf(" (timed out after %s)", t.TimedOut)
		}
		return r
	case Skipped:
		return SkipReason(t.FailedStep, t.FailedExitCode)
	}
	if s.Gone {
		r += ", but its podseq run is gone: killed before it could record a death"
	}
	return r
}

// SkipReason says why a step was skipped: the step failedStep, which failed
// with exit code (-1 for none), "skipped: step build exited with code 3".
func SkipReason(failedStep string, code int) string {
	return "skipped: step " + failedStep + " " + FailureReason(code)
}

// FailureReason says how a failed step ended, from its exit code, -1 when it
// has none: "exited with code 3", "was killed before it recorded an exit code
// (SIGKILL or OOM)".
func FailureReason(code int) string {
	if code < 0 {
		return "was killed before it recorded an exit code (SIGKILL or OOM)"
	}
	return fmt.Sprintf("exited with code %d", code)
}

// Watcher follows the tombstones of one graveyard. It is event-driven
// (inotify on the directory) with a slow rescan as a safety net, and falls
// back to polling every PollInterval when inotify is not available. A Watcher
// is used from one goroutine.
type Watcher struct {
	dir    string
	fsw    *fsnotify.Watcher // nil: polling
	rescan time.Duration
	timer  *time.Timer
	cache  map[string]Status
}

// Watch starts watching the graveyard dir. Tombstones already there count:
// the first Get reads them after the watch is in place, so none is missed
// between the two. rescan <= 0 means DefaultRescan.
func Watch(dir string, rescan time.Duration) (*Watcher, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, graveyardErr(dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("graveyard %s is not a directory", dir)
	}
	if rescan <= 0 {
		rescan = DefaultRescan
	}
	w := &Watcher{dir: dir, rescan: rescan, cache: map[string]Status{}}
	if fsw, err := fsnotify.NewWatcher(); err == nil {
		if err := fsw.Add(dir); err == nil {
			w.fsw = fsw
		} else {
			fsw.Close()
		}
	}
	if w.fsw == nil {
		w.rescan = min(w.rescan, PollInterval)
	}
	w.timer = time.NewTimer(w.rescan)
	return w, nil
}

// Get returns NAME's status, read at most once between two changes.
func (w *Watcher) Get(name string) Status {
	if s, ok := w.cache[name]; ok {
		return s
	}
	s := Get(w.dir, name)
	w.cache[name] = s
	return s
}

// Next blocks until a tombstone may have changed (an event, or the rescan
// period passed) and forgets what changed, so that Get reads it again. It
// returns ctx's error when ctx is done first.
func (w *Watcher) Next(ctx context.Context) error {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w.fsw != nil {
		events, errs = w.fsw.Events, w.fsw.Errors
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.timer.C:
			clear(w.cache)
			w.timer.Reset(w.rescan)
			return nil
		case err, ok := <-errs:
			if !ok {
				return errors.New("graveyard watcher closed")
			}
			_ = err // an overflow or a read error: read everything again
			clear(w.cache)
			return nil
		case ev, ok := <-events:
			if !ok {
				return errors.New("graveyard watcher closed")
			}
			if !w.forget(ev) {
				continue // a temporary or lock file: nothing a reader sees changed
			}
			// Take every event already queued at once.
			for more := true; more; {
				select {
				case ev := <-events:
					w.forget(ev)
				default:
					more = false
				}
			}
			return nil
		}
	}
}

// forget drops the cached status an event touched, and reports whether the
// event was about a tombstone.
func (w *Watcher) forget(ev fsnotify.Event) bool {
	name := filepath.Base(ev.Name)
	if strings.HasPrefix(name, ".") {
		return false
	}
	delete(w.cache, name)
	return true
}

// Until calls cond, then again after each change, until it returns true
// (Until returns nil) or ctx is done (Until returns ctx's error). cond reads
// tombstones with get.
func (w *Watcher) Until(ctx context.Context, cond func(get func(string) Status) bool) error {
	for {
		if cond(w.Get) {
			return nil
		}
		if err := w.Next(ctx); err != nil {
			return err
		}
	}
}

// Close stops watching.
func (w *Watcher) Close() error {
	w.timer.Stop()
	if w.fsw != nil {
		return w.fsw.Close()
	}
	return nil
}

// CycleError says that birth deps (or steps, --after) wait for each other, so
// none can be born.
type CycleError struct {
	// Path is the cycle, its first name repeated at the end: [app db app].
	Path []string
	// After is set when the cycle goes through an --after edge, Birth when
	// it goes through a birth dep.
	After, Birth bool
}

func (e *CycleError) Error() string {
	what := "birth deps"
	switch {
	case e.After && e.Birth:
		what = "--after and --birth-deps"
	case e.After:
		what = "steps (--after)"
	}
	return what + " form a cycle: " + strings.Join(e.Path, " -> ")
}

// FindCycle follows the birth deps and the steps (--after) declared in
// tombstones, from name, through containers that have never been born (a
// container that was born had its deps met, so it cannot be in a cycle). It
// returns the first cycle found, nil if none. It sees only containers that
// wrote a tombstone: `podseq run --name` writes one, in state Waiting, before
// it waits.
func FindCycle(get func(string) Status, name string) *CycleError {
	var path []string      // the containers being visited, in order
	var tombs []*Tombstone // their tombstones, as visit read them
	onPath := map[string]bool{}
	done := map[string]bool{}
	var visit func(n string) *CycleError
	visit = func(n string) *CycleError {
		if onPath[n] {
			i := 0
			for path[i] != n {
				i++
			}
			c := &CycleError{Path: append(append([]string(nil), path[i:]...), n)}
			for j, t := range tombs[i:] {
				if slices.Contains(t.After, c.Path[j+1]) {
					c.After = true
				} else {
					c.Birth = true
				}
			}
			return c
		}
		if done[n] {
			return nil
		}
		s := get(n)
		if s.Tombstone == nil || !s.Tombstone.Born.IsZero() {
			done[n] = true
			return nil
		}
		onPath[n] = true
		path, tombs = append(path, n), append(tombs, s.Tombstone)
		for _, d := range slices.Concat(s.Tombstone.BirthDeps, s.Tombstone.After) {
			if c := visit(d); c != nil {
				return c
			}
		}
		path, tombs = path[:len(path)-1], tombs[:len(tombs)-1]
		onPath[n] = false
		done[n] = true
		return nil
	}
	return visit(name)
}
