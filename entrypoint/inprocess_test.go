package entrypoint

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podseq/podseq/internal/testio"
	"github.com/podseq/podseq/probes"
	"github.com/podseq/podseq/tombstone"
)

// The tests in this file run Run in the test process, with a real child.
// Run's reaper waits for any child of the process, so none of them may run
// in parallel (top-level tests without t.Parallel run alone, before the
// parallel ones).

// running is a Run in progress in this process.
type running struct {
	t      *testing.T
	s      *Supervisor
	url    string
	log    *testio.Buffer
	mu     sync.Mutex
	events []Event
	evCh   chan Event
	done   chan struct{}
	code   int
	err    error
}

// startRun starts Run in a goroutine. cfg.OnEvent, if set, is called too.
func startRun(t *testing.T, ctx context.Context, cfg Config) *running {
	t.Helper()
	r := &running{t: t, log: &testio.Buffer{}, evCh: make(chan Event, 100), done: make(chan struct{})}
	cfg.Listener = loopback(t)
	cfg.Logger = slog.New(slog.NewJSONHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	next := cfg.OnEvent
	cfg.OnEvent = func(e Event) {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
		if next != nil {
			next(e)
		}
		r.evCh <- e
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.s, r.url = s, "http://"+s.addr().String()
	go func() {
		defer close(r.done)
		r.code, r.err = s.Run(ctx)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Errorf("Run still running 30s after the test")
		}
		if t.Failed() {
			t.Logf("log:\n%s", r.log.String())
		}
	})
	return r
}

// next waits for the next event, which must be of kind k.
func (r *running) next(k EventKind) Event {
	r.t.Helper()
	select {
	case e := <-r.evCh:
		if e.Kind != k {
			r.t.Fatalf("event %s, want %s", e.Kind, k)
		}
		return e
	case <-time.After(20 * time.Second):
		r.t.Fatalf("no %s event in 20s", k)
		return Event{}
	}
}

// wait waits for Run's result.
func (r *running) wait() (int, error) {
	r.t.Helper()
	select {
	case <-r.done:
		return r.code, r.err
	case <-time.After(30 * time.Second):
		r.t.Fatal("Run did not return in 30s")
		return -1, nil
	}
}

// get returns a GET's status code and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestRunChildCrash(t *testing.T) {
	var readyAtDeath, healthAtDeath int
	var body string
	var r *running
	r = startRun(t, context.Background(), Config{
		// Wide margins: /ready is asked before the sidecar turns ready, and
		// the child dies well after, also on a busy machine.
		Command:    helperCmd("linger", "1500ms", "3"),
		ReadyAfter: 500 * time.Millisecond,
		OnEvent: func(e Event) {
			if e.Kind == Died {
				readyAtDeath, body = get(t, r.url+"/ready")
				healthAtDeath, _ = get(t, r.url+"/healthz")
			}
		},
	})
	born := r.next(Born)
	if code, _ := get(t, r.url+"/ready"); code != 503 {
		t.Errorf("/ready before --ready-after: %d, want 503", code)
	}
	ready := r.next(Ready)
	if code, _ := get(t, r.url+"/healthz"); code != 200 {
		t.Errorf("/healthz of a live child: %d, want 200", code)
	}
	notReady := r.next(NotReady)
	died := r.next(Died)
	code, err := r.wait()
	if code != 3 || err != nil {
		t.Errorf("Run = %d, %v; want 3, nil", code, err)
	}
	if born.PID <= 0 || ready.PID != born.PID || notReady.PID != born.PID || died.PID != born.PID {
		t.Errorf("pids: born %d ready %d not-ready %d died %d", born.PID, ready.PID, notReady.PID, died.PID)
	}
	if died.ExitCode != 3 {
		t.Errorf("Died.ExitCode = %d, want 3", died.ExitCode)
	}
	if ready.Time.Sub(born.Time) < 500*time.Millisecond {
		t.Errorf("ready %s after birth, before --ready-after 500ms", ready.Time.Sub(born.Time))
	}
	if readyAtDeath != 503 || !strings.Contains(body, "exited with code 3") {
		t.Errorf("/ready when the child died: %d %q, want 503 and the exit code", readyAtDeath, body)
	}
	if healthAtDeath != 503 {
		t.Errorf("/healthz when the child died: %d, want 503", healthAtDeath)
	}
}

