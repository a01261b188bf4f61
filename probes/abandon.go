package probes

import (
	"context"
	"errors"
	"sync"
	"time"
)

// abandonAfter is how long the loop still waits for an attempt once the whole
// wait has ended (its deadline passed, or a signal canceled it) before it
// abandons the attempt. A Prober must return promptly when its context ends;
// this bounds the wait of one that does not (a system call that cannot be
// interrupted, a bug), so that the deadline and signals keep their word.
const abandonAfter = 200 * time.Millisecond

// errAbandoned is the last error of a target whose attempt was abandoned.
var errAbandoned = errors.New("attempt stuck: it did not return when the wait ended, abandoned")

// runAttempt runs one attempt, p.Check(actx), and returns its error. When
// wait (the whole wait, the parent of actx) ends and the attempt has not
// returned within abandonAfter, runAttempt returns errAbandoned and leaves
// the attempt to end, or not, in its own goroutine, which then owns the
// prober: it gives owner back when Check returns, and until then no other
// attempt may start on p (see probeTarget).
func runAttempt(wait, actx context.Context, p Prober, owner *slot) error {
	done := make(chan error, 1) // the abandoned goroutine never blocks on it
	go func() { done <- p.Check(actx) }()
	select {
	case err := <-done:
		return err
	case <-wait.Done():
	}
	t := time.NewTimer(abandonAfter)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		go func() {
			<-done
			owner.give()
		}()
		return errAbandoned
	}
}

// slot is the right to run attempts on one target's prober: a prober's state
// (the latest response, a hold, a buffer) belongs to one attempt at a time.
// The loop probing the target holds it, and hands it to an attempt it
// abandons, which gives it back when it returns. The zero slot is free.
type slot struct {
	once sync.Once
	c    chan struct{} // holds a token while the slot is taken
}

func (s *slot) token() chan struct{} {
	s.once.Do(func() { s.c = make(chan struct{}, 1) })
	return s.c
}

// tryTake takes the slot if it is free, and reports whether it did.
func (s *slot) tryTake() bool {
	select {
	case s.token() <- struct{}{}:
		return true
	default:
		return false
	}
}

// take waits until it took the slot, or ctx is done (false).
func (s *slot) take(ctx context.Context) bool {
	select {
	case s.token() <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// give frees the slot.
func (s *slot) give() { <-s.token() }

// errEarlierStuck is the error of a target whose earlier wait abandoned an
// attempt that has not returned yet: a new wait starts no attempt beside it.
var errEarlierStuck = errors.New("an earlier attempt is still stuck: no new attempt until it returns")
