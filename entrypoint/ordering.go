package entrypoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/podseq/podseq/probes"
	"github.com/podseq/podseq/tombstone"
)

// ProgressEvery is how often a wait (podseq wait, or run's wait for birth
// dependencies) logs where it stands.
const ProgressEvery = probes.ProgressEvery

// Ordering is one podseq run's place in its pod's birth and death order,
// through tombstones in a shared graveyard directory (package tombstone).
type Ordering struct {
	// Name is this container's tombstone: GRAVEYARD/NAME records the
	// command's life. Empty writes none.
	Name string
	// Graveyard is the directory of tombstones, an emptyDir every container
	// mounts.
	Graveyard string
	// Birth names the containers that must be ready before the command
	// starts; BirthTimeout bounds the wait.
	Birth        []string
	BirthTimeout time.Duration
	// Death names the containers whose death stops the command.
	Death []string
	// Outlive names the containers that must die before a terminating
	// signal reaches the command.
	Outlive []string

	// After makes this container a step: its command starts only once each
	// of these steps has exited 0 (or failed under --on-error continue),
	// checked before Birth is waited for. If one failed, was skipped, or was
	// killed before it recorded its exit, the command never starts: the
	// tombstone says skipped and Run returns ExitSkipped with a *SkipError.
	// Each one's exit code is in the command's environment (ExitCodeEnv).
	After []string
	// OnErrorContinue: this step's failure does not skip the steps after
	// it, and podseq exits 0 for it (the tombstone keeps the real code).
	OnErrorContinue bool
	// TerminationLog is where the verdict goes when podseq exits, in one
	// short line ("build: failed: exited with code 3 after 1.2s"), for
	// kubelet's termination message. Empty writes none. It is written only
	// if it exists, unless CreateTerminationLog.
	TerminationLog       string
	CreateTerminationLog bool
}

// Apply sets the hooks of cfg for d, replacing any set before, and creates
// the tombstone. It fails, before anything starts, on a graveyard that is
// missing or read-only, a name that is taken, or a cycle of birth
// dependencies that this container would close.
//
// A run with an Ordering, in the order of Run's hooks (each set only when d
// needs it):
//
//	BeforeStart    wait for the steps to run after (waitAfter), then for the birth deps (waitBirth)
//	Env            the steps' exit codes, in the child's environment (stepExitCodes)
//	OnEvent        record the birth and start watching the death deps, record readiness,
//	               stop watching and record the death (onEvent)
//	Stop           the first death dep to die stops the child (watchDeath)
//	BeforeForward  hold SIGTERM back until the containers to outlive have died (waitOutlive)
//	Finish         the verdict: --on-error continue, the termination message (finish)
func (d Ordering) Apply(cfg *Config) error {
	if d.Name == "" && len(d.Birth)+len(d.Death)+len(d.Outlive)+len(d.After) == 0 {
		return nil // no ordering: no graveyard needed
	}
	o, err := d.open(cfg.Logger, cfg.Timeout)
	if err != nil {
		return err
	}
	if len(d.After)+len(d.Birth) > 0 {
		cfg.BeforeStart = o.beforeStart
	}
	if len(d.After) > 0 {
		cfg.Env = o.stepExitCodes
	}
	cfg.OnEvent = o.onEvent
	if len(d.Death) > 0 {
		cfg.Stop = o.stop
	}
	if len(d.Outlive) > 0 {
		cfg.BeforeForward = o.waitOutlive
	}
	if d.Name != "" || len(d.After) > 0 {
		cfg.Finish = o.finish
	}
	return nil
}

// open starts the ordering of a run, before anything starts: it creates the
// tombstone, or without a name checks that the graveyard is there, and
// parses the birth deps.
func (d Ordering) open(log *slog.Logger, timeout time.Duration) (*ordering, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &ordering{Ordering: d, log: log, timeout: timeout}
	if d.Name != "" {
		if err := o.createTombstone(); err != nil {
			return nil, err
		}
	} else {
		// Only reading: the graveyard must be there, it may be read-only.
		w, err := tombstone.Watch(d.Graveyard, 0)
		if err != nil {
			return nil, err
		}
		w.Close()
	}
	if len(d.Birth) > 0 {
		var err error
		if o.targets, err = o.birthTargets(); err != nil {
			o.giveUp(ExitUsage)
			return nil, err
		}
	}
	if len(d.Death) > 0 {
		o.stop = make(chan string, 1)
	}
	return o, nil
}

