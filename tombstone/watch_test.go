package tombstone

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// hang bounds waits that only fail when something hangs.
const hang = 30 * time.Second

// TestWatchSeesTombstonesAlreadyThere: a tombstone written before the watch
// started counts (kubexit#6), with no event and no rescan.
func TestWatchSeesTombstonesAlreadyThere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wr, err := CreateDeclared(dir, "app", Declared{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Close()
	if err := wr.Died(0, t0); err != nil {
		t.Fatal(err)
	}
	w, err := Watch(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if err := w.Until(ctx, func(get func(string) Status) bool { return get("app").IsDead() }); err != nil {
		t.Fatalf("Until: %v", err)
	}
}

// TestWatchIsEventDriven: with an hour between rescans, only inotify events
// can release the waiter, through every state.
func TestWatchIsEventDriven(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, err := Watch(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Polling() {
		t.Fatal("inotify not available: the watcher polls")
	}
	wr, err := CreateDeclared(dir, "db", Declared{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Close()
	steps := []struct {
		write func() error
		want  State
	}{
		{func() error { return nil }, Waiting},
		{func() error { return wr.Born(9, time.Now()) }, Born},
		{func() error { return wr.Ready(time.Now()) }, Ready},
		{func() error { return wr.Died(3, time.Now()) }, Died},
	}
	for _, s := range steps {
		if err := s.write(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		var last Status
		err := w.Until(ctx, func(get func(string) Status) bool {
			last = get("db")
			return last.Tombstone != nil && last.Tombstone.State == s.want
		})
		cancel()
		if err != nil {
			t.Fatalf("waiting for %s: %v (last: %s)", s.want, err, last.Reason())
		}
	}
	if r := w.Get("db").Reason(); r != "died with exit code 3" {
		t.Errorf("Reason = %q", r)
	}
}

func TestUntilEndsWithContext(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, err := Watch(dir, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var last Status
	err = w.Until(ctx, func(get func(string) Status) bool { last = get("nobody"); return last.IsReady() })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Until = %v, want DeadlineExceeded", err)
	}
	if last.Reason() != "no tombstone yet" {
		t.Errorf("Reason = %q", last.Reason())
	}
}

// TestCorruptTombstoneThenFixed: a corrupt file is a reason, not a panic or
// the end; a good write after it is seen.
func TestCorruptTombstoneThenFixed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(Path(dir, "db"), []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := Watch(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	s := w.Get("db")
	if s.IsReady() || s.IsDead() || !strings.HasPrefix(s.Reason(), "tombstone "+dir+"/db: line 1:") {
		t.Fatalf("corrupt: %q", s.Reason())
	}
	wr, err := CreateDeclared(dir, "db", Declared{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Close()
	if err := wr.Born(1, t0); err != nil {
		t.Fatal(err)
	}
	if err := wr.Ready(t0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if err := w.Until(ctx, func(get func(string) Status) bool { return get("db").IsReady() }); err != nil {
		t.Fatal(err)
	}
}

func TestReasons(t *testing.T) {
	t.Parallel()
	for want, s := range map[string]Status{
		"no tombstone yet":                         {Err: ErrNoTombstone},
		"waiting":                                  {Tombstone: &Tombstone{State: Waiting}},
		"waiting for its birth deps (a, b)":        {Tombstone: &Tombstone{State: Waiting, BirthDeps: []string{"a", "b"}}},
		"born, not ready":                          {Tombstone: &Tombstone{State: Born}},
		"ready":                                    {Tombstone: &Tombstone{State: Ready}},
		"died with exit code 0":                    {Tombstone: &Tombstone{State: Died}},
		"born, not ready, but its podseq run is":   {Tombstone: &Tombstone{State: Born}, Gone: true},
		"skipped: step build exited with code 3":   {Tombstone: &Tombstone{State: Skipped, FailedStep: "build", FailedExitCode: 3}},
		"skipped: step build was killed before":    {Tombstone: &Tombstone{State: Skipped, FailedStep: "build", FailedExitCode: -1}},
		"died with exit code 124 (timed out after": {Tombstone: &Tombstone{State: Died, ExitCode: 124, TimedOut: time.Second}},
	} {
		if got := s.Reason(); !strings.HasPrefix(got, want) {
			t.Errorf("Reason() = %q, want %q", got, want)
		}
	}
}

// Polling reports whether the watcher polls because inotify was not
// available; only tests ask.
func (w *Watcher) Polling() bool { return w.fsw == nil }
