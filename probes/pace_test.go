package probes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// The pace's properties, on the pure functions: no clock is read, so nothing
// here depends on how busy the machine is.

// localPace is the pace of a loopback target under the default schedule.
func localPace(t *testing.T) pace {
	t.Helper()
	p := Schedule{}.pace(&Target{Kind: "http", Local: true})
	if p.base != DefaultLocalPeriod || p.ceiling != MaxGrownPeriod {
		t.Fatalf("default local pace = %+v, want %s growing to %s", p, DefaultLocalPeriod, MaxGrownPeriod)
	}
	return p
}

// waits are the points into a wait where the pace is checked: dense at the
// start, then every 1 % up to an hour, and a few extremes.
func waits() []time.Duration {
	var w []time.Duration
	for d := time.Duration(0); d < time.Second; d += 250 * time.Microsecond {
		w = append(w, d)
	}
	for d := time.Second; d < time.Hour; d += d / 100 {
		w = append(w, d)
	}
	return append(w, 24*time.Hour, maxDuration/2, maxDuration)
}

// The period after a wait never exceeds max(5ms, 1 % of the wait), so a
// target that turns ready is seen that soon; it never shrinks as the wait
// goes on, and it stops growing at MaxGrownPeriod.
func TestPacePeriodBound(t *testing.T) {
	t.Parallel()
	p := localPace(t)
	prev := time.Duration(0)
	for _, w := range waits() {
		got := p.period(w)
		if bound := max(5*time.Millisecond, w/100); got > bound {
			t.Fatalf("period after %s = %s, want at most max(5ms, 1%%) = %s", w, got, bound)
		}
		if got < prev {
			t.Fatalf("period after %s = %s, shorter than %s before", w, got, prev)
		}
		if got > MaxGrownPeriod || got < DefaultLocalPeriod {
			t.Fatalf("period after %s = %s, want within [%s, %s]", w, got, DefaultLocalPeriod, MaxGrownPeriod)
		}
		prev = got
	}
	if got := p.period(time.Hour); got != MaxGrownPeriod {
		t.Errorf("period after an hour = %s, want the ceiling %s", got, MaxGrownPeriod)
	}
	if got := p.period(300 * time.Millisecond); got != DefaultLocalPeriod {
		t.Errorf("period after 300ms = %s, want %s as before the growth", got, DefaultLocalPeriod)
	}
}

// Every interval of the ramp, whatever the failures before, is within the
// period, and one request's interval is the period once the ramp is done.
func TestPaceIntervalWithinPeriod(t *testing.T) {
	t.Parallel()
	p := localPace(t)
	for _, w := range waits() {
		for ramp := range 70 { // 2^63 overflows past 63 doublings
			got := p.interval(w, ramp, 1, nil)
			if per := p.period(w); got > per || got <= 0 {
				t.Fatalf("interval after %s, ramp %d = %s, want within (0, %s]", w, ramp, got, per)
			}
		}
		if got, want := p.interval(w, 64, 1, nil), p.period(w); got != want {
			t.Fatalf("interval after %s at the end of the ramp = %s, want the period %s", w, got, want)
		}
	}
}

// simulate runs the loop's arithmetic over a wait of length d with attempts
// that take no time and each send perAttempt requests, and returns the
// start of every attempt.
func simulate(p pace, d time.Duration, perAttempt int) []time.Duration {
	var starts []time.Duration
	for at, ramp := time.Duration(0), 0; at < d; ramp++ {
		starts = append(starts, at)
		at += p.interval(at, ramp, perAttempt, nil)
	}
	return starts
}

// The request count grows with the logarithm of the wait: a 30 s wait stays
// under 1,000 requests, where a fixed 5 ms period would make 6,000, and the
// first half second is probed exactly as with a fixed 5 ms period.
func TestPaceRequestsOverLongWaits(t *testing.T) {
	t.Parallel()
	p := localPace(t)
	fixed := Schedule{Period: DefaultLocalPeriod}.pace(&Target{Kind: "http", Local: true})
	for _, tt := range []struct {
		wait     time.Duration
		min, max int
	}{
		{300 * time.Millisecond, 60, 70},
		{3 * time.Second, 250, 300},
		{30 * time.Second, 450, 999},
		{2 * time.Minute, 550, 1200},
	} {
		got := len(simulate(p, tt.wait, 1))
		if got < tt.min || got > tt.max {
			t.Errorf("%d requests over %s, want %d to %d", got, tt.wait, tt.min, tt.max)
		}
		t.Logf("%s: %d requests (a fixed 5ms period: %d)", tt.wait, got, len(simulate(fixed, tt.wait, 1)))
	}
	// Until the period starts to grow, the pace is the fixed 5 ms one.
	a, b := simulate(p, 500*time.Millisecond, 1), simulate(fixed, 500*time.Millisecond, 1)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("the first 500ms differ from a fixed 5ms period:\n%v\n%v", a, b)
	}
}

