package entrypoint

import (
	"sync"
	"sync/atomic"
)

// readiness is the child's readiness as /ready serves it, with a broadcast for
// long polls: each not-ready spell has its own channel, closed the instant the
// child turns ready, so that every waiter is released at once and none polls.
type readiness struct {
	mu     sync.Mutex
	ready  bool
	reason string // why not ready
	// turned is closed when the child turns ready; a fresh one is made when
	// it turns not ready again.
	turned chan struct{}
	// final is set once the child died: readiness never changes again.
	final bool
	// done is closed at shutdown: every waiter is answered 503.
	done      chan struct{}
	closeOnce sync.Once
	// waiters counts the long polls in progress.
	waiters atomic.Int64
	// burst is set when burstWaiters long polls were held at once, until
	// they all have been answered.
	burst atomic.Bool
	// held are the connections of the long polls held, woken when the child
	// turns ready and at shutdown.
	held heldConns
}

func newReadiness(reason string) *readiness {
	return &readiness{reason: reason, turned: make(chan struct{}), done: make(chan struct{})}
}

// get returns the readiness, why not, and the channel closed when the child
// turns ready (when it is not).
func (r *readiness) get() (ready bool, reason string, turned <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready, r.reason, r.turned
}

// set changes the readiness and reports whether it changed. A reason given
// with ready=false replaces the current one.
func (r *readiness) set(ready bool, reason string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.final {
		return false
	}
	if !ready && reason != "" {
		r.reason = reason
	}
	if ready == r.ready {
		return false
	}
	r.ready = ready
	if ready {
		close(r.turned)
		r.held.wake()
	} else {
		r.turned = make(chan struct{})
	}
	return true
}

// setReason sets why the child is not ready.
func (r *readiness) setReason(reason string) {
	r.mu.Lock()
	r.reason = reason
	r.mu.Unlock()
}

// setReasonIfNotReady sets why the child is not ready, unless it is ready.
func (r *readiness) setReasonIfNotReady(reason string) {
	r.mu.Lock()
	if !r.ready && !r.final {
		r.reason = reason
	}
	r.mu.Unlock()
}

// finish freezes the readiness: the child died.
func (r *readiness) finish() {
	r.mu.Lock()
	r.final = true
	r.mu.Unlock()
}

// close releases every waiter, for good.
func (r *readiness) close() {
	r.closeOnce.Do(func() {
		close(r.done)
		r.held.wake()
	})
}
