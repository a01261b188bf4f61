package wait

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podseq/podseq/internal/signals"
	"github.com/podseq/podseq/probes"
)

// quick is a schedule that keeps the tests short.
var quick = probes.Schedule{Period: 5 * time.Millisecond, AttemptTimeout: 100 * time.Millisecond, SuccessThreshold: 1}

// listening is a tcp:// target that is ready: a listener that accepts.
func listening(t *testing.T) *probes.Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return target(t, "tcp://"+ln.Addr().String())
}

// refused is a tcp:// target that is never ready: a port nobody listens on.
func refused(t *testing.T) *probes.Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return target(t, "tcp://"+addr)
}

func target(t *testing.T, raw string) *probes.Target {
	t.Helper()
	ts, err := ParseTargets([]string{raw}, nil, probes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ts[0]
}

func TestWaitOutcomes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		ready    bool
		failOpen bool
		want     Outcome
	}{
		{"ready", true, false, Ready},
		{"deadline", false, false, TimedOut},
		{"deadline with fail-open", false, true, FailedOpen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := refused(t)
			if tc.ready {
				tg = listening(t)
			}
			res := Wait(context.Background(), Options{Targets: []*probes.Target{tg}, Schedule: quick, Timeout: 300 * time.Millisecond, FailOpen: tc.failOpen})
			if res.Outcome != tc.want || res.Err != nil {
				t.Fatalf("Outcome %d, Err %v; want %d", res.Outcome, res.Err, tc.want)
			}
			if res.Report.Attempts() < 1 || res.Elapsed() != res.Elapsed().Round(time.Millisecond) {
				t.Errorf("report: %d attempts, elapsed %s", res.Report.Attempts(), res.Elapsed())
			}
		})
	}
}

// TestWaitInterrupted: a context canceled by a signal is told from the
// deadline, and says which signal.
func TestWaitInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(50*time.Millisecond, func() { cancel(signals.Interrupted{Signal: syscall.SIGTERM}) })
	res := Wait(ctx, Options{Targets: []*probes.Target{refused(t)}, Schedule: quick, Timeout: time.Minute})
	if res.Outcome != Interrupted || res.Signal != syscall.SIGTERM {
		t.Errorf("Outcome %d, Signal %d; want Interrupted by SIGTERM", res.Outcome, res.Signal)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	deadline := context.DeadlineExceeded
	for _, tc := range []struct {
		name       string
		cause, err error
		failOpen   bool
		want       Outcome
	}{
		{"ready", nil, nil, false, Ready},
		{"signal before the deadline", signals.Interrupted{Signal: syscall.SIGINT}, context.Canceled, false, Interrupted},
		{"signal wins over fail-open", signals.Interrupted{Signal: syscall.SIGINT}, context.Canceled, true, Interrupted},
		{"a podseq run here died", &probes.DiedError{Here: true}, context.Canceled, false, Died},
		{"a podseq run here died, fail-open", &probes.DiedError{Here: true}, context.Canceled, true, Died},
		{"another error", nil, errors.New("no target to wait for"), false, Failed},
		{"deadline", deadline, deadline, false, TimedOut},
		{"deadline, fail-open", deadline, deadline, true, FailedOpen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := classify(tc.cause, tc.err, probes.Report{}, tc.failOpen); got.Outcome != tc.want {
				t.Errorf("Outcome %d, want %d", got.Outcome, tc.want)
			}
		})
	}
}