func TestRunStopChannel(t *testing.T) {
	for _, closeIt := range []bool{false, true} {
		stop := make(chan string, 1)
		r := startRun(t, context.Background(), Config{Command: helperCmd("sleep"), Stop: stop})
		r.next(Born)
		r.next(Ready)
		if closeIt {
			close(stop)
		} else {
			stop <- "the app died"
		}
		r.next(NotReady)
		died := r.next(Died)
		code, err := r.wait()
		if code != 0 || err != nil {
			t.Errorf("close=%v: Run = %d, %v; want 0, nil (stopped on request)", closeIt, code, err)
		}
		if died.ExitCode != 143 {
			t.Errorf("close=%v: Died.ExitCode = %d, want 143 (SIGTERM)", closeIt, died.ExitCode)
		}
	}
}

func TestRunStopWithOwnExitCode(t *testing.T) {
	// A child that exits with a code of its own on the stop signal keeps it.
	stop := make(chan string, 1)
	marker := filepath.Join(t.TempDir(), "trapping")
	r := startRun(t, context.Background(), Config{Command: helperCmd("trap-marked", marker, "child", "TERM"), Stop: stop, StopSignal: syscall.SIGTERM})
	r.next(Born)
	r.next(Ready)
	awaitFile(t, marker) // the child's SIGTERM handler is in place
	stop <- "test"
	code, err := r.wait()
	if code != 0 || err != nil {
		t.Errorf("Run = %d, %v; want 0, nil", code, err)
	}
}

func TestRunQuitQuitQuit(t *testing.T) {
	r := startRun(t, context.Background(), Config{Command: helperCmd("sleep"), StopSignal: syscall.SIGUSR1})
	r.next(Born)
	r.next(Ready)
	resp, err := http.Post(r.url+"/quitquitquit", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("POST /quitquitquit: %s", resp.Status)
	}
	r.next(NotReady)
	died := r.next(Died)
	if code, err := r.wait(); code != 0 || err != nil || died.ExitCode != 128+int(syscall.SIGUSR1) {
		t.Errorf("Run = %d, %v, child %d; want 0, nil, 138 (died of the stop signal SIGUSR1)", code, err, died.ExitCode)
	}
}

func TestRunContextCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := startRun(t, ctx, Config{Command: helperCmd("sleep")})
	r.next(Born)
	cancel()
	if code, err := r.wait(); code != 0 || err != nil {
		t.Errorf("Run = %d, %v; want 0, nil", code, err)
	}
}

func TestRunBeforeStartError(t *testing.T) {
	r := startRun(t, context.Background(), Config{
		Command:     helperCmd("sleep"),
		BeforeStart: func(context.Context) error { return errors.New("birth dependency db: not ready after 1s") },
	})
	code, err := r.wait()
	if code != 1 || err == nil || err.Error() != "birth dependency db: not ready after 1s" {
		t.Errorf("Run = %d, %v; want 1 and the error", code, err)
	}
	if len(r.events) != 0 {
		t.Errorf("events %v: the child must not start", r.events)
	}
}

func TestRunBeforeStartBlocks(t *testing.T) {
	release := make(chan struct{})
	called := make(chan struct{})
	r := startRun(t, context.Background(), Config{
		Command: helperCmd("sleep"),
		BeforeStart: func(ctx context.Context) error {
			close(called)
			<-release
			return nil
		},
	})
	<-called
	if code, body := get(t, r.url+"/ready"); code != 503 || !strings.Contains(body, "must start first") {
		t.Errorf("/ready during BeforeStart: %d %q", code, body)
	}
	if code, _ := get(t, r.url+"/healthz"); code != 200 {
		t.Errorf("/healthz during BeforeStart: %d, want 200", code)
	}
	r.mu.Lock()
	n := len(r.events)
	r.mu.Unlock()
	if n != 0 {
		t.Errorf("%d events before BeforeStart returned", n)
	}
	close(release)
	r.next(Born)
	r.next(Ready)
	r.s.quit <- "test"
	if code, err := r.wait(); code != 0 || err != nil {
		t.Errorf("Run = %d, %v", code, err)
	}
}

