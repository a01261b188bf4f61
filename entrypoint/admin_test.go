package entrypoint

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/podseq/podseq/internal/testmetrics"
	"github.com/podseq/podseq/probes"
)

// These tests run the simulated sidecar (no child, no reaper) in the test
// process, in parallel.

// startSimulated runs a simulated sidecar that turns ready only when the
// test says (s.turnReady). It stops at the end of the test.
func startSimulated(t *testing.T) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := startRun(t, ctx, Config{ReadyAfter: time.Hour})
	t.Cleanup(cancel)
	r.next(Born)
	return r
}

// scrape GETs /metrics and parses it with the Prometheus text parser.
func scrape(t testing.TB, base string) map[string]*dto.MetricFamily {
	t.Helper()
	return testmetrics.Scrape(t, base+"/metrics")
}

// value is the value of the series of family name with labels.
func value(t testing.TB, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func TestReadyEndpoint(t *testing.T) {
	t.Parallel()
	r := startSimulated(t)
	resp, err := http.Get(r.url + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get(probes.HoldHeader) != "5m0s" || !strings.Contains(string(body), "ready after 1h0m0s") {
		t.Errorf("/ready not ready: %d %s=%q %q", resp.StatusCode, probes.HoldHeader, resp.Header.Get(probes.HoldHeader), body)
	}
	for _, c := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/ready?wait=nonsense", 400, "bad wait=nonsense"},
		{"GET", "/ready?wait=0s", 503, "not ready"},
		{"GET", "/ready?wait=-1s", 503, "not ready"},
		{"GET", "/ready?wait=30ms", 503, "not ready after 30ms"},
		{"GET", "/ready?other=1", 503, "not ready"},
		{"POST", "/ready", 405, "use GET"},
		{"GET", "/healthz", 200, "ok"},
		{"PUT", "/healthz", 405, "use GET"},
		{"GET", "/quitquitquit", 405, "use POST"},
		{"GET", "/nothing", 404, "404 page not found"},
	} {
		req, _ := http.NewRequest(c.method, r.url+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(string(b), c.body) {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, resp.StatusCode, b, c.code, c.body)
		}
	}
	// Too many waiters: answered at once, with the header.
	r.s.state.waiters.Add(MaxWaiters)
	resp, err = http.Get(r.url + "/ready?wait=1m")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	r.s.state.waiters.Add(-MaxWaiters)
	if resp.StatusCode != 503 || resp.Header.Get(probes.HoldHeader) == "" || !strings.Contains(string(body), "too many long polls") {
		t.Errorf("over the waiter cap: %d %q", resp.StatusCode, body)
	}

	r.s.turnReady(os.Getpid())
	r.next(Ready)
	if code, body := get(t, r.url+"/ready"); code != 200 || body != "ready" {
		t.Errorf("/ready when ready: %d %q", code, body)
	}
	if code, _ := get(t, r.url+"/ready?wait=1m"); code != 200 {
		t.Errorf("long poll when ready: %d, want 200 at once", code)
	}
	fams := scrape(t, r.url)
	for result, want := range map[string]float64{"timed_out": 1, "rejected": 1, "released": 0, "canceled": 0, "shutdown": 0} {
		if got := value(t, fams, "podseq_long_polls_total", map[string]string{"result": result}); got != want {
			t.Errorf("podseq_long_polls_total{result=%q} = %v, want %v", result, got, want)
		}
	}
}

func TestQuitQuitQuitLoopbackOnly(t *testing.T) {
	t.Parallel()
	r := startSimulated(t)
	h := r.s.Handler()
	for _, remote := range []string{"10.0.0.1:4000", "[2001:db8::1]:4000", "192.168.1.1:80"} {
		req := httptest.NewRequest("POST", "/quitquitquit", nil)
		req.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 403 {
			t.Errorf("POST /quitquitquit from %s: %d, want 403", remote, w.Code)
		}
	}
	for _, remote := range []string{"127.0.0.1:4000", "[::1]:4000", "[::ffff:127.0.0.2]:4000", "127.9.9.9:1"} {
		if !isLoopback(remote) {
			t.Errorf("isLoopback(%q) = false", remote)
		}
	}
	resp, err := http.Post(r.url+"/quitquitquit", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("POST /quitquitquit from loopback: %s", resp.Status)
	}
	died := r.next(Died)
	if code, err := r.wait(); code != 0 || err != nil || died.ExitCode != 0 || died.PID != os.Getpid() {
		t.Errorf("Run = %d, %v, died %+v; want 0, nil, code 0 and podseq's pid", code, err, died)
	}
}

func TestSimulatedSidecar(t *testing.T) {
	t.Parallel()
	stop := make(chan string)
	before := time.Now()
	// 1s, not less: the long poll below must reach the server before the
	// sidecar turns ready, also on a busy machine.
	r := startRun(t, context.Background(), Config{ReadyAfter: time.Second, Stop: stop})
	r.next(Born)
	resp, err := http.Get(r.url + "/ready?wait=20s")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	released := time.Now()
	ready := r.next(Ready)
	if resp.StatusCode != 200 || released.Before(ready.Time) {
		t.Errorf("long poll: %d at %s, ready at %s", resp.StatusCode, released, ready.Time)
	}
	if d := ready.Time.Sub(before); d < time.Second {
		t.Errorf("ready %s after start, want at least 1s", d)
	}
	if !strings.Contains(r.log.String(), `"msg":"ready","elapsed":`) {
		t.Errorf("no ready line in the log:\n%s", r.log.String())
	}
	fams := scrape(t, r.url)
	if v := value(t, fams, "podseq_time_to_ready_seconds", nil); v < 1 {
		t.Errorf("podseq_time_to_ready_seconds %v, want at least 1", v)
	}
	if v := value(t, fams, "podseq_long_polls_total", map[string]string{"result": "released"}); v != 1 {
		t.Errorf("released long polls %v, want 1", v)
	}
	stop <- "test over"
	r.next(NotReady)
	if died := r.next(Died); died.ExitCode != 0 {
		t.Errorf("Died %+v", died)
	}
	if code, err := r.wait(); code != 0 || err != nil {
		t.Errorf("Run = %d, %v", code, err)
	}
}

// TestLongPollBroadcast: many waiters are all released when readiness turns,
// again after it turned not ready and ready again, and answered 503 at shutdown.
func TestLongPollBroadcast(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	r := startRun(t, ctx, Config{ReadyAfter: time.Hour})
	r.next(Born)
	pid := os.Getpid()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	defer client.CloseIdleConnections()
	poll := func(n int) <-chan int {
		codes := make(chan int, n)
		for range n {
			go func() {
				resp, err := client.Get(r.url + "/ready?wait=1m")
				if err != nil {
					codes <- -1
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes <- resp.StatusCode
			}()
		}
		return codes
	}
	waitWaiters := func(n int64) {
		deadline := time.Now().Add(20 * time.Second)
		for r.s.state.waiters.Load() != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d waiters, want %d", r.s.state.waiters.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	collect := func(codes <-chan int, n, want int) {
		for range n {
			if c := <-codes; c != want {
				t.Errorf("long poll answered %d, want %d", c, want)
			}
		}
	}
	for round := range 2 {
		codes := poll(100)
		waitWaiters(100)
		if v := value(t, scrape(t, r.url), "podseq_ready_waiters", nil); v != 100 {
			t.Errorf("podseq_ready_waiters %v, want 100", v)
		}
		r.s.turnReady(pid)
		r.next(Ready)
		collect(codes, 100, 200)
		r.s.turnNotReady(pid, fmt.Sprintf("round %d over", round))
		r.next(NotReady)
	}
	codes := poll(50)
	waitWaiters(50)
	cancel() // shutdown answers every waiter 503
	collect(codes, 50, 503)
	if code, err := r.wait(); code != 0 || err != nil {
		t.Errorf("Run = %d, %v", code, err)
	}
}

// TestLongPollClientsLeave: clients that give up early leave no goroutine,
// no file descriptor and no waiter behind.
func TestLongPollClientsLeave(t *testing.T) {
	// Not parallel: it counts the process's goroutines and descriptors.
	r := startSimulated(t)
	baseG, baseFD := runtime.NumGoroutine(), fds(t)
	const n = 300
	for round := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		tr := &http.Transport{MaxIdleConnsPerHost: n}
		client := &http.Client{Transport: tr}
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequestWithContext(ctx, "GET", r.url+"/ready?wait=5m", nil)
				if resp, err := client.Do(req); err == nil {
					resp.Body.Close()
					t.Errorf("round %d: a long poll answered %s before the client left", round, resp.Status)
				}
			}()
		}
		deadline := time.Now().Add(20 * time.Second)
		for r.s.state.waiters.Load() != n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got := r.s.state.waiters.Load(); got != n {
			t.Fatalf("round %d: %d waiters, want %d", round, got, n)
		}
		cancel()
		wg.Wait()
		tr.CloseIdleConnections()
		for r.s.state.waiters.Load() != 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got := r.s.state.waiters.Load(); got != 0 {
			t.Fatalf("round %d: %d waiters left after the clients went away", round, got)
		}
	}
	// The server notices a closed connection at its own pace: allow it time,
	// not slack.
	deadline := time.Now().Add(20 * time.Second)
	for {
		g, fd := runtime.NumGoroutine(), fds(t)
		if g <= baseG && fd <= baseFD {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d long polls left: %d goroutines (was %d), %d descriptors (was %d)", 3*n, g, baseG, fd, baseFD)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if v := value(t, scrape(t, r.url), "podseq_long_polls_total", map[string]string{"result": "canceled"}); v != 3*n {
		t.Errorf("canceled long polls %v, want %d", v, 3*n)
	}
	http.DefaultClient.CloseIdleConnections()
}

