package probes

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scripted serves the status codes of script in turn, then 200 forever, and
// counts requests.
func scripted(t *testing.T, script ...int) (string, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		i := int(n.Add(1)) - 1
		if i < len(script) {
			w.WriteHeader(script[i])
		}
	})
	return url, &n
}

func TestWaitSuccessThreshold(t *testing.T) {
	t.Parallel()
	// 200 then 503 resets the count; three 200s in a row make it ready.
	url, n := scripted(t, 503, 200, 503, 200, 200)
	tg := mustParse(t, url+"/", Options{})
	r, err := waitDeadline(t, 30*time.Second, Schedule{SuccessThreshold: 3}, tg)
	if err != nil {
		t.Fatalf("Wait: %v (%s)", err, r.Pending())
	}
	// Attempts 4, 5 and 6 are the three successes.
	if got := n.Load(); got != 6 || r.Targets[0].Attempts != 6 {
		t.Errorf("ready after %d requests (%d attempts), want 6", got, r.Targets[0].Attempts)
	}
	if r.Targets[0].LastErr == nil || r.Targets[0].LastErr.Error() != "503 Service Unavailable" {
		t.Errorf("LastErr = %v, want the last failure", r.Targets[0].LastErr)
	}
}

func TestWaitInitialDelay(t *testing.T) {
	t.Parallel()
	var first atomic.Int64
	url := serve(t, func(http.ResponseWriter, *http.Request) {
		first.CompareAndSwap(0, time.Now().UnixNano())
	})
	tg := mustParse(t, url+"/", Options{})
	start := time.Now()
	r, err := waitDeadline(t, 30*time.Second, Schedule{InitialDelay: 300 * time.Millisecond}, tg)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if d := time.Unix(0, first.Load()).Sub(start); d < 300*time.Millisecond {
		t.Errorf("first attempt %s after the start, want at least the initial delay", d)
	}
	if r.Targets[0].Attempts != 1 {
		t.Errorf("%d attempts, want 1", r.Targets[0].Attempts)
	}
	// An initial delay longer than the deadline: no attempt at all.
	r, err = waitDeadline(t, 200*time.Millisecond, Schedule{InitialDelay: time.Hour}, tg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the deadline", err)
	}
	if got, want := r.Pending(), url+"/: no attempt finished before the deadline (0 attempts)"; got != want {
		t.Errorf("Pending() = %q, want %q", got, want)
	}
}