func TestRunSignalDuringBeforeStart(t *testing.T) {
	var cause error
	called := make(chan struct{})
	r := startRun(t, context.Background(), Config{
		Command: helperCmd("sleep"),
		BeforeStart: func(ctx context.Context) error {
			close(called)
			<-ctx.Done()
			cause = context.Cause(ctx)
			return ctx.Err()
		},
	})
	<-called
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := r.wait()
	if code != 143 || err == nil || !strings.Contains(err.Error(), "SIGTERM before the command started") {
		t.Errorf("Run = %d, %v; want 143 and the signal", code, err)
	}
	if cause == nil || !strings.Contains(cause.Error(), "SIGTERM") {
		t.Errorf("BeforeStart's context cause %v, want the signal", cause)
	}
}

func TestRunBeforeForward(t *testing.T) {
	called := make(chan os.Signal, 1)
	release := make(chan struct{})
	var deadline time.Time
	r := startRun(t, context.Background(), Config{
		Command: helperCmd("sleep"),
		Grace:   time.Minute,
		BeforeForward: func(ctx context.Context, sig os.Signal) {
			deadline, _ = ctx.Deadline()
			called <- sig
			select {
			case <-release:
			case <-ctx.Done():
			}
		},
	})
	r.next(Born)
	r.next(Ready)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if sig := <-called; sig != syscall.SIGTERM {
		t.Errorf("BeforeForward got %v, want SIGTERM", sig)
	}
	if d := time.Until(deadline); d < 50*time.Second || d > time.Minute {
		t.Errorf("BeforeForward's context ends in %s, want the grace (1m)", d)
	}
	select {
	case e := <-r.evCh:
		t.Fatalf("%s while BeforeForward held the signal back", e.Kind)
	case <-time.After(200 * time.Millisecond):
	}
	released := time.Now()
	close(release)
	r.next(NotReady)
	died := r.next(Died)
	if died.Time.Before(released) || died.ExitCode != 143 {
		t.Errorf("child died at %s (code %d), before BeforeForward returned at %s", died.Time, died.ExitCode, released)
	}
	if code, err := r.wait(); code != 143 || err != nil {
		t.Errorf("Run = %d, %v; want 143 (SIGTERM to podseq is not a requested stop)", code, err)
	}
}

func TestRunBeforeForwardBounded(t *testing.T) {
	for _, second := range []bool{false, true} {
		called := make(chan struct{}, 1)
		grace := 300 * time.Millisecond
		if second {
			grace = time.Hour
		}
		r := startRun(t, context.Background(), Config{
			Command: helperCmd("sleep"),
			Grace:   grace,
			BeforeForward: func(ctx context.Context, sig os.Signal) {
				called <- struct{}{}
				<-ctx.Done()
			},
		})
		r.next(Born)
		if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		<-called
		if second {
			// A second terminating signal hurries the forwarding.
			if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}
		if code, err := r.wait(); code != 130 || err != nil {
			t.Errorf("second=%v: Run = %d, %v; want 130 (the child died of the forwarded SIGINT)", second, code, err)
		}
	}
}