// A target that turns ready at any instant is seen by the next attempt within
// max(5 ms, 1 % of the wait so far).
func TestPaceOvershootBound(t *testing.T) {
	t.Parallel()
	p := localPace(t)
	starts := simulate(p, 31*time.Second, 1)
	i := 0
	for ready := time.Duration(0); ready < 30*time.Second; ready += 997 * time.Microsecond {
		for starts[i] < ready {
			i++
		}
		if late, bound := starts[i]-ready, max(5*time.Millisecond, ready/100); late > bound {
			t.Fatalf("ready at %s, seen at %s: %s late, want at most %s", ready, starts[i], late, bound)
		}
	}
}

// Every request counts: an attempt that follows redirects waits as many
// intervals as it sent requests, so a redirect loop costs the target no more
// requests than a plain target over the same wait, but for the ramp's first
// steps (1, 2 and 4 ms: an attempt's requests each) and the last attempt's.
func TestPaceRedirectsCountAgainstTheBudget(t *testing.T) {
	t.Parallel()
	p := localPace(t)
	for _, d := range []time.Duration{300 * time.Millisecond, 3 * time.Second, 30 * time.Second} {
		plain := len(simulate(p, d, 1))
		looped := len(simulate(p, d, maxRedirects)) * maxRedirects
		if looped > plain+4*maxRedirects {
			t.Errorf("over %s a redirect loop costs %d requests, a plain target %d", d, looped, plain)
		}
	}
	if got, want := p.interval(time.Second, 64, maxRedirects, nil), maxRedirects*p.period(time.Second); got != want {
		t.Errorf("interval after %d requests = %s, want %s", maxRedirects, got, want)
	}
	if got := p.interval(0, 64, 1<<30, nil); got != maxDuration && got < DefaultLocalPeriod<<30 {
		t.Errorf("interval for 2^30 requests = %s, want no overflow", got)
	}
	big := Schedule{Period: maxDuration / 4}.pace(&Target{Kind: "http", Local: true})
	if got := big.interval(0, 64, maxRedirects, nil); got != maxDuration {
		t.Errorf("interval of a huge period times 10 requests = %s, want it saturated", got)
	}
}

// A --period is the user's: it never grows. Commands start at their own
// period and grow after 10 s; remote targets stay at one a second.
func TestPaceByKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		s      Schedule
		target *Target
		at     time.Duration
		want   time.Duration
	}{
		{"fixed period, long wait", Schedule{Period: 5 * time.Millisecond}, &Target{Kind: "http", Local: true}, time.Hour, 5 * time.Millisecond},
		{"fixed long period, short wait", Schedule{Period: time.Minute}, &Target{Kind: "http", Local: true}, 0, time.Minute},
		{"local, 10 s in", Schedule{}, &Target{Kind: "tcp", Local: true}, 10 * time.Second, 100 * time.Millisecond},
		{"exec, 5 s in", Schedule{}, &Target{Kind: "exec", Local: true}, 5 * time.Second, DefaultExecPeriod},
		{"exec, 50 s in", Schedule{}, &Target{Kind: "exec", Local: true}, 50 * time.Second, 500 * time.Millisecond},
		{"remote, start", Schedule{}, &Target{Kind: "http"}, 0, DefaultRemotePeriod},
		{"remote, an hour in", Schedule{}, &Target{Kind: "http"}, time.Hour, DefaultRemotePeriod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.s.pace(tt.target).period(tt.at); got != tt.want {
				t.Errorf("period %s in = %s, want %s", tt.at, got, tt.want)
			}
		})
	}
}

