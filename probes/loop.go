package probes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The default schedule. Attempts on one target start FirstInterval apart and
// the interval doubles after each failure up to the period: a target that is
// already ready is seen at once, a local one at most DefaultLocalPeriod (or 1 %
// of the wait so far, see PeriodGrowth) after it turns ready, and a remote one
// (a database an init container waits for) is asked at most once a second.
const (
	// FirstInterval is the interval after the first failed attempt.
	FirstInterval = time.Millisecond
	// DefaultLocalPeriod is the period of loopback, unix-socket, file and
	// tombstone targets.
	DefaultLocalPeriod = 5 * time.Millisecond
	// DefaultExecPeriod is the period of exec probes: each attempt forks.
	DefaultExecPeriod = 100 * time.Millisecond
	// DefaultRemotePeriod is the period of every other target.
	DefaultRemotePeriod = time.Second
	// DefaultAttemptTimeout bounds one attempt, as kubelet's timeoutSeconds.
	DefaultAttemptTimeout = time.Second
	// DefaultTimeout is a wait's overall deadline: podseq wait's --timeout,
	// podseq run's --birth-timeout, and what podseq inject writes. Kubelet
	// never times out a postStart hook, so podseq must: a container that
	// waits forever is worse than one that fails.
	DefaultTimeout = 2 * time.Minute
	// DefaultReadyPeriod is Monitor's period on a target once it is ready.
	DefaultReadyPeriod = time.Second
	// DefaultFailureThreshold is how many consecutive failures make Monitor
	// call a ready target not ready, as kubelet.
	DefaultFailureThreshold = 3
)

// Schedule says when each target is probed and what counts as ready.
type Schedule struct {
	// InitialDelay passes before the first attempt.
	InitialDelay time.Duration
	// Period is the longest interval between the starts of two attempts on one
	// target. Zero picks DefaultLocalPeriod, DefaultExecPeriod or
	// DefaultRemotePeriod by target, growing with the wait (PeriodGrowth).
	Period time.Duration
	// AttemptTimeout bounds one attempt. Zero means DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// SuccessThreshold is how many consecutive successes make a target ready.
	// Zero means 1.
	SuccessThreshold int
	// FailureThreshold is how many consecutive failures make a ready target
	// not ready again (Monitor only). Zero means DefaultFailureThreshold.
	FailureThreshold int
	// ReadyPeriod is the period on a target once it is ready (Monitor only).
	// Zero means DefaultReadyPeriod.
	ReadyPeriod time.Duration
}

func (s Schedule) period(t *Target) time.Duration {
	switch {
	case s.Period > 0:
		return s.Period
	case t.Kind == "exec":
		return DefaultExecPeriod
	case t.Local:
		return DefaultLocalPeriod
	}
	return DefaultRemotePeriod
}

func (s Schedule) attemptTimeout() time.Duration {
	if s.AttemptTimeout > 0 {
		return s.AttemptTimeout
	}
	return DefaultAttemptTimeout
}

func (s Schedule) successThreshold() int { return max(s.SuccessThreshold, 1) }

func (s Schedule) failureThreshold() int {
	if s.FailureThreshold > 0 {
		return s.FailureThreshold
	}
	return DefaultFailureThreshold
}

func (s Schedule) readyPeriod() time.Duration {
	if s.ReadyPeriod > 0 {
		return s.ReadyPeriod
	}
	return DefaultReadyPeriod
}

// Attempt is one finished attempt, for observers such as metrics.
type Attempt struct {
	Target   *Target
	Start    time.Time
	Duration time.Duration
	// Err is nil when the attempt succeeded.
	Err error
}

// Status is where one target stands.
type Status struct {
	Target *Target
	// Ready reports whether the target met the success threshold (and, in
	// Monitor, has not failed the failure threshold since).
	Ready bool
	// Attempts counts finished attempts.
	Attempts int
	// LastErr is the error of the latest failed attempt, nil if none failed.
	LastErr error
	// ReadyAt is when the target last turned ready.
	ReadyAt time.Time
}

// Report is where every target stands.
type Report struct {
	Start   time.Time
	End     time.Time
	Targets []Status
	// Cause is why Wait stopped before every target was ready:
	// context.Cause of its context (context.DeadlineExceeded, or what
	// canceled it, such as a signal). Nil otherwise.
	Cause error
}

// Elapsed is how long the wait took, or has taken so far.
func (r Report) Elapsed() time.Duration { return r.End.Sub(r.Start) }

