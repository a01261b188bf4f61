package probes

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// adminEndpoint is a fake `podseq run` /ready: it says it can hold requests
// (HoldHeader) and holds a `?wait=D` request until it is ready or D passes.
type adminEndpoint struct {
	url      string
	hold     string // the HoldHeader value
	ready    chan struct{}
	setReady func()
	requests atomic.Int32
	held     atomic.Int32 // requests that asked to be held
	badWait  atomic.Value // a ?wait= value that is not a duration
}

func newAdminEndpoint(t *testing.T, hold string) *adminEndpoint {
	t.Helper()
	a := &adminEndpoint{hold: hold, ready: make(chan struct{})}
	var once sync.Once
	a.setReady = func() { once.Do(func() { close(a.ready) }) }
	a.url = serveStop(t, func(stop <-chan struct{}) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			a.requests.Add(1)
			w.Header().Set(HoldHeader, a.hold)
			if v := r.URL.Query().Get(HoldParam); v != "" {
				a.held.Add(1)
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					a.badWait.Store(v)
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				timer := time.NewTimer(d)
				defer timer.Stop()
				select {
				case <-a.ready:
				case <-timer.C:
				case <-stop:
				case <-r.Context().Done():
					return
				}
			}
			select {
			case <-a.ready:
				w.Write([]byte("ready\n"))
			default:
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}
	})
	return a
}

// Push release: against a podseq admin endpoint the prober switches to long
// polls, and a wait makes a couple of requests instead of one every period.
func TestPushRelease(t *testing.T) {
	t.Parallel()
	a := newAdminEndpoint(t, "30s")
	tg := mustParse(t, a.url+"/ready", Options{})
	readyAt := time.Now().Add(700 * time.Millisecond)
	time.AfterFunc(time.Until(readyAt), a.setReady)
	r, err := waitDeadline(t, 30*time.Second, Schedule{}, tg)
	if err != nil {
		t.Fatalf("Wait: %v (%s)", err, r.Pending())
	}
	if time.Now().Before(readyAt) {
		t.Fatal("released before the endpoint was ready")
	}
	// Polling every 10ms for 700ms would make ~70 requests; a long poll
	// makes 2: the first learns the endpoint holds, the second is held.
	if n, h := a.requests.Load(), a.held.Load(); n > 3 || h < 1 {
		t.Errorf("%d requests, %d of them held; want 2 or 3, held", n, h)
	}
	if v := a.badWait.Load(); v != nil {
		t.Errorf("the prober sent ?wait=%v", v)
	}
}

// An endpoint that grants short holds is asked again at once when one
// expires, and still answers with few requests.
func TestPushReleaseShortHolds(t *testing.T) {
	t.Parallel()
	a := newAdminEndpoint(t, "100ms")
	tg := mustParse(t, a.url+"/ready", Options{})
	time.AfterFunc(time.Second, a.setReady)
	r, err := waitDeadline(t, 30*time.Second, Schedule{}, tg)
	if err != nil {
		t.Fatalf("Wait: %v (%s)", err, r.Pending())
	}
	// About one request every 100ms hold: 10-12 (fewer on a busy machine).
	// Never the ~100 of polling every 10ms.
	if n := a.requests.Load(); n > 25 {
		t.Errorf("%d requests in 1s with 100ms holds, want about 11", n)
	}
	if v := a.badWait.Load(); v != nil {
		t.Errorf("the prober sent ?wait=%v", v)
	}
}

// A held request never stretches the deadline: the hold the prober asks for
// is bounded by the time left.
func TestPushReleaseDeadline(t *testing.T) {
	t.Parallel()
	a := newAdminEndpoint(t, "1h")
	tg := mustParse(t, a.url+"/ready", Options{})
	r, err := waitDeadline(t, time.Second, Schedule{}, tg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the deadline", err)
	}
	if n := a.requests.Load(); n > 4 {
		t.Errorf("%d requests in 1s, want 2 or 3", n)
	}
	// The last error says what the endpoint said, not that an attempt
	// timed out.
	wantPending(t, r, a.url+"/ready", "503 Service Unavailable")
}