func TestRunReadinessProbes(t *testing.T) {
	var status atomic.Int32
	status.Store(503)
	// Once frozen, the target holds every attempt until release is closed:
	// the one probing goroutine is then inside an attempt, every earlier
	// attempt is recorded, and a scrape sees counters that agree.
	var frozen atomic.Bool
	held, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if frozen.Load() {
			select {
			case held <- struct{}{}:
			default:
			}
			<-release
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	target, err := probes.Parse(srv.URL+"/healthz", probes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := startRun(t, ctx, Config{
		Command:  helperCmd("sleep"),
		Ready:    []*probes.Target{target},
		Schedule: probes.Schedule{Period: 2 * time.Millisecond, ReadyPeriod: 2 * time.Millisecond, FailureThreshold: 3, AttemptTimeout: time.Minute},
	})
	r.next(Born)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get(t, r.url+"/ready")
		if code == 503 && strings.Contains(body, "503 Service Unavailable") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready never said why: %d %q", code, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
	status.Store(200)
	r.next(Ready)
	status.Store(500)
	r.next(NotReady)
	status.Store(204)
	r.next(Ready)
	frozen.Store(true)
	<-held

	fams := scrape(t, r.url)
	labels := map[string]string{"target": target.Name, "result": "success"}
	ok := value(t, fams, "podseq_probe_attempts_total", labels)
	labels["result"] = "failure"
	failed := value(t, fams, "podseq_probe_attempts_total", labels)
	if ok < 2 || failed < 3 {
		t.Errorf("attempts: %v successes and %v failures, want at least 2 and 3", ok, failed)
	}
	h := fams["podseq_probe_duration_seconds"].GetMetric()[0].GetHistogram()
	if float64(h.GetSampleCount()) != ok+failed {
		t.Errorf("duration histogram counts %d attempts, want %v", h.GetSampleCount(), ok+failed)
	}
	if v := value(t, fams, "podseq_ready", nil); v != 1 {
		t.Errorf("podseq_ready %v, want 1", v)
	}
	if v := value(t, fams, "podseq_time_to_ready_seconds", nil); v <= 0 || v > 10 {
		t.Errorf("podseq_time_to_ready_seconds %v", v)
	}
	if problems, err := testutil.GatherAndLint(r.s.m.reg); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %v", problems, err)
	}
	close(release)
	cancel()
	if code, err := r.wait(); code != 0 || err != nil {
		t.Errorf("Run = %d, %v; want 0, nil", code, err)
	}
}

func TestRunExitCodes(t *testing.T) {
	for c := 0; c <= 255; c++ {
		code, err := Run(context.Background(), Config{
			Command:  []string{"/bin/sh", "-c", "exit " + strconv.Itoa(c)},
			Listener: loopback(t),
		})
		if code != c || err != nil {
			t.Errorf("child exited %d: Run = %d, %v", c, code, err)
		}
	}
}

func TestRunCannotStartEvent(t *testing.T) {
	r := startRun(t, context.Background(), Config{Command: []string{"/nonexistent/podseq-test"}})
	died := r.next(Died)
	code, err := r.wait()
	if code != ExitNotFound || err == nil || died.ExitCode != ExitNotFound || died.PID != 0 {
		t.Errorf("Run = %d, %v, Died %+v; want 127, an error, and Died(127) with PID 0", code, err, died)
	}
}

// awaitFile waits up to 30s for path to exist.
func awaitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not created after 30s", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHeldPollLearnsOfDeath: a long poll held while the child dies before it
// was ready is answered at once, saying so (Podseq-Died) and naming this
// podseq run (Podseq-Instance), not left to the hold's end.
func TestHeldPollLearnsOfDeath(t *testing.T) {
	r := startRun(t, context.Background(), Config{
		Command:    helperCmd("linger", "1500ms", "3"),
		ReadyAfter: time.Hour,
	})
	r.next(Born)
	type answer struct {
		code       int
		died, inst string
		err        error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get(r.url + "/ready?wait=2m")
		if err != nil {
			got <- answer{err: err}
			return
		}
		resp.Body.Close()
		got <- answer{resp.StatusCode, resp.Header.Get(probes.DiedHeader), resp.Header.Get(probes.InstanceHeader), nil}
	}()
	died := r.next(Died)
	a := <-got
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.code != 503 || a.died != "command exited with code 3" {
		t.Errorf("held poll at the child's death: %d, %s %q; want 503 and the exit code", a.code, probes.DiedHeader, a.died)
	}
	if a.inst != tombstone.NewInstance() {
		t.Errorf("%s %q, want this process's instance %q", probes.InstanceHeader, a.inst, tombstone.NewInstance())
	}
	if died.ExitCode != 3 {
		t.Errorf("died with %d", died.ExitCode)
	}
	if code, _ := r.wait(); code != 3 {
		t.Errorf("Run = %d, want 3", code)
	}
}