// Attempts counts the attempts on every target.
func (r Report) Attempts() int {
	n := 0
	for _, s := range r.Targets {
		n += s.Attempts
	}
	return n
}

// Pending describes, on one line, every target that is not ready: its name,
// its last error and how many attempts it took, separated by "; ".
func (r Report) Pending() string { return r.PendingWith(nil) }

// PendingWith is Pending with each last error worded by word (nil:
// err.Error()), such as an AttemptTimeoutError with its flag's name.
func (r Report) PendingWith(word func(error) string) string {
	if word == nil {
		word = func(err error) string { return err.Error() }
	}
	var b strings.Builder
	for _, s := range r.Targets {
		if s.Ready {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(s.Target.Name)
		b.WriteString(": ")
		switch {
		case s.LastErr != nil:
			b.WriteString(oneLine(word(s.LastErr)))
		case r.Cause != nil && !errors.Is(r.Cause, context.DeadlineExceeded):
			// Canceled (by a signal) during the first attempt: no deadline
			// passed.
			b.WriteString("first attempt cut short: " + oneLine(r.Cause.Error()))
		default:
			b.WriteString("no attempt finished before the deadline")
		}
		fmt.Fprintf(&b, " (%d attempt%s)", s.Attempts, plural(s.Attempts))
	}
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// oneLine folds a message onto one line, so that it cannot break the first
// line of a failure report.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// attemptTimedOut is how a prober says that its attempt's context ended.
const attemptTimedOut = "attempt timed out"

// AttemptTimeoutError is the error of an attempt that ran into the
// per-attempt limit, Schedule.AttemptTimeout (not the overall deadline).
// Its message names the limit: "attempt timed out after 1s".
type AttemptTimeoutError struct {
	// Limit is the per-attempt limit that ended the attempt.
	Limit time.Duration
	// Err is what the prober said: "attempt timed out", "reading body:
	// attempt timed out", ...
	Err error
}

// Error says what timed out and after how long.
func (e *AttemptTimeoutError) Error() string { return e.Words("") }

// Words is Error with the name of the setting of the limit (a flag, such
// as "--attempt-timeout") after it, when name is not empty: "attempt timed
// out after 1s (--attempt-timeout)".
func (e *AttemptTimeoutError) Words(name string) string {
	limit := " after " + e.Limit.String()
	if name != "" {
		limit += " (" + name + ")"
	}
	msg := e.Err.Error()
	if i := strings.Index(msg, attemptTimedOut); i >= 0 {
		i += len(attemptTimedOut)
		return msg[:i] + limit + msg[i:]
	}
	return attemptTimedOut + limit + ": " + msg
}

// Unwrap returns what the prober said.
func (e *AttemptTimeoutError) Unwrap() error { return e.Err }

// Observer is called after every attempt, from the target's own goroutine.
type Observer func(Attempt)

// board is the shared, locked view of every target's status.
type board struct {
	mu    sync.Mutex
	start time.Time
	st    []Status
}

func newBoard(targets []*Target) *board {
	b := &board{start: time.Now(), st: make([]Status, len(targets))}
	for i, t := range targets {
		b.st[i].Target = t
	}
	return b
}

func (b *board) report() Report {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Report{Start: b.start, End: time.Now(), Targets: append([]Status(nil), b.st...)}
}

// ProgressEvery is how often a wait (podseq wait, and podseq run's wait for
// its birth deps and for the steps it runs after) reports the targets still
// pending.
const ProgressEvery = 5 * time.Second

// Progress is called by Wait every Every (ProgressEvery, as podseq's waits
// use it) with the status so far.
type Progress struct {
	Every time.Duration
	Func  func(Report)
}

// Wait probes every target concurrently until all of them are ready, and
// returns nil then. It stops when ctx is done and returns ctx's error: give ctx
// the overall deadline. A target that turned ready is not probed again.
// observe and progress may be nil.
func Wait(ctx context.Context, targets []*Target, s Schedule, observe Observer, progress *Progress) (Report, error) {
	if len(targets) == 0 {
		return Report{}, errors.New("no target to wait for")
	}
	b := newBoard(targets)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	remaining := len(targets)
	allReady := make(chan struct{})
	wg := b.probeAll(ctx, targets, s, observe, func(st *Status, ready bool, at time.Time) bool {
		if ready && !st.Ready {
			st.Ready, st.ReadyAt = true, at
			remaining--
			if remaining == 0 {
				close(allReady)
			}
		}
		return ready // a ready target is done
	})
	var tick <-chan time.Time
	if progress != nil && progress.Every > 0 && progress.Func != nil {
		t := time.NewTicker(progress.Every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-allReady:
			cancel()
			wg.Wait()
			r := b.report()
			return r, nil
		case <-ctx.Done():
			wg.Wait()
			r := b.report()
			select {
			case <-allReady: // the last target turned ready as the deadline came
				return r, nil
			default:
			}
			r.Cause = context.Cause(ctx)
			return r, ctx.Err()
		case <-tick:
			if ctx.Err() != nil || endsWithin(ctx, progress.Every/100) {
				continue // the deadline is here: its failure line is the next one, not a progress line
			}
			if r := b.report(); r.Pending() != "" { // not when the last target just turned ready
				progress.Func(r)
			}
		}
	}
}

// endsWithin reports whether ctx's deadline is less than d away.
func endsWithin(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < d
}

// Monitor probes every target until ctx is done, and calls onChange each time
// the targets turn ready together (each met the success threshold) or stop
// being ready (one failed the failure threshold). onChange is called from
// Monitor's goroutines, one call at a time, first with ready=true; Monitor
// starts not ready and reports nothing until then.
func Monitor(ctx context.Context, targets []*Target, s Schedule, observe Observer, onChange func(ready bool, r Report)) {
	if len(targets) == 0 {
		return
	}
	b := newBoard(targets)
	notReady := len(targets)
	b.probeAll(ctx, targets, s, observe, func(st *Status, ready bool, at time.Time) bool {
		if ready == st.Ready {
			return false
		}
		st.Ready = ready
		before := notReady == 0
		if ready {
			st.ReadyAt = at
			notReady--
		} else {
			notReady++
		}
		if now := notReady == 0; now != before {
			onChange(now, Report{Start: b.start, End: at, Targets: append([]Status(nil), b.st...)})
		}
		return false
	}).Wait()
}

// probeAll probes every target in a goroutine of its own. After each attempt
// it records the attempt on the board and calls decide, under the board's
// lock, with the target's status and its readiness by the schedule; decide
// updates the status and returns whether that target is done.
func (b *board) probeAll(ctx context.Context, targets []*Target, s Schedule, observe Observer, decide func(st *Status, ready bool, at time.Time) bool) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			probeTarget(ctx, t, s, observe, func(ready bool, at time.Time, attempts int, err error) bool {
				b.mu.Lock()
				defer b.mu.Unlock()
				st := &b.st[i]
				st.Attempts = attempts
				if err != nil {
					st.LastErr = err
				}
				return decide(st, ready, at)
			})
		}()
	}
	return &wg
}