func TestWaitFirst(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, tc := range []struct {
		name    string
		script  string
		timeout time.Duration
		want    Outcome
		check   func(*FirstError) bool
	}{
		{"exits 0: the wait follows", "exit 0", time.Minute, Ready, nil},
		{"exits 3", "exit 3", time.Minute, FirstFailed, func(e *FirstError) bool { return e.Code == 3 && e.Started() && !e.StillRunning }},
		{"killed", "kill -9 $$", time.Minute, FirstFailed, func(e *FirstError) bool { return e.Code == 0 && e.Started() && !e.StillRunning }},
		{"still running at the deadline", "sleep 10", 200 * time.Millisecond, FirstFailed, func(e *FirstError) bool { return e.StillRunning && e.Started() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			argv := []string{"sh", "-c", tc.script}
			res := Wait(context.Background(), Options{Targets: []*probes.Target{listening(t)}, Schedule: quick, Timeout: tc.timeout,
				First: &Command{Path: sh, Argv: argv}})
			if res.Outcome != tc.want {
				t.Fatalf("Outcome %d (%v), want %d", res.Outcome, res.Err, tc.want)
			}
			var fe *FirstError
			if tc.check != nil && (!errors.As(res.Err, &fe) || !tc.check(fe)) {
				t.Errorf("Err %#v", res.Err)
			}
		})
	}
	res := Wait(context.Background(), Options{Targets: []*probes.Target{listening(t)}, Schedule: quick, Timeout: time.Minute,
		First: &Command{Path: "/nonexistent/podseq-test", Argv: []string{"/nonexistent/podseq-test"}}})
	var fe *FirstError
	if res.Outcome != FirstFailed || !errors.As(res.Err, &fe) || fe.Started() {
		t.Errorf("a command that cannot start: Outcome %d, Err %v", res.Outcome, res.Err)
	}
}

func TestParseTargets(t *testing.T) {
	t.Parallel()
	ts, err := ParseTargets([]string{"tcp://127.0.0.1:1", "file:///x"}, []string{"sh -c true"}, probes.Options{})
	if err != nil || len(ts) != 3 || ts[0].Kind != "tcp" || ts[1].Kind != "file" || ts[2].Kind != "exec" {
		t.Fatalf("ParseTargets = %v, %v; want tcp, file and exec, in order", ts, err)
	}
	if _, err := ParseTargets(nil, nil, probes.Options{}); !errors.Is(err, ErrNoTarget) {
		t.Errorf("nothing: %v, want ErrNoTarget", err)
	}
	_, err = ParseTargets(nil, []string{"/bin/check 'unclosed"}, probes.Options{})
	var ce *CommandLineError
	if !errors.As(err, &ce) || ce.Line != "/bin/check 'unclosed" || ce.Err == nil {
		t.Errorf("bad command line: %#v, want a *CommandLineError that carries it", err)
	}
	if _, err := ParseTargets([]string{"gopher://x"}, nil, probes.Options{}); err == nil || errors.As(err, &ce) {
		t.Errorf("bad URL: %v, want probes.Parse's error", err)
	}
}

func TestPodIPHint(t *testing.T) {
	loopback := probes.Report{Targets: []probes.Status{{Target: target(t, "tcp://127.0.0.1:1"), LastErr: syscall.ECONNREFUSED}}}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if h := PodIPHint(loopback); h != "" {
		t.Errorf("outside a pod: %q, want none", h)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
	if h := PodIPHint(loopback); !strings.HasPrefix(h, "hint: if this sidecar needs the pod IP") {
		t.Errorf("a refused loopback target in a pod: %q, want the hint", h)
	}
	remote := probes.Report{Targets: []probes.Status{{Target: target(t, "tcp://db.example:5432"), LastErr: syscall.ECONNREFUSED}}}
	if h := PodIPHint(remote); h != "" {
		t.Errorf("a remote target: %q, want none", h)
	}
}

func TestStopRunsWithoutPodseqRun(t *testing.T) {
	t.Parallel()
	tg := listening(t)
	if MayBePodseqRun(tg) || AnyPodseqRun([]*probes.Target{tg}) {
		t.Errorf("a tcp target may be a podseq run")
	}
	if stops := StopRuns([]*probes.Target{tg}, true); len(stops) != 0 {
		t.Errorf("StopRuns = %v, want none", stops)
	}
	if !MayBePodseqRun(target(t, "http://127.0.0.1:1/ready")) {
		t.Errorf("an http target may not be a podseq run")
	}
}