func TestWaitAttemptTimeout(t *testing.T) {
	t.Parallel()
	url := serveStop(t, func(stop <-chan struct{}) http.HandlerFunc {
		return func(_ http.ResponseWriter, r *http.Request) {
			select { // never answers
			case <-stop:
			case <-r.Context().Done():
			}
		}
	})
	tg := mustParse(t, url+"/", Options{})
	var mu sync.Mutex
	var longest time.Duration
	attempts := 0
	observe := func(a Attempt) {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		longest = max(longest, a.Duration)
		if a.Target != tg || a.Err == nil || a.Err.Error() != "attempt timed out after 100ms" {
			t.Errorf("attempt %+v, want a timeout of the target", a)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	r, err := Wait(ctx, []*Target{tg}, Schedule{AttemptTimeout: 100 * time.Millisecond}, observe, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the deadline", err)
	}
	mu.Lock()
	defer mu.Unlock()
	// Each attempt ends near 100ms: 2s hold several. The bound on the
	// longest only detects an attempt that ignores its timeout.
	if attempts < 3 || longest > time.Second {
		t.Errorf("%d attempts, the longest %s; want several of about 100ms", attempts, longest)
	}
	if attempts != r.Targets[0].Attempts {
		t.Errorf("the observer saw %d attempts, the report says %d", attempts, r.Targets[0].Attempts)
	}
}

func TestWaitRetryAfterCappedByPeriod(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	tg := mustParse(t, url+"/", Options{})
	_, err := waitDeadline(t, time.Second, Schedule{Period: 50 * time.Millisecond}, tg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the deadline", err)
	}
	// An hour's Retry-After honoured would make one request.
	if got := n.Load(); got < 4 {
		t.Errorf("%d requests in 1s with a 50ms period, want several", got)
	}
}

func TestWaitRetryAfterHonouredBelowPeriod(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var times []time.Time
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	tg := mustParse(t, url+"/", Options{})
	_, err := waitDeadline(t, 2500*time.Millisecond, Schedule{Period: time.Minute}, tg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the deadline", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(times) < 2 {
		t.Fatalf("%d requests in 2.5s, want 2 or 3 (Retry-After: 1)", len(times))
	}
	for i := 1; i < len(times); i++ {
		// Measured at the server: a slow dial of the earlier attempt can
		// shorten the gap it sees, so only a gap far below 1s is wrong.
		if d := times[i].Sub(times[i-1]); d < 500*time.Millisecond {
			t.Errorf("request %d came %s after the one before, want 1s (Retry-After: 1)", i, d)
		}
	}
}

// A target that turned ready is not probed again while Wait waits for the
// others.
func TestWaitReadyTargetNotProbedAgain(t *testing.T) {
	t.Parallel()
	fast, nFast := scripted(t)
	slow, nSlow := scripted(t, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503)
	a, b := mustParse(t, fast+"/", Options{}), mustParse(t, slow+"/", Options{})
	var progress []string
	var mu sync.Mutex
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	r, err := Wait(ctx, []*Target{a, b}, Schedule{Period: 30 * time.Millisecond}, nil, &Progress{Every: 20 * time.Millisecond, Func: func(r Report) {
		// Reports from before the ready target's one attempt finished
		// rightly name both (on a busy machine the first report can come
		// first).
		if !r.Targets[0].Ready {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		progress = append(progress, r.Pending())
	}})
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if nFast.Load() != 1 || nSlow.Load() != 13 {
		t.Errorf("requests: %d on the ready target, %d on the slow one; want 1 and 13", nFast.Load(), nSlow.Load())
	}
	if !r.Targets[0].Ready || !r.Targets[1].Ready || r.Targets[0].ReadyAt.After(r.Targets[1].ReadyAt) {
		t.Errorf("report %+v", r.Targets)
	}
	if r.Attempts() != 14 {
		t.Errorf("Attempts() = %d, want 14", r.Attempts())
	}
	mu.Lock()
	defer mu.Unlock()
	// The slow target's 12 failures, after pauses of 1, 2, 4, 8, 16 and then
	// 30ms, take over 200ms after the ready target's first attempt: progress
	// came in that time, and named only the slow target.
	if len(progress) == 0 {
		t.Fatal("no progress report after the ready target was ready")
	}
	for _, p := range progress {
		if !strings.HasPrefix(p, slow+"/: ") || strings.Contains(p, fast) {
			t.Errorf("progress %q, want only the slow target", p)
		}
	}
}

func TestWaitNoTarget(t *testing.T) {
	t.Parallel()
	if _, err := Wait(t.Context(), nil, Schedule{}, nil, nil); err == nil {
		t.Error("Wait with no target returned nil")
	}
}

// Canceling the context (a signal) ends Wait with context.Canceled.
func TestWaitCanceled(t *testing.T) {
	t.Parallel()
	tg := mustParse(t, "tcp://"+refusedAddr(t), Options{})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := Wait(ctx, []*Target{tg}, Schedule{}, nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Wait took %s to notice the cancel", took)
	}
}

func TestReportPending(t *testing.T) {
	t.Parallel()
	a := &Target{Name: "http://localhost:15021/ready"}
	b := &Target{Name: "tcp://db:5432"}
	c := &Target{Name: "exec /bin/check"}
	d := &Target{Name: "file:///tmp/ready"}
	r := Report{Targets: []Status{
		{Target: a, Attempts: 240, LastErr: errors.New("503 Service Unavailable")},
		{Target: b, Ready: true, Attempts: 3, LastErr: errors.New("connection refused")},
		{Target: c, Attempts: 1, LastErr: errors.New("exit status 1:\n  line one\r\n line two  \n")},
		{Target: d},
	}}
	want := "http://localhost:15021/ready: 503 Service Unavailable (240 attempts); " +
		"exec /bin/check: exit status 1: line one line two (1 attempt); " +
		"file:///tmp/ready: no attempt finished before the deadline (0 attempts)"
	if got := r.Pending(); got != want {
		t.Errorf("Pending() =\n%q, want\n%q", got, want)
	}
	if r.Attempts() != 244 {
		t.Errorf("Attempts() = %d, want 244", r.Attempts())
	}
	r.Start = time.Unix(100, 0)
	r.End = r.Start.Add(1500 * time.Millisecond)
	if r.Elapsed() != 1500*time.Millisecond {
		t.Errorf("Elapsed() = %s", r.Elapsed())
	}
	if got := (Report{Targets: []Status{{Target: a, Ready: true}}}).Pending(); got != "" {
		t.Errorf("Pending() of a ready report = %q", got)
	}
}

// toggle is a target whose readiness the test switches; it counts the
// requests it fails.
type toggle struct {
	url    string
	ready  atomic.Bool
	failed atomic.Int32
}

func newToggle(t *testing.T) *toggle {
	tg := &toggle{}
	tg.url = serve(t, func(w http.ResponseWriter, _ *http.Request) {
		if !tg.ready.Load() {
			tg.failed.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	return tg
}

type change struct {
	ready  bool
	failed int32 // requests failed by the toggled target so far
	report Report
}

func TestMonitor(t *testing.T) {
	t.Parallel()
	x, y := newToggle(t), newToggle(t)
	tx, ty := mustParse(t, x.url+"/", Options{}), mustParse(t, y.url+"/", Options{})
	changes := make(chan change, 10)
	var inCall atomic.Int32
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	s := Schedule{Period: 10 * time.Millisecond, ReadyPeriod: 20 * time.Millisecond, FailureThreshold: 3, SuccessThreshold: 2}
	go func() {
		defer close(done)
		Monitor(ctx, []*Target{tx, ty}, s, nil, func(ready bool, r Report) {
			if inCall.Add(1) != 1 {
				t.Error("onChange called concurrently")
			}
			changes <- change{ready: ready, failed: x.failed.Load(), report: r}
			inCall.Add(-1)
		})
	}()
	defer func() { cancel(); <-done }()
	next := func(want bool) change {
		t.Helper()
		select {
		case c := <-changes:
			if c.ready != want {
				t.Fatalf("onChange(%v), want onChange(%v)", c.ready, want)
			}
			return c
		case <-time.After(20 * time.Second):
			t.Fatalf("no onChange(%v)", want)
		}
		return change{}
	}
	noChange := func() {
		t.Helper()
		select {
		case c := <-changes:
			t.Fatalf("unexpected onChange(%v): %s", c.ready, c.report.Pending())
		case <-time.After(200 * time.Millisecond):
		}
	}
	// Only x ready: not ready together, nothing reported.
	x.ready.Store(true)
	noChange()
	y.ready.Store(true)
	c := next(true)
	if c.report.Pending() != "" || !c.report.Targets[0].Ready || !c.report.Targets[1].Ready {
		t.Errorf("ready report %+v", c.report)
	}
	// x fails: not ready once it failed 3 times in a row.
	before := x.failed.Load()
	x.ready.Store(false)
	c = next(false)
	if c.failed-before < 3 {
		t.Errorf("not ready after %d failures, want the failure threshold 3", c.failed-before)
	}
	if !strings.HasPrefix(c.report.Pending(), x.url+"/: 503 Service Unavailable (") {
		t.Errorf("not-ready report %q", c.report.Pending())
	}
	// x is back: ready again.
	x.ready.Store(true)
	next(true)
	noChange()
}

// A single failure below the failure threshold does not make a ready target
// not ready.
func TestMonitorFailureBelowThreshold(t *testing.T) {
	t.Parallel()
	// Monitor runs until the target answered this many requests (as many
	// failures as the threshold and more), however slow the machine.
	const requests = 4 * DefaultFailureThreshold
	ctx, cancel := context.WithTimeout(t.Context(), hangBound)
	defer cancel()
	var n atomic.Int32
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		i := n.Add(1)
		// Fail every other request: never 3 in a row.
		if i%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		if i == requests {
			cancel()
		}
	})
	tg := mustParse(t, url+"/", Options{})
	var mu sync.Mutex
	var got []bool
	Monitor(ctx, []*Target{tg}, Schedule{ReadyPeriod: 10 * time.Millisecond}, nil, func(ready bool, _ Report) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ready)
	})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !got[0] {
		t.Errorf("onChange calls %v, want just [true]", got)
	}
	if n.Load() < requests {
		t.Errorf("%d requests in %s, want %d: the target probed on", n.Load(), hangBound, requests)
	}
}

// A --timeout that is a multiple of the progress period ends with the
// failure line, not with a progress line at the same instant (kubelet shows
// the hook's first line).
func TestWaitNoProgressAtTheDeadline(t *testing.T) {
	t.Parallel()
	never := serve(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	target := mustParse(t, never+"/", Options{})
	for i := 0; i < 20; i++ {
		var calls atomic.Int32
		ctx, cancel := context.WithTimeout(t.Context(), 40*time.Millisecond)
		_, err := Wait(ctx, []*Target{target}, Schedule{Period: time.Second}, nil, &Progress{Every: 40 * time.Millisecond, Func: func(Report) {
			calls.Add(1)
		}})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait: %v, want the deadline", err)
		}
		if n := calls.Load(); n != 0 {
			t.Fatalf("round %d: %d progress lines at the deadline, want 0", i, n)
		}
	}
}

// An AttemptTimeoutError names its limit where the prober said the attempt
// timed out, and the setting's name when the caller gives it.
func TestAttemptTimeoutErrorWords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		prober, name, want string
	}{
		{"attempt timed out", "", "attempt timed out after 1s"},
		{"attempt timed out", "--attempt-timeout", "attempt timed out after 1s (--attempt-timeout)"},
		{"reading body: attempt timed out", "--attempt-timeout", "reading body: attempt timed out after 1s (--attempt-timeout)"},
		{"attempt timed out (command killed)", "--attempt-timeout", "attempt timed out after 1s (--attempt-timeout) (command killed)"},
		{"rpc error: deadline", "", "attempt timed out after 1s: rpc error: deadline"},
	} {
		e := &AttemptTimeoutError{Limit: time.Second, Err: shortError{tc.prober, context.DeadlineExceeded}}
		if got := e.Words(tc.name); got != tc.want {
			t.Errorf("Words(%q) of %q = %q, want %q", tc.name, tc.prober, got, tc.want)
		}
		if !errors.Is(e, context.DeadlineExceeded) {
			t.Errorf("%q: errors.Is(DeadlineExceeded) is false", tc.prober)
		}
	}
}
