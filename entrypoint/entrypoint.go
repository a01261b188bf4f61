// Package entrypoint is the supervisor behind `podseq run`: it starts a
// sidecar's command as its child and owes it what tini owes (signals
// forwarded, zombies reaped, the child's exit code), probes the child's
// readiness with probes.Monitor, and serves that readiness on an admin HTTP
// server: /ready (with long polls that release every `podseq wait` the instant
// the child turns ready), /healthz, /metrics and /quitquitquit.
//
// Without a command, podseq itself is a simulated sidecar: ready after a
// delay, serving until it is told to stop.
package entrypoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/probes"
	"github.com/podseq/podseq/tombstone"
)

// DefaultListen is the admin server's address: port probes.AdminPort.
var DefaultListen = ":" + strconv.Itoa(probes.AdminPort)

// Defaults of Config.
const (
	// DefaultGrace is how long the child has to exit after the stop signal
	// before it is killed: below a pod's default terminationGracePeriodSeconds
	// (30s) only by the time kubelet's own SIGKILL takes.
	DefaultGrace = 30 * time.Second
	// MaxHold is the longest long poll the admin server grants: the value of
	// the probes.HoldHeader header on every /ready response.
	MaxHold = 5 * time.Minute
	// MaxWaiters is the highest cap on concurrent long polls (the one without
	// a memory limit, see WaitersFor); more are answered 503 at once.
	MaxWaiters = 4096
)

// EventKind is what happened to the child.
type EventKind int

// The events of a child's life, in order: Born, then Ready and NotReady any
// number of times, then Died.
const (
	// Born: the child started (or, without a command, podseq itself did).
	Born EventKind = iota + 1
	// Ready: the child turned ready.
	Ready
	// NotReady: the child stopped being ready (a probe failed
	// FailureThreshold times, or it is dying).
	NotReady
	// Died: the child exited, or could not start (126 or 127, with no Born
	// before it); Event.ExitCode says how.
	Died
)