// A Retry-After never stretches an interval past the period, grown or not.
func TestPaceRetryAfterWithinPeriod(t *testing.T) {
	t.Parallel()
	p := localPace(t)
	resp := &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"3600"}}}
	for _, w := range []time.Duration{0, 3 * time.Second, time.Hour} {
		if got, want := p.interval(w, 0, 1, resp), p.period(w); got != want {
			t.Errorf("interval after %s with Retry-After: 3600 = %s, want the period %s", w, got, want)
		}
	}
}

// An HTTP attempt counts its requests: one, plus one per redirect followed,
// ten when it gives up on a redirect loop.
func TestHTTPRequestsCountRedirects(t *testing.T) {
	t.Parallel()
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/twice":
			http.Redirect(w, r, "/once", http.StatusFound)
		case "/once":
			http.Redirect(w, r, "/ok", http.StatusFound)
		}
	})
	for _, tt := range []struct {
		path string
		want int
	}{{"/ok", 1}, {"/once", 2}, {"/twice", 3}, {"/loop", maxRedirects}} {
		tg := mustParse(t, url+tt.path, Options{})
		_ = check(t, tg, 10*time.Second)
		if got := requests(tg.Prober); got != tt.want {
			t.Errorf("%s: %d requests, want %d", tt.path, got, tt.want)
		}
	}
	if got := requests(mustParse(t, "tcp://127.0.0.1:1", Options{}).Prober); got != 1 {
		t.Errorf("a tcp target: %d requests an attempt, want 1", got)
	}
}

// In the loop, an attempt that sent ten requests (a redirect loop) is
// followed by ten intervals: the gaps between attempts' starts are at least
// ten times the ramp's. Timers never fire early, so a busy machine can only
// widen the gaps, never fail this.
func TestWaitRedirectLoopPaced(t *testing.T) {
	t.Parallel()
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	tg := mustParse(t, url+"/loop", Options{})
	const period = 20 * time.Millisecond
	starts := attemptStarts(t, tg, Schedule{Period: period}, 1500*time.Millisecond)
	if len(starts) < 3 {
		t.Fatalf("%d attempts in 1.5s, want several", len(starts))
	}
	p := Schedule{Period: period}.pace(tg)
	for i := 1; i < len(starts); i++ {
		gap, want := starts[i].Sub(starts[i-1]), p.interval(0, i-1, maxRedirects, nil)
		if gap < want {
			t.Errorf("attempt %d started %s after the one before, want at least %s (10 requests)", i, gap, want)
		}
	}
	// Without the pacing, a 20ms period fits about 75 attempts in 1.5s.
	if len(starts) > int(1500*time.Millisecond/(maxRedirects*period))+8 {
		t.Errorf("%d attempts of 10 requests in 1.5s with a %s period", len(starts), period)
	}
}

// In the loop, the default pace of a loopback target that never turns ready
// grows with the wait: each gap between two attempts' starts is at least the
// pace's interval that far into the wait, and the attempts over the wait are
// no more than the simulated ones. Lower bounds only: a busy machine can
// widen the gaps, never fail this.
func TestWaitPaceGrows(t *testing.T) {
	t.Parallel()
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	tg := mustParse(t, url+"/", Options{})
	const wait = 2 * time.Second
	starts := attemptStarts(t, tg, Schedule{}, wait)
	p := localPace(t)
	for i := 1; i < len(starts); i++ {
		// The loop counts the wait from before the first attempt, so it is
		// at least this far into it.
		waited := starts[i-1].Sub(starts[0])
		if gap, want := starts[i].Sub(starts[i-1]), p.interval(waited, i-1, 1, nil); gap < want {
			t.Errorf("attempt %d started %s after the one before, %s into the wait: want at least %s", i, gap, waited, want)
		}
	}
	if most := len(simulate(p, wait, 1)); len(starts) > most {
		t.Errorf("%d attempts in %s, want at most %d (a fixed 5ms period: about 400)", len(starts), wait, most)
	}
}

// attemptStarts waits for tg, which never turns ready, until the deadline d
// and returns when each attempt started.
func attemptStarts(t *testing.T, tg *Target, s Schedule, d time.Duration) []time.Time {
	t.Helper()
	var mu sync.Mutex
	var starts []time.Time
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	_, err := Wait(ctx, []*Target{tg}, s, func(a Attempt) {
		mu.Lock()
		defer mu.Unlock()
		starts = append(starts, a.Start)
	}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the deadline", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return starts
}
