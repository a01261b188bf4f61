package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/entrypoint"
	"github.com/podseq/podseq/probes"
	"github.com/podseq/podseq/tombstone"
)

// catOrdering is the --help category of the birth and death flags.
const catOrdering = "Ordering (tombstones in --graveyard)"

// defaultBirthTimeout bounds the wait for birth deps, as podseq wait's
// --timeout: a container that waits forever is worse than one that fails.
const defaultBirthTimeout = 2 * time.Minute

// depsFlags are the flags of podseq run's birth and death dependencies.
func depsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Category: catOrdering, EnvVars: envName("name"),
			Usage: "`NAME` of this container: record the command's life (waiting, born, ready, died) in the tombstone GRAVEYARD/NAME"},
		&cli.StringFlag{Name: "birth-deps", Category: catOrdering, EnvVars: envName("birth-deps"),
			Usage: "`NAMES` (a,b) of the containers that must be ready before the command starts, whatever their order in the pod"},
		&cli.DurationFlag{Name: "birth-timeout", Category: catOrdering, EnvVars: envName("birth-timeout"), Value: defaultBirthTimeout,
			Usage: "how long to wait for --birth-deps; then exit 1 without starting the command"},
		&cli.StringFlag{Name: "death-deps", Category: catOrdering, EnvVars: envName("death-deps"),
			Usage: "`NAMES` (a,b) of the containers whose death stops the command (--stop-signal, --grace, SIGKILL): a Job's sidecar"},
		&cli.StringFlag{Name: "outlive", Category: catOrdering, EnvVars: envName("outlive"),
			Usage: "`NAMES` (a,b) of the containers that must die before SIGTERM reaches the command, for at most --grace: a proxy that drains last"},
	}
}

// deps is the parsed ordering flags.
type deps struct {
	name      string
	graveyard string
	birth     []string
	death     []string
	outlive   []string
	timeout   time.Duration
}

// parseDeps reads and checks the ordering flags.
func parseDeps(c *cli.Context) (deps, error) {
	d := deps{name: c.String("name"), graveyard: c.Path("graveyard"), timeout: c.Duration("birth-timeout")}
	if d.name != "" {
		if err := tombstone.ValidName(d.name); err != nil {
			return d, fmt.Errorf("--name: %w", err)
		}
	}
	var err error
	for _, f := range []struct {
		flag string
		to   *[]string
	}{{"birth-deps", &d.birth}, {"death-deps", &d.death}, {"outlive", &d.outlive}} {
		if *f.to, err = parseNames(c.String(f.flag)); err != nil {
			return d, fmt.Errorf("--%s: %w", f.flag, err)
		}
		if d.name != "" && slices.Contains(*f.to, d.name) {
			return d, fmt.Errorf("--%s: %s depends on itself (it is --name)", f.flag, d.name)
		}
	}
	if d.timeout <= 0 {
		return d, fmt.Errorf("--birth-timeout %s: must be positive", d.timeout)
	}
	return d, nil
}

// parseNames parses a comma-separated list of container names. The app sets
// DisableSliceFlagSeparator (URLs hold commas), so the list is split here;
// names have no commas.
func parseNames(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var names []string
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if err := tombstone.ValidName(n); err != nil {
			return nil, err
		}
		if slices.Contains(names, n) {
			return nil, fmt.Errorf("%s is listed twice", n)
		}
		names = append(names, n)
	}
	return names, nil
}