// Monitor keeps long-polling a ready admin endpoint without hammering it.
func TestPushMonitor(t *testing.T) {
	t.Parallel()
	a := newAdminEndpoint(t, "30s")
	a.setReady()
	tg := mustParse(t, a.url+"/ready", Options{})
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	var changes atomic.Int32
	Monitor(ctx, []*Target{tg}, Schedule{ReadyPeriod: 100 * time.Millisecond}, nil, func(bool, Report) { changes.Add(1) })
	if changes.Load() != 1 {
		t.Errorf("%d changes, want 1 (ready)", changes.Load())
	}
	if n := a.requests.Load(); n > 20 {
		t.Errorf("%d requests in 1s with a 100ms ready period", n)
	}
}

// A held attempt is bounded by the hold it asked for plus the attempt
// timeout (loop.go probeTarget). It once ran with no timeout of its own: in
// Monitor, whose ctx has no deadline, an admin endpoint that said it holds
// requests and then hung (a deadlocked sidecar) blocked the attempt forever,
// and Monitor never counted a failure nor reported not ready.
func TestPushMonitorHungEndpoint(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	url := serveStop(t, func(stop <-chan struct{}) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(HoldHeader, "200ms")
			if n.Add(1) == 1 {
				return // ready, once
			}
			select { // then hangs
			case <-stop:
			case <-r.Context().Done():
			}
		}
	})
	tg := mustParse(t, url+"/ready", Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var mu sync.Mutex
	var got []bool
	Monitor(ctx, []*Target{tg}, Schedule{AttemptTimeout: 100 * time.Millisecond, ReadyPeriod: 10 * time.Millisecond}, nil, func(ready bool, _ Report) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ready)
	})
	mu.Lock()
	defer mu.Unlock()
	// 3 attempts of at most 200ms+100ms each fit in 5s many times over.
	if len(got) != 2 || !got[0] || got[1] {
		t.Errorf("onChange calls %v, want [true false]: the hung endpoint must turn not ready", got)
	}
}

// A podseq admin endpoint's 503 says why it is not ready in its body: the
// error carries that reason (its first line, bounded), not the status alone.
// Any other server's body is not repeated.
func TestPushReasonInError(t *testing.T) {
	t.Parallel()
	answer := func(hold bool, body string) string {
		return serve(t, func(w http.ResponseWriter, r *http.Request) {
			if hold {
				w.Header().Set(HoldHeader, "10ms")
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(body))
		})
	}
	long := strings.Repeat("x", 2*MaxReasonBytes)
	for _, tc := range []struct {
		name string
		hold bool
		body string
		want string
	}{
		{"podseq run", true, "not ready: http://127.0.0.1:1/ready: connection refused\nsecond line\n", "503 Service Unavailable: not ready: http://127.0.0.1:1/ready: connection refused"},
		{"control characters", true, "not \x1b[31mready\r\x00", "503 Service Unavailable: not [31mready"},
		{"bounded", true, long, "503 Service Unavailable: " + long[:MaxReasonBytes] + "..."},
		{"empty body", true, "", "503 Service Unavailable"},
		{"not podseq run", false, "<html>busy</html>", "503 Service Unavailable"},
	} {
		tg := mustParse(t, answer(tc.hold, tc.body)+"/ready", Options{})
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := tg.Prober.Check(ctx)
		cancel()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: Check = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// A podseq run that said its command died and is then gone (refused): the
// error keeps the death, which says more than the refusal. Any answer after
// that forgets it.
func TestPushDiedThenRefused(t *testing.T) {
	t.Parallel()
	ln := localListener(t)
	died := true
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HoldHeader, "1s")
		if died {
			w.Header().Set(DiedHeader, "command exited with code 3")
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}), ErrorLog: quietLog()}
	go srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed
	tg := mustParse(t, "http://"+ln.Addr().String()+"/ready", Options{})
	check := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		return tg.Prober.Check(ctx)
	}
	var de *DiedError
	if err := check(); !errors.As(err, &de) {
		t.Fatalf("Check = %v, want a DiedError", err)
	}
	srv.Close()
	err := check()
	if want := "connection refused (the sidecar died: command exited with code 3)"; err == nil || err.Error() != want || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Check after it is gone = %v, want %q, still ECONNREFUSED", err, want)
	}
	// A plain refusal, with no death before it, is a plain refusal.
	fresh := mustParse(t, "http://"+ln.Addr().String()+"/ready", Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := fresh.Prober.Check(ctx); err == nil || err.Error() != "connection refused" {
		t.Errorf("Check of a fresh target = %v, want connection refused", err)
	}
}