// createTombstone creates this container's tombstone, replacing a previous
// instance's, and refuses a cycle of dependencies that it closes.
func (o *ordering) createTombstone() error {
	d := o.Ordering
	decl := tombstone.Declared{BirthDeps: d.Birth, After: d.After}
	if d.OnErrorContinue {
		decl.OnError = tombstone.OnErrorContinue
	}
	var err error
	if o.w, err = tombstone.CreateDeclared(d.Graveyard, d.Name, decl, time.Now()); err != nil {
		return &OrderingError{Field: FieldName, Err: err}
	}
	if p := o.w.Previous(); p != nil {
		o.log.Info("replaced the tombstone of a previous instance", "name", d.Name, "previous", p.Instance,
			"state", string(p.State), "restarts", o.w.Tombstone().Restarts)
	}
	// A cycle already visible (this container closes it) is a mistake in
	// the pod spec.
	if cyc := tombstone.FindCycle(func(n string) tombstone.Status { return tombstone.Get(d.Graveyard, n) }, d.Name); cyc != nil {
		o.giveUp(ExitUsage)
		if cyc.After {
			return cyc
		}
		return &OrderingError{Field: FieldBirth, Err: cyc}
	}
	return nil
}

// The fields of an Ordering that an OrderingError can name.
const (
	FieldName  = "Name"
	FieldBirth = "Birth"
)

// OrderingError is why Apply refused an Ordering, and which of its fields
// (FieldName, FieldBirth) is at fault; a command line words it with its own
// flag's name.
type OrderingError struct {
	Field string
	Err   error
}