// applyDeps sets the birth and death dependencies of cfg (BeforeStart,
// OnEvent, Stop, BeforeForward) from depsFlags. An error is a usage error.
func applyDeps(c *cli.Context, cfg *entrypoint.Config) error {
	d, err := parseDeps(c)
	if err != nil {
		return err
	}
	if d.name == "" && len(d.birth)+len(d.death)+len(d.outlive) == 0 {
		return nil // no ordering: no graveyard needed
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &ordering{deps: d, log: log}
	if d.name != "" {
		if o.w, err = tombstone.Create(d.graveyard, d.name, d.birth, time.Now()); err != nil {
			return fmt.Errorf("--name %s: %w", d.name, err)
		}
		if p := o.w.Previous(); p != nil {
			log.Info("replaced the tombstone of a previous instance", "name", d.name, "previous", p.Instance,
				"state", string(p.State), "restarts", o.w.Tombstone().Restarts)
		}
		// A cycle already visible (this container closes it) is a mistake in
		// the pod spec.
		if cyc := tombstone.FindCycle(func(n string) tombstone.Status { return tombstone.Get(d.graveyard, n) }, d.name); cyc != nil {
			o.giveUp(exitUsage)
			return fmt.Errorf("--birth-deps: %w", cyc)
		}
	} else {
		// Only reading: the graveyard must be there, it may be read-only.
		w, err := tombstone.Watch(d.graveyard, 0)
		if err != nil {
			return err
		}
		w.Close()
	}
	if len(d.birth) > 0 {
		if o.targets, err = o.birthTargets(); err != nil {
			o.giveUp(exitUsage)
			return err
		}
		cfg.BeforeStart = chainBeforeStart(cfg.BeforeStart, o.waitBirth)
	}
	if len(d.death) > 0 {
		stop := make(chan string, 1)
		cfg.Stop = stop
		o.stop = stop
	}
	if len(d.outlive) > 0 {
		cfg.BeforeForward = o.waitOutlive
	}
	next := cfg.OnEvent
	cfg.OnEvent = func(e entrypoint.Event) {
		o.onEvent(e)
		if next != nil {
			next(e)
		}
	}
	return nil
}

// ordering is one podseq run's tombstone and dependencies.
type ordering struct {
	deps
	log     *slog.Logger
	w       *tombstone.Writer // nil without --name
	targets []*probes.Target  // tombstone://BIRTH-DEP
	stop    chan<- string     // death deps: a reason stops the child

	mu          sync.Mutex
	cancelDeath context.CancelFunc
	deathDone   chan struct{}
}

func (o *ordering) birthTargets() ([]*probes.Target, error) {
	var ts []*probes.Target
	for _, n := range o.birth {
		t, err := probes.Parse("tombstone://"+n, probes.Options{Graveyard: o.graveyard})
		if err != nil {
			return nil, fmt.Errorf("--birth-deps: %w", err)
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

// chainBeforeStart runs a, then b.
func chainBeforeStart(a, b func(context.Context) error) func(context.Context) error {
	if a == nil {
		return b
	}
	return func(ctx context.Context) error {
		if err := a(ctx); err != nil {
			return err
		}
		return b(ctx)
	}
}

// waitBirth waits until every birth dep is ready, for at most --birth-timeout.
// It fails at once on a cycle of birth deps.
func (o *ordering) waitBirth(ctx context.Context) error {
	o.log.Info("waiting for birth deps", "deps", strings.Join(o.birth, ","), "timeout", o.timeout.String())
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tctx, tcancel := context.WithTimeout(cctx, o.timeout)
	defer tcancel()
	observe := func(a probes.Attempt) {
		var cyc *tombstone.CycleError
		if errors.As(a.Err, &cyc) {
			cancel(cyc)
		}
	}
	progress := &probes.Progress{Every: progressEvery, Func: func(r probes.Report) {
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
		// entrypoint ends Run with exit code 1 on any BeforeStart error.
		o.giveUp(exitNotReady)
		return cyc
	case ctx.Err() != nil:
		// Told to stop while waiting: Run reports it.
		o.giveUp(stopCode(context.Cause(ctx)))
		return context.Cause(ctx)
	}
	o.giveUp(exitNotReady)
	return fmt.Errorf("not ready after %s: %s", o.timeout, report.Pending())
}

// stopCode is the exit code Run gives when it is stopped before the command
// starts: 128+N for a signal (entrypoint's cause says which), else 0.
func stopCode(cause error) int {
	switch msg := fmt.Sprint(cause); {
	case strings.Contains(msg, "SIGTERM"):
		return 143
	case strings.Contains(msg, "SIGINT"):
		return 130
	}
	return 0
}

// onEvent records the child's life in the tombstone and starts and stops the
// death-deps watch with the child.
func (o *ordering) onEvent(e entrypoint.Event) {
	var err error
	switch e.Kind {
	case entrypoint.Born:
		if o.w != nil {
			err = o.w.Born(e.PID, e.Time)
		}
		if o.stop != nil {
			o.watchDeath()
		}
	case entrypoint.Ready:
		if o.w != nil {
			err = o.w.Ready(e.Time)
		}
	case entrypoint.NotReady:
		if o.w != nil {
			err = o.w.NotReady(e.Time)
		}
	case entrypoint.Died:
		o.endDeathWatch()
		if o.w != nil {
			err = o.w.Died(e.ExitCode, e.Time)
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
	w, err := tombstone.Watch(o.graveyard, 0)
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
			for _, n := range o.death {
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

// outlive holds a terminating signal back until every --outlive container
// has died, or ctx ends (--grace, a second signal, the command's death).
func (o *ordering) waitOutlive(ctx context.Context, _ os.Signal) {
	w, err := tombstone.Watch(o.graveyard, 0)
	if err != nil {
		o.log.Warn("cannot watch the containers to outlive: forwarding now", "err", err)
		return
	}
	defer w.Close()
	start := time.Now()
	o.log.Info("holding the signal until these have died", "outlive", strings.Join(o.outlive, ","))
	var pending []string
	err = w.Until(ctx, func(get func(string) tombstone.Status) bool {
		pending = pending[:0]
		for _, n := range o.outlive {
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