// fds counts the process's open file descriptors.
func fds(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func TestMetricsLint(t *testing.T) {
	t.Parallel()
	target, err := probes.Parse("http://127.0.0.1:1/ready", probes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics([]*probes.Target{target}, newReadiness(""))
	problems, err := testutil.GatherAndLint(m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	for _, want := range []string{"podseq_ready", "podseq_time_to_ready_seconds", "podseq_probe_attempts_total",
		"podseq_probe_duration_seconds", "podseq_ready_waiters", "podseq_long_polls_total", "podseq_admin_requests_total",
		"podseq_ready_requests_total",
		"go_goroutines", "process_resident_memory_bytes"} {
		if !names[want] {
			t.Errorf("no metric %s", want)
		}
	}
	// Pre-initialised: both results of the target read 0 before any attempt.
	if n := testutil.CollectAndCount(m.reg, "podseq_probe_attempts_total"); n != 2 {
		t.Errorf("podseq_probe_attempts_total has %d series, want 2", n)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	target, _ := probes.Parse("http://127.0.0.1:1/", probes.Options{})
	for name, cfg := range map[string]Config{
		"empty command":         {Command: []string{""}},
		"ready and ready-after": {Command: []string{"x"}, Ready: []*probes.Target{target}, ReadyAfter: time.Second},
		"negative ready-after":  {ReadyAfter: -time.Second},
		"ready without command": {Ready: []*probes.Target{target}},
		"no listener":           {ReadyAfter: time.Second},
		"no admin, an address":  {NoAdmin: true, Listener: loopback(t)},
	} {
		if cfg.Listener == nil && name != "no listener" {
			cfg.Listener = loopback(t)
		}
		if code, err := Run(context.Background(), cfg); code != ExitUsage || err == nil {
			t.Errorf("%s: Run = %d, %v; want %d and an error", name, code, err, ExitUsage)
		}
	}
}

// NoAdmin: no listener, no Addr, and the child is supervised all the same.
// Not parallel: Run's reaper in this process waits for any child of it (see
// inprocess_test.go), also the orphans of parallel tests.
func TestNoAdmin(t *testing.T) {
	s, err := New(Config{Command: []string{"sh", "-c", "exit 7"}, NoAdmin: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.addr() != nil {
		t.Errorf("addr() = %v, want nil without an admin server", s.addr())
	}
	if code, err := s.Run(context.Background()); code != 7 || err != nil {
		t.Errorf("Run = %d, %v; want the child's 7", code, err)
	}
}

// addr is the admin server's address, nil with NoAdmin.
func (s *Supervisor) addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// loopback is a listener on a free loopback port for the admin server,
// closed when the test ends if Run did not close it.
func loopback(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