// Error names the field as Ordering does.
func (e *OrderingError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns what is wrong.
func (e *OrderingError) Unwrap() error { return e.Err }

// ordering is the running state of an Ordering.
type ordering struct {
	Ordering
	log     *slog.Logger
	w       *tombstone.Writer // nil without --name
	targets []*probes.Target  // tombstone://BIRTH-DEP
	stop    chan string       // death deps: a reason stops the child

	timeout time.Duration // Config.Timeout, for the verdict
	env     []string      // the --after steps' exit codes, set before the child starts

	mu          sync.Mutex
	cancelDeath context.CancelFunc
	deathDone   chan struct{}
	born        time.Time // when the child started
	died        *Event    // the child's death, nil before
	verdict     string    // the termination message, once known
}

func (o *ordering) birthTargets() ([]*probes.Target, error) {
	var ts []*probes.Target
	for _, n := range o.Birth {
		t, err := probes.Parse("tombstone://"+n, probes.Options{Graveyard: o.Graveyard})
		if err != nil {
			return nil, &OrderingError{Field: FieldBirth, Err: err}
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// giveUp records that the command will never start: died with code.
func (o *ordering) giveUp(code int) {
	if o.w == nil {
		return
	}
	if err := o.w.Died(code, time.Now()); err != nil {
		o.log.Warn("could not record the death in the tombstone", "err", err)
	}
	o.w.Close()
}

// beforeStart is Config.BeforeStart: the steps to run after must have
// succeeded, then the birth deps must be ready.
func (o *ordering) beforeStart(ctx context.Context) error {
	if len(o.After) > 0 {
		if err := o.waitAfter(ctx); err != nil {
			return err
		}
	}
	if len(o.Birth) > 0 {
		return o.waitBirth(ctx)
	}
	return nil
}

// waitBirth waits until every birth dep is ready, for at most --birth-timeout.
// It fails at once on a cycle of birth deps.
func (o *ordering) waitBirth(ctx context.Context) error {
	o.log.Info("waiting for birth deps", "deps", strings.Join(o.Birth, ","), "timeout", o.BirthTimeout.String())
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tctx, tcancel := context.WithTimeout(cctx, o.BirthTimeout)
	defer tcancel()
	observe := func(a probes.Attempt) {
		var cyc *tombstone.CycleError
		if errors.As(a.Err, &cyc) {
			cancel(cyc)
		}
	}
	progress := &probes.Progress{Every: ProgressEvery, Func: func(r probes.Report) {
		o.log.Info(fmt.Sprintf("waiting %s for birth deps: %s", r.Elapsed().Truncate(time.Millisecond), r.Pending()))
	}}
	report, err := probes.Wait(tctx, o.targets, probes.Schedule{}, observe, progress)
	if err == nil {
		o.log.Info("birth deps ready", "elapsed", report.Elapsed().Round(time.Microsecond).String())
		return nil
	}
	var cyc *tombstone.CycleError
	switch {
	case errors.As(context.Cause(cctx), &cyc):
		// Run ends with exit code 1 on any BeforeStart error.
		o.giveUp(1)
		return cyc
	case ctx.Err() != nil:
		// Told to stop while waiting: Run reports it.
		o.giveUp(stopCode(context.Cause(ctx)))
		return context.Cause(ctx)
	}
	o.giveUp(1)
	return fmt.Errorf("not ready after %s: %s", o.BirthTimeout, report.Pending())
}

// stopCode is the exit code Run gives when it is stopped before the command
// starts: 128+N for signal N, else 0.
func stopCode(cause error) int {
	var se signalError
	if errors.As(cause, &se) {
		return 128 + int(se.sig)
	}
	return 0
}

// onEvent records the child's life in the tombstone and starts and stops the
// death-deps watch with the child.
func (o *ordering) onEvent(e Event) {
	var err error
	switch e.Kind {
	case Born:
		o.mu.Lock()
		o.born = e.Time
		o.mu.Unlock()
		if o.w != nil {
			err = o.w.Born(e.PID, e.Time)
		}
		if o.stop != nil {
			o.watchDeath()
		}
	case Ready:
		if o.w != nil {
			err = o.w.Ready(e.Time)
		}
	case NotReady:
		if o.w != nil {
			err = o.w.NotReady(e.Time)
		}
	case Died:
		o.endDeathWatch()
		o.mu.Lock()
		if !o.born.IsZero() {
			o.died = &e
		}
		o.mu.Unlock()
		if o.w != nil {
			if e.TimedOut {
				err = o.w.DiedTimedOut(ExitTimedOut, o.timeout, e.Time)
			} else {
				err = o.w.Died(e.ExitCode, e.Time)
			}
			o.w.Close()
		}
	}
	if err != nil {
		o.log.Warn("could not update the tombstone", "event", e.Kind.String(), "err", err)
	}
}

// watchDeath starts watching the death deps: the first one that dies stops
// the child. A death dep already dead when the child is born counts.
func (o *ordering) watchDeath() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cancelDeath != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	o.cancelDeath, o.deathDone = cancel, done
	w, err := tombstone.Watch(o.Graveyard, 0)
	if err != nil {
		close(done)
		o.log.Error("cannot watch the death deps", "err", err)
		return
	}
	go func() {
		defer close(done)
		defer w.Close()
		var dead tombstone.Status
		err := w.Until(ctx, func(get func(string) tombstone.Status) bool {
			for _, n := range o.Death {
				if s := get(n); s.IsDead() {
					dead = s
					return true
				}
			}
			return false
		})
		if err != nil {
			return
		}
		reason := fmt.Sprintf("death dep %s %s", dead.Name, dead.Reason())
		o.log.Info("a death dep died: stopping the command", "dep", dead.Name, "state", dead.Reason())
		select {
		case o.stop <- reason:
		default:
		}
	}()
}

// endDeathWatch stops the death-deps watch and waits for it.
func (o *ordering) endDeathWatch() {
	o.mu.Lock()
	cancel, done := o.cancelDeath, o.deathDone
	o.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// waitOutlive holds a terminating signal back until every --outlive container
// has died, or ctx ends (--grace, a second signal, the command's death).
func (o *ordering) waitOutlive(ctx context.Context, _ os.Signal) {
	w, err := tombstone.Watch(o.Graveyard, 0)
	if err != nil {
		o.log.Warn("cannot watch the containers to outlive: forwarding now", "err", err)
		return
	}
	defer w.Close()
	start := time.Now()
	o.log.Info("holding the signal until these have died", "outlive", strings.Join(o.Outlive, ","))
	var pending []string
	err = w.Until(ctx, func(get func(string) tombstone.Status) bool {
		pending = pending[:0]
		for _, n := range o.Outlive {
			if s := get(n); !s.IsDead() {
				pending = append(pending, n+": "+s.Reason())
			}
		}
		return len(pending) == 0
	})
	if err != nil {
		o.log.Warn("forwarding the signal before these died", "after", time.Since(start).Round(time.Millisecond).String(),
			"pending", strings.Join(pending, "; "))
		return
	}
	o.log.Info("outlived them: forwarding the signal", "after", time.Since(start).Round(time.Millisecond).String())
}