// probeTarget is the one loop that probes one target. After each attempt it
// calls update with the target's readiness (by the schedule's thresholds), the
// attempt's end, the attempts so far and the attempt's error; it stops when
// update returns true or ctx is done.
func probeTarget(ctx context.Context, t *Target, s Schedule, observe Observer, update func(ready bool, at time.Time, attempts int, err error) bool) {
	l := newTargetLoop(ctx, t, s)
	defer l.timer.Stop()
	if !l.sleep(s.InitialDelay) || !l.takeProber(update) {
		return
	}
	defer l.releaseProber()
	for !l.cut() {
		start := time.Now()
		held, err := l.attempt()
		end := time.Now()
		if err == errAbandoned {
			l.owned = false
			update(l.ready, end, l.attempts, err) // said, but not a finished attempt
			return
		}
		if err != nil && l.cut() && (!held || isContextError(err)) {
			// The overall deadline cut this attempt short: its error says
			// nothing about the target, so keep the previous one. A held
			// attempt that ends with the deadline but gives the target's own
			// reason (a tombstone's state) still counts.
			return
		}
		l.attempts++
		if observe != nil {
			observe(Attempt{Target: t, Start: start, Duration: end.Sub(start), Err: err})
		}
		l.judge(err, end)
		if update(l.ready, end, l.attempts, err) || l.cut() {
			return
		}
		if !l.pause(start, end, held) {
			return
		}
	}
}

// targetLoop is the state of probeTarget's loop on one target.
type targetLoop struct {
	ctx         context.Context
	t           *Target
	s           Schedule
	holder      Holder       // nil unless the prober may hold requests
	retry       RetryAfterer // nil unless the prober keeps its last response
	pacer       pace
	deadline    time.Time
	hasDeadline bool
	timer       *time.Timer
	// owned is false once an abandoned attempt owns the prober.
	owned bool
	// notReadySince is when the target was first, or last, seen not ready:
	// the pace grows with the time since.
	notReadySince                       time.Time
	attempts, successes, failures, ramp int
	ready                               bool
}