// String names the kind: "born", "ready", "not-ready", "died".
func (k EventKind) String() string {
	switch k {
	case Born:
		return "born"
	case Ready:
		return "ready"
	case NotReady:
		return "not-ready"
	case Died:
		return "died"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one change in the child's life, given to Config.OnEvent.
type Event struct {
	Kind EventKind
	// Time is when it happened.
	Time time.Time
	// PID is the child's process id (podseq's own without a command; 0 in
	// the Died event of a command that could not start).
	PID int
	// ExitCode is the child's exit code, 128+N when it died of signal N
	// (Died only). Run may still return 0 for it: see Run.
	ExitCode int
	// TimedOut: the child ran past Config.Timeout and was stopped (Died
	// only); Run returns ExitTimedOut.
	TimedOut bool
}

// Config is what Run supervises and how.
type Config struct {
	// Command is the child's argv. Empty: podseq itself is the simulated
	// sidecar, ready ReadyAfter after Run starts and serving until stopped.
	Command []string
	// ReadyAfter, with a Command, makes the child ready this long after it
	// started; without one, podseq itself. It excludes Ready.
	ReadyAfter time.Duration
	// Ready are the targets that say when the child is ready, probed without
	// end by probes.Monitor. With a Command and neither Ready nor ReadyAfter,
	// the child is ready as soon as it started.
	Ready []*probes.Target
	// Schedule is how Ready is probed (FailureThreshold and ReadyPeriod too).
	Schedule probes.Schedule
	// Listener is the admin server's socket, opened by the caller (so that
	// a port in use is reported before anything starts); Run closes it. It
	// is required unless NoAdmin.
	Listener net.Listener
	// NoAdmin runs without an admin server: no /ready, /healthz, /metrics
	// or /quitquitquit, and no port. Listener must be nil.
	NoAdmin bool
	// MaxWaiters caps the long polls held at once: FitMemory's, to fit a
	// container's memory limit. Zero means MaxWaiters.
	MaxWaiters int
	// Grace is how long the child has to exit after the stop signal before
	// it (with its process group under SignalGroup) is killed. Zero means
	// DefaultGrace.
	Grace time.Duration
	// SignalGroup sends every signal to the child's process group (the child
	// leads a new one) instead of to the child alone.
	SignalGroup bool
	// StopSignal stops the child: sent in place of SIGTERM when podseq gets
	// SIGTERM, and on a Stop or /quitquitquit. Zero means SIGTERM.
	StopSignal syscall.Signal
	// Logger receives what podseq has to say. Nil discards it.
	Logger *slog.Logger
	// Timeout, when positive, is the child's time limit (a step's): that
	// long after it started it is stopped as by Stop (StopSignal, Grace,
	// SIGKILL) and Run returns ExitTimedOut.
	Timeout time.Duration

	// The hooks, in the order of a run (Ordering.Apply sets them for a
	// pod's order). Each may be nil.

	// BeforeStart runs before the child starts (birth dependencies); an
	// error ends Run with it. Its context ends when podseq is told to stop.
	BeforeStart func(ctx context.Context) error
	// Env, when set, is called once BeforeStart returned: what it returns
	// ("KEY=value") is added to the child's environment.
	Env func() []string
	// OnEvent is told when the child is born, turns ready, turns not ready
	// and dies (with exit code). Calls come one at a time, in order; it must
	// return promptly.
	OnEvent func(Event)
	// Stop: a reason received on it stops the child: StopSignal, Grace, then
	// SIGKILL (death dependencies). Closing it stops the child too.
	Stop <-chan string
	// BeforeForward runs before a terminating signal (SIGTERM/SIGINT) is
	// forwarded; it may block (shutdown order: outlive the app), bounded by a
	// context that ends after Grace, or at once on a second such signal or
	// the child's death. It must return when its context ends.
	BeforeForward func(ctx context.Context, sig os.Signal)
	// Finish, when set, is given what Run is about to return and returns
	// what Run returns instead: a step's verdict.
	Finish func(exitCode int, err error) (int, error)
}

// Supervisor runs one Config. New checks it and sets up the admin server on
// its Listener; Run does the rest.
type Supervisor struct {
	cfg   Config
	log   *slog.Logger
	ln    net.Listener
	start time.Time
	state *readiness
	m     *metrics
	srv   *http.Server
	// quit receives /quitquitquit requests.
	quit chan string
	// health is /healthz's answer: "" when alive, else why not.
	health atomic.Pointer[string]
	// eventMu keeps readiness changes and their events in one order.
	eventMu sync.Mutex
	// dead is set, under eventMu, once the child died.
	dead bool
	// everReady is set, under eventMu, the first time the child turns ready.
	everReady bool
	ran       atomic.Bool
	// instance is the Podseq-Instance header's value: who answers.
	instance []string
	// linger is set when the child died while long polls were held: podseq
	// run then gives them DiedLinger to report it before it exits.
	linger atomic.Bool
}

// DiedLinger is how long podseq run stays after its child died while
// `podseq wait` long polls were held: they are answered at once (with the
// Podseq-Died header), and a wait in this container's postStart hook, which
// dies with the container, has that long to print why and exit before it.
const DiedLinger = 250 * time.Millisecond

// ExitUsage is the code Run returns for a Config it cannot run: no listener,
// a missing or empty command, Ready with ReadyAfter.
const ExitUsage = exitcode.Usage

// ExitTimedOut is the code Run returns when the child ran past
// Config.Timeout, as timeout(1)'s.
const ExitTimedOut = exitcode.TimedOut

// ExitSkipped is the code of a step that did not run because a step it runs
// after did not succeed (Ordering.After), as git bisect run's "skip".
const ExitSkipped = exitcode.Skipped

// An ExitCoder error from BeforeStart says the code Run returns with it;
// any other error gives 1.
type ExitCoder interface {
	error
	ExitCode() int
}

// Exit codes for a command that cannot be started, as a shell's.
const (
	// ExitCannotExec: the command was found but could not be executed.
	ExitCannotExec = exitcode.CannotExec
	// ExitNotFound: the command was not found.
	ExitNotFound = exitcode.NotFound
)

// New checks cfg and sets up the admin server on cfg.Listener.
func New(cfg Config) (*Supervisor, error) {
	if err := check(cfg); err != nil {
		return nil, err
	}
	cfg = withDefaults(cfg)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Supervisor{
		cfg:   cfg,
		log:   log,
		ln:    cfg.Listener,
		state: newReadiness("starting"),
		quit:  make(chan string, 1),
		// The same id as the tombstone's (tombstone.NewInstance): when podseq
		// run is the container's main process, a podseq wait beside it finds
		// it as InstanceOf(1).
		instance: []string{tombstone.NewInstance()},
	}
	s.m = newMetrics(cfg.Ready, s.state)
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	alive := ""
	s.health.Store(&alive)
	return s, nil
}

// check rejects a Config that Run cannot run.
func check(cfg Config) error {
	switch {
	case len(cfg.Command) > 0 && cfg.Command[0] == "":
		return errors.New("empty command name")
	case len(cfg.Ready) > 0 && cfg.ReadyAfter > 0:
		return errors.New("ready targets and ready-after exclude each other")
	case cfg.ReadyAfter < 0:
		return fmt.Errorf("ready-after %s: must not be negative", cfg.ReadyAfter)
	case cfg.Grace < 0:
		return fmt.Errorf("grace %s: must not be negative", cfg.Grace)
	case cfg.Timeout < 0:
		return fmt.Errorf("timeout %s: must not be negative", cfg.Timeout)
	case cfg.Timeout > 0 && len(cfg.Command) == 0:
		return errors.New("a timeout needs a command")
	case len(cfg.Ready) > 0 && len(cfg.Command) == 0:
		return errors.New("ready targets need a command to probe")
	case cfg.NoAdmin && cfg.Listener != nil:
		return errors.New("no admin server, but an address to listen on")
	case !cfg.NoAdmin && cfg.Listener == nil:
		return errors.New("no listener for the admin server")
	}
	return nil
}

// withDefaults fills in what cfg leaves zero.
func withDefaults(cfg Config) Config {
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.StopSignal == 0 {
		cfg.StopSignal = syscall.SIGTERM
	}
	if cfg.MaxWaiters <= 0 {
		cfg.MaxWaiters = MaxWaiters
	}
	return cfg
}

// Run runs cfg: New, then Supervisor.Run. A Config it cannot run returns
// ExitUsage and the error.
func Run(ctx context.Context, cfg Config) (exitCode int, err error) {
	s, err := New(cfg)
	if err != nil {
		return ExitUsage, err
	}
	return s.Run(ctx)
}

// turnReady records that the child turned ready, once per turn.
func (s *Supervisor) turnReady(pid int) {
	s.eventMu.Lock()
	defer s.eventMu.Unlock()
	now := time.Now() // before set releases the long polls: none is released before it
	if s.dead || !s.state.set(true, "") {
		return
	}
	elapsed := now.Sub(s.start)
	s.m.ready.Set(1)
	if !s.everReady {
		s.everReady = true
		s.m.timeToReady.Set(elapsed.Seconds())
	}
	s.log.Info("ready", "elapsed", elapsed.Round(time.Microsecond).String())
	s.emitLocked(Event{Kind: Ready, Time: now, PID: pid})
}

// turnNotReady records that the child stopped being ready.
func (s *Supervisor) turnNotReady(pid int, reason string) {
	s.eventMu.Lock()
	defer s.eventMu.Unlock()
	if s.dead || !s.state.set(false, reason) {
		return
	}
	s.m.ready.Set(0)
	s.log.Warn("not ready", "reason", reason)
	s.emitLocked(Event{Kind: NotReady, Time: time.Now(), PID: pid})
}

// childDied flips readiness and health for good and tells OnEvent;
// timedOut says the child was stopped for running past Timeout.
func (s *Supervisor) childDied(pid, code int, reason string, timedOut bool) {
	s.eventMu.Lock()
	defer s.eventMu.Unlock()
	now := time.Now()
	s.dead = true
	s.health.Store(&reason)
	if s.state.set(false, reason) {
		s.m.ready.Set(0)
		s.emitLocked(Event{Kind: NotReady, Time: now, PID: pid})
	}
	s.state.finish()
	if s.state.waiters.Load() > 0 {
		s.linger.Store(true)
	}
	s.state.close() // every held long poll learns it now
	s.emitLocked(Event{Kind: Died, Time: now, PID: pid, ExitCode: code, TimedOut: timedOut})
}

func (s *Supervisor) emit(e Event) {
	s.eventMu.Lock()
	defer s.eventMu.Unlock()
	s.emitLocked(e)
}

func (s *Supervisor) emitLocked(e Event) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(e)
	}
}

// shutdown releases every long poll and stops the admin server.
func (s *Supervisor) shutdown() {
	s.state.close()
	if s.linger.Load() {
		time.Sleep(DiedLinger)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}
