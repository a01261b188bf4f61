package probes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hangBound bounds what only fails by hanging: it is not a speed goal.
const hangBound = 20 * time.Second

// pipeOpener is a Prober stuck the way a reader of a named pipe used to be:
// its open(2) waits for a writer, whatever the context says.
type pipeOpener struct {
	path    string
	once    sync.Once
	started chan struct{}
}

// newPipeOpener makes a named pipe that nobody writes; the pipe is opened
// for writing when the test ends, which lets a stuck attempt go.
func newPipeOpener(t *testing.T) *pipeOpener {
	t.Helper()
	p := &pipeOpener{path: filepath.Join(t.TempDir(), "pipe"), started: make(chan struct{})}
	if err := syscall.Mkfifo(p.path, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// O_RDWR never blocks on Linux and counts as a writer.
		if f, err := os.OpenFile(p.path, os.O_RDWR, 0); err == nil {
			f.Close()
		}
	})
	return p
}

func (p *pipeOpener) Check(context.Context) error {
	p.once.Do(func() { close(p.started) })
	f, err := os.Open(p.path)
	if err != nil {
		return err
	}
	f.Close()
	return errors.New("opened")
}

// waitReturns runs Wait and fails the test if it has not returned within
// hangBound.
func waitReturns(t *testing.T, ctx context.Context, tg *Target) (Report, error) {
	t.Helper()
	type result struct {
		r   Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := Wait(ctx, []*Target{tg}, Schedule{AttemptTimeout: 100 * time.Millisecond}, nil, nil)
		done <- result{r, err}
	}()
	select {
	case res := <-done:
		return res.r, res.err
	case <-time.After(hangBound):
		t.Fatalf("Wait still runs %s later: it waits for a stuck attempt", hangBound)
	}
	return Report{}, nil
}

// TestWaitAbandonsAStuckAttempt: an attempt that ignores its context (a
// system call that cannot be interrupted) does not hold the wait past its
// deadline, nor past a cancel (a signal); the failure says it was stuck.
func TestWaitAbandonsAStuckAttempt(t *testing.T) {
	t.Parallel()
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		p := newPipeOpener(t)
		tg := &Target{Kind: "test", Name: "stuck", Local: true, Prober: p}
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		r, err := waitReturns(t, ctx, tg)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait = %v, want the deadline", err)
		}
		if got, want := r.Pending(), "stuck: "+errAbandoned.Error()+" (0 attempts)"; got != want {
			t.Errorf("Pending() = %q, want %q", got, want)
		}
	})
	t.Run("signal", func(t *testing.T) {
		t.Parallel()
		p := newPipeOpener(t)
		tg := &Target{Kind: "test", Name: "stuck", Local: true, Prober: p}
		ctx, cancel := context.WithCancelCause(t.Context())
		defer cancel(nil)
		go func() {
			<-p.started
			cancel(errors.New("interrupted by SIGTERM"))
		}()
		r, err := waitReturns(t, ctx, tg)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Wait = %v, want canceled", err)
		}
		if got, want := r.Pending(), "stuck: "+errAbandoned.Error()+" (0 attempts)"; got != want {
			t.Errorf("Pending() = %q, want %q", got, want)
		}
	})
}

// TestWaitCanceledDuringFirstAttempt: a signal during the first attempt is
// named as what cut it short, not a deadline that never passed.
func TestWaitCanceledDuringFirstAttempt(t *testing.T) {
	t.Parallel()
	silent := silentListener(t)
	tg := mustParse(t, "http://"+silent+"/", Options{})
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	var once sync.Once
	observe := func(Attempt) { once.Do(func() { t.Error("an attempt finished on a target that never answers") }) }
	time.AfterFunc(200*time.Millisecond, func() { cancel(errors.New("interrupted by SIGTERM")) })
	r, err := Wait(ctx, []*Target{tg}, Schedule{AttemptTimeout: time.Minute}, observe, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want canceled", err)
	}
	if got, want := r.Pending(), "http://"+silent+"/: first attempt cut short: interrupted by SIGTERM (0 attempts)"; got != want {
		t.Errorf("Pending() = %q, want %q", got, want)
	}
	if r.Cause == nil || r.Cause.Error() != "interrupted by SIGTERM" {
		t.Errorf("Cause = %v", r.Cause)
	}
}

