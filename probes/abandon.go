package probes

import (
	"context"
	"errors"
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
// the attempt to end, or not, in its own goroutine: the caller must not start
// another attempt on p then.
func runAttempt(wait, actx context.Context, p Prober) error {
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
		return errAbandoned
	}
}