func newTargetLoop(ctx context.Context, t *Target, s Schedule) *targetLoop {
	l := &targetLoop{ctx: ctx, t: t, s: s, pacer: s.pace(t), notReadySince: time.Now(), timer: time.NewTimer(time.Hour)}
	l.timer.Stop()
	l.holder, _ = t.Prober.(Holder)
	l.retry, _ = t.Prober.(RetryAfterer)
	l.deadline, l.hasDeadline = ctx.Deadline()
	return l
}

// sleep waits d, and reports false if ctx was done first.
func (l *targetLoop) sleep(d time.Duration) bool {
	l.timer.Reset(d)
	select {
	case <-l.ctx.Done():
		return false
	case <-l.timer.C:
		return true
	}
}

// takeProber takes the prober: one attempt at a time on a prober, and an
// attempt an earlier wait abandoned may still run (update hears of it). It
// reports false if ctx was done first.
func (l *targetLoop) takeProber(update func(ready bool, at time.Time, attempts int, err error) bool) bool {
	if l.t.owner.tryTake() {
		l.owned = true
		return true
	}
	update(false, time.Now(), 0, errEarlierStuck)
	l.owned = l.t.owner.take(l.ctx)
	return l.owned
}

// releaseProber gives the prober back, unless an abandoned attempt owns it.
func (l *targetLoop) releaseProber() {
	if l.owned {
		l.t.owner.give()
	}
}

// cut reports whether the overall deadline has come, even if ctx's timer
// has not fired yet: an attempt started or ended then says nothing about the
// target.
func (l *targetLoop) cut() bool {
	return l.ctx.Err() != nil || l.hasDeadline && !time.Now().Before(l.deadline)
}

// attempt runs one attempt, bounded by the attempt timeout plus the hold the
// target asked for (none for a hold that is negative: it blocks until the
// state is reached or ctx ends), and reports whether it was held.
func (l *targetLoop) attempt() (held bool, err error) {
	var hold time.Duration
	if l.holder != nil {
		hold = l.holder.Hold()
	}
	held = hold != 0
	if hold < 0 {
		return held, runAttempt(l.ctx, l.ctx, l.t.Prober, &l.t.owner)
	}
	actx, cancel := context.WithTimeout(l.ctx, hold+l.s.attemptTimeout())
	defer cancel()
	err = runAttempt(l.ctx, actx, l.t.Prober, &l.t.owner)
	if err != nil && !held && errors.Is(err, context.DeadlineExceeded) && errors.Is(actx.Err(), context.DeadlineExceeded) && !l.cut() {
		err = &AttemptTimeoutError{Limit: l.s.attemptTimeout(), Err: err}
	}
	return held, err
}

// judge counts an attempt that ended at end against the thresholds: ready
// after SuccessThreshold successes in a row, not ready again after
// FailureThreshold failures in a row.
func (l *targetLoop) judge(err error, end time.Time) {
	if err == nil {
		l.successes, l.failures = l.successes+1, 0
		if l.successes >= l.s.successThreshold() {
			l.ready = true
		}
		return
	}
	l.successes, l.failures = 0, l.failures+1
	if l.ready && l.failures >= l.s.failureThreshold() {
		l.ready, l.ramp, l.notReadySince = false, 0, end
	}
}

// pause waits until the next attempt is due: the ready period once ready,
// else the pace (which grows with the time waited). A held attempt that
// lasted the interval goes again at once. It reports false if ctx was done
// first.
func (l *targetLoop) pause(start, end time.Time, held bool) bool {
	var next time.Duration
	if l.ready {
		next = l.s.readyPeriod()
	} else {
		var resp *http.Response
		if l.retry != nil {
			resp = l.retry.LastResponse()
		}
		next = l.pacer.interval(start.Sub(l.notReadySince), l.ramp, requests(l.t.Prober), resp)
		l.ramp++
	}
	if held && l.holder.Hold() != 0 && end.Sub(start) >= next {
		// The target held the request as long as it could and let go: ask
		// again at once.
		return true
	}
	wait := time.Until(start.Add(next))
	if wait <= 0 {
		return l.ctx.Err() == nil
	}
	return l.sleep(wait)
}