// TestFileAndUnixNeverOpenAPipe: file:// and unix:// targets that are named
// pipes answer at once: file:// only looks the name up (the pipe exists),
// unix:// says it is not a socket. Neither ever opens the pipe.
func TestFileAndUnixNeverOpenAPipe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pipe := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(pipe, link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{pipe, link} {
		ctx, cancel := context.WithTimeout(t.Context(), hangBound)
		r, err := waitReturns(t, ctx, mustParse(t, "file://"+path, Options{}))
		cancel()
		if err != nil {
			t.Errorf("file://%s: %v (%s)", path, err, r.Pending())
		}
		ctx, cancel = context.WithTimeout(t.Context(), time.Second)
		r, err = waitReturns(t, ctx, mustParse(t, "unix://"+path, Options{}))
		cancel()
		if want := "unix://" + path + ": not a socket ("; !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(r.Pending(), want) {
			t.Errorf("unix://%s: %v, %q, want %q...", path, err, r.Pending(), want)
		}
	}
}

// blockedProber is a Prober whose Check ignores its context and blocks until
// released, and that keeps mutable state the way real probers do (a
// response, a counter), written by every Check without a lock.
type blockedProber struct {
	entered chan struct{} // receives once per Check that starts
	release chan struct{} // closing it lets every Check return
	running atomic.Int32  // Checks running now
	most    atomic.Int32  // the most Checks that ever ran at once
	checks  int           // unlocked, as a prober's own state
}

func (p *blockedProber) Check(context.Context) error {
	n := p.running.Add(1)
	defer p.running.Add(-1)
	for m := p.most.Load(); n > m && !p.most.CompareAndSwap(m, n); m = p.most.Load() {
	}
	p.checks++
	p.entered <- struct{}{}
	<-p.release
	p.checks++ // as a response's headers are kept once it came
	return nil
}

// TestNoAttemptBesideAnAbandonedOne: after a wait abandoned a stuck attempt,
// the next wait on the same target starts no attempt of its own until the
// stuck one returns (a prober's state belongs to one attempt), says so when
// its deadline comes first, and probes as usual once the stuck one returned.
func TestNoAttemptBesideAnAbandonedOne(t *testing.T) {
	t.Parallel()
	p := &blockedProber{entered: make(chan struct{}, 10), release: make(chan struct{})}
	released := false
	release := func() {
		if !released {
			released = true
			close(p.release)
		}
	}
	defer release()
	tg := &Target{Kind: "test", Name: "stuck", Local: true, Prober: p}

	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-p.entered
		cancel()
	}()
	r, err := waitReturns(t, ctx, tg)
	cancel()
	if !errors.Is(err, context.Canceled) || !strings.Contains(r.Pending(), errAbandoned.Error()) {
		t.Fatalf("first wait = %v, %q, want the attempt abandoned", err, r.Pending())
	}

	// The first attempt still runs. A second wait must not start another;
	// its deadline is what ends it, whenever it comes.
	ctx, cancel = context.WithTimeout(t.Context(), 300*time.Millisecond)
	r, err = waitReturns(t, ctx, tg)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second wait = %v, want the deadline", err)
	}
	if got, want := r.Pending(), "stuck: "+errEarlierStuck.Error()+" (0 attempts)"; got != want {
		t.Errorf("second wait: Pending() = %q, want %q", got, want)
	}
	if n := p.most.Load(); n != 1 {
		t.Errorf("%d Checks ran at once on one prober, want 1", n)
	}

	// Once the stuck attempt returns, a wait probes again.
	release()
	ctx, cancel = context.WithTimeout(t.Context(), hangBound)
	_, err = waitReturns(t, ctx, tg)
	cancel()
	if err != nil {
		t.Errorf("wait after the stuck attempt returned = %v, want ready", err)
	}
	if n := p.most.Load(); n != 1 {
		t.Errorf("%d Checks ran at once on one prober, want 1", n)
	}
}
