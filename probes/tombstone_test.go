package probes

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podseq/podseq/tombstone"
)

// tsHang bounds waits that only fail when something hangs.
const tsHang = 30 * time.Second

// tsWriter creates NAME's tombstone writer in dir, closed with the test.
func tsWriter(t *testing.T, dir, name string, deps ...string) *tombstone.Writer {
	t.Helper()
	w, err := tombstone.CreateDeclared(dir, name, tombstone.Declared{BirthDeps: deps}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestTombstoneParse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, raw := range []string{"tombstone://db", "tombstone://db?state=ready", "tombstone://app?state=died", "TOMBSTONE://db-0"} {
		tg, err := Parse(raw, Options{Graveyard: dir})
		if err != nil {
			t.Errorf("Parse(%q) = %v", raw, err)
			continue
		}
		if tg.Kind != "tombstone" || !tg.Local || tg.Name != raw {
			t.Errorf("Parse(%q) = %+v", raw, tg)
		}
		if h, ok := tg.Prober.(Holder); !ok || h.Hold() >= 0 {
			t.Errorf("Parse(%q): not a Holder: the loop would poll it", raw)
		}
	}
	for raw, want := range map[string]string{
		"tombstone://":                          "empty name",
		"tombstone:///db":                       "no name: write tombstone://NAME",
		"tombstone://a/b":                       `name "a/b" contains a slash`,
		"tombstone://DB":                        "lowercase letters",
		"tombstone://db:80":                     "lowercase letters",
		"tombstone://..":                        "lowercase letters",
		"tombstone://u:p@db":                    "user info",
		"tombstone://db#x":                      "fragment",
		"tombstone://db?state=zombie":           "state=zombie: want state=ready or state=died",
		"tombstone://db?wait=1s":                "the only parameter is state",
		"tombstone://db?state=ready&state=died": "the only parameter is state",
	} {
		_, err := Parse(raw, Options{Graveyard: dir})
		if err == nil || !errors.Is(err, ErrBadTarget) || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want a bad target with %q", raw, err, want)
		}
	}
	missing := filepath.Join(dir, "nope")
	_, err := Parse("tombstone://db", Options{Graveyard: missing})
	// The flag's name is the command line's to add: cmd/podseq's
	// TestMissingGraveyardNamesFlag pins "(--graveyard)".
	var ge *GraveyardError
	if err == nil || !strings.Contains(err.Error(), "graveyard "+missing+": no such directory") || !errors.As(err, &ge) || ge.Dir != missing || strings.Contains(err.Error(), "--") {
		t.Errorf("missing graveyard: %v, want a *GraveyardError that names no flag", err)
	}
}

// TestTombstoneWaitReleasedByEvent: Wait is released when the tombstone turns
// ready, through the event, long before any rescan or hold would end it.
func TestTombstoneWaitReleasedByEvent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := tsWriter(t, dir, "db")
	if err := w.Born(1, time.Now()); err != nil {
		t.Fatal(err)
	}
	tg, err := Parse("tombstone://db", Options{Graveyard: dir})
	if err != nil {
		t.Fatal(err)
	}
	done := waitInBackground(t, tg)
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = w.Ready(time.Now())
	}()
	if err := <-done; err != nil {
		t.Fatalf("Wait = %v", err)
	}
}

// TestTombstoneWaitTimeoutSaysWhy: the failure report carries the
// container's state, not "no attempt finished".
func TestTombstoneWaitTimeoutSaysWhy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := tsWriter(t, dir, "web", "db")
	if err := w.Born(1, time.Now()); err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]string{
		"tombstone://db":                "tombstone://db: no tombstone yet (",
		"tombstone://web":               "tombstone://web: born, not ready (",
		"tombstone://web?state=died":    "tombstone://web?state=died: alive, born, not ready (",
		"tombstone://nobody?state=died": "tombstone://nobody?state=died: no tombstone yet (",
	} {
		t.Run(raw, func(t *testing.T) {
			t.Parallel()
			tg, err := Parse(raw, Options{Graveyard: dir})
			if err != nil {
				t.Fatal(err)
			}
			// Longer than one hold, so that one attempt ends well before
			// the deadline however busy the machine. The last attempt
			// returns just before the deadline (tombstoneMargin): the
			// context is done 2s after it, so that the loop, which
			// abandons an attempt abandonAfter after the context is
			// done, collects that attempt's reason however late a busy
			// machine runs its return.
			ctx := lateDone(t, tombstoneHold+500*time.Millisecond, 2*time.Second)
			r, err := Wait(ctx, []*Target{tg}, Schedule{}, nil, nil)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait = %v, want DeadlineExceeded", err)
			}
			if got := r.Pending(); !strings.HasPrefix(got, want) {
				t.Errorf("Pending() = %q, want %q...", got, want)
			}
		})
	}
}

func TestTombstoneDied(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := tsWriter(t, dir, "app")
	if err := w.Born(1, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := w.Ready(time.Now()); err != nil {
		t.Fatal(err)
	}
	tg, err := Parse("tombstone://app?state=died", Options{Graveyard: dir})
	if err != nil {
		t.Fatal(err)
	}
	done := waitInBackground(t, tg)
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v while app is alive", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := w.Died(3, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Wait = %v after app died", err)
	}
	// Ready is never true again for a dead container.
	ready, _ := Parse("tombstone://app", Options{Graveyard: dir})
	cctx, ccancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer ccancel()
	if err := ready.Prober.Check(cctx); err == nil || err.Error() != "died with exit code 3" {
		t.Errorf("Check(ready) on a dead container = %v", err)
	}
}

// TestTombstoneCycle: two containers waiting for each other are reported at
// once as a cycle, with no hold.
func TestTombstoneCycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tsWriter(t, dir, "a", "b")
	tsWriter(t, dir, "b", "c", "a")
	tg, err := Parse("tombstone://b", Options{Graveyard: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), tsHang)
	defer cancel()
	start := time.Now()
	err = tg.Prober.Check(ctx)
	var ce *tombstone.CycleError
	if !errors.As(err, &ce) || err.Error() != "birth deps form a cycle: b -> a -> b" {
		t.Fatalf("Check = %v, want the cycle b -> a -> b", err)
	}
	if took := time.Since(start); took >= tombstoneHold {
		t.Errorf("Check held %s on a cycle", took)
	}
}

// waitInBackground runs Wait on tg, with a deadline of tsHang, in a goroutine
// and returns the channel its error comes on.
func waitInBackground(t *testing.T, tg *Target) <-chan error {
	ctx, cancel := context.WithTimeout(t.Context(), tsHang)
	done := make(chan error, 1)
	go func() {
		defer cancel()
		_, err := Wait(ctx, []*Target{tg}, Schedule{}, nil, nil)
		done <- err
	}()
	return done
}

// lateDoneCtx is a context whose deadline passes before it is done.
type lateDoneCtx struct {
	context.Context
	deadline time.Time
}

func (c lateDoneCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// lateDone returns a context whose deadline is d from now, and which is done
// late after it (context.DeadlineExceeded), as if its timer fired late. Probers
// and the loop go by the deadline, the loop abandons an attempt by Done: an
// attempt that returns just before the deadline is never abandoned because a
// busy machine ran it late.
func lateDone(t *testing.T, d, late time.Duration) context.Context {
	deadline := time.Now().Add(d)
	ctx, cancel := context.WithDeadline(t.Context(), deadline.Add(late))
	t.Cleanup(cancel)
	return lateDoneCtx{ctx, deadline}
}
