package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/entrypoint"
	"github.com/podseq/podseq/internal/flagname"
	"github.com/podseq/podseq/probes"
	"github.com/podseq/podseq/termination"
	"github.com/podseq/podseq/tombstone"
)

// catOrdering is the --help category of the birth and death flags.
const catOrdering = "Ordering (tombstones in --graveyard)"

// catSteps is the --help category of the flags of steps.
const catSteps = "Steps (one after another, with a failure cascade)"

// depsFlags are the flags of podseq run's birth and death dependencies.
func depsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagname.Name, Category: catOrdering, EnvVars: envName(flagname.Name),
			Usage: "`NAME` of this container: record the command's life (waiting, born, ready, died) in the tombstone GRAVEYARD/NAME"},
		&cli.StringFlag{Name: flagname.BirthDeps, Category: catOrdering, EnvVars: envName(flagname.BirthDeps),
			Usage: "`NAMES` (a,b) of the containers that must be ready before the command starts, whatever their order in the pod"},
		&cli.DurationFlag{Name: flagname.BirthTimeout, Category: catOrdering, EnvVars: envName(flagname.BirthTimeout), Value: probes.DefaultTimeout,
			Usage: "how long to wait for --birth-deps; then exit 1 without starting the command"},
		&cli.StringFlag{Name: flagname.DeathDeps, Category: catOrdering, EnvVars: envName(flagname.DeathDeps),
			Usage: "`NAMES` (a,b) of the containers whose death stops the command (--stop-signal, --grace, SIGKILL): a Job's sidecar"},
		&cli.StringFlag{Name: flagname.Outlive, Category: catOrdering, EnvVars: envName(flagname.Outlive),
			Usage: "`NAMES` (a,b) of the containers that must die before SIGTERM reaches the command, for at most --grace: a proxy that drains last"},
		&cli.StringFlag{Name: "after", Category: catSteps, EnvVars: envName("after"),
			Usage: "`STEPS` (a,b) that must have exited 0 before the command starts; if one failed, was skipped or killed, skip: exit 125"},
		&cli.StringFlag{Name: "on-error", Category: catSteps, EnvVars: envName("on-error"), Value: "stop",
			Usage: "`MODE` stop: a failure skips the steps after this one; continue: they run, and podseq exits 0 (the tombstone keeps the code)"},
		&cli.DurationFlag{Name: "step-timeout", Category: catSteps, EnvVars: envName("step-timeout"),
			Usage: "time limit of the command: then --stop-signal, --grace, SIGKILL, and exit 124 (0: none)"},
		&cli.StringFlag{Name: "termination-log", Category: catSteps, EnvVars: envName("termination-log"), Value: termination.DefaultPath,
			Usage: "`PATH` of the one-line verdict for kubelet's termination message, with --name or --after; the default is written only if it exists"},
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
	// Steps.
	after           []string
	onErrorContinue bool
	stepTimeout     time.Duration
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
	}{{"birth-deps", &d.birth}, {"death-deps", &d.death}, {"outlive", &d.outlive}, {"after", &d.after}} {
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
	switch m := c.String("on-error"); m {
	case "stop":
	case "continue":
		d.onErrorContinue = true
	default:
		return d, fmt.Errorf("--on-error %q: want stop or continue", m)
	}
	if d.stepTimeout = c.Duration("step-timeout"); d.stepTimeout < 0 {
		return d, fmt.Errorf("--step-timeout %s: must not be negative (0: no limit)", d.stepTimeout)
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
	if d.stepTimeout > 0 && len(cfg.Command) == 0 {
		return fmt.Errorf("--step-timeout needs a COMMAND (after --)")
	}
	cfg.Timeout = d.stepTimeout
	o := entrypoint.Ordering{
		Name: d.name, Graveyard: d.graveyard,
		Birth: d.birth, BirthTimeout: d.timeout,
		Death: d.death, Outlive: d.outlive,
		After: d.after, OnErrorContinue: d.onErrorContinue,
		TerminationLog: c.String("termination-log"), CreateTerminationLog: c.IsSet("termination-log"),
	}
	if !c.Bool("disabled") {
		return wordOrdering(o.Apply(cfg), d.name)
	}
	fmt.Fprintf(c.App.ErrWriter, "podseq: run %s: %s\n", disabledBy, disabledRun(d, len(cfg.Command) > 0))
	o.Birth, o.After, o.Outlive = nil, nil, nil
	if err := wordOrdering(o.Apply(cfg), d.name); err != nil {
		// Switched off, the command starts even without its graveyard.
		fmt.Fprintf(c.App.ErrWriter, "podseq: run %s: starting without tombstones: %v\n", disabledBy, err)
	}
	return nil
}

// wordOrdering words an *entrypoint.OrderingError with the flag of the
// field at fault: --name NAME, --birth-deps.
func wordOrdering(err error, name string) error {
	var oe *entrypoint.OrderingError
	if !errors.As(err, &oe) {
		return err
	}
	switch oe.Field {
	case entrypoint.FieldName:
		return fmt.Errorf("--name %s: %w", name, oe.Err)
	case entrypoint.FieldBirth:
		return wordGraveyard(fmt.Errorf("--birth-deps: %w", oe.Err))
	}
	return err
}

// disabledRun says what podseq run does, switched off: what it does not
// wait for, and what it still does.
func disabledRun(d deps, command bool) string {
	what := "starting the command at once"
	if !command {
		what = "serving at once"
	}
	var skipped []string
	if len(d.birth) > 0 {
		skipped = append(skipped, "birth deps "+strings.Join(d.birth, ","))
	}
	if len(d.after) > 0 {
		skipped = append(skipped, "steps "+strings.Join(d.after, ","))
	}
	if len(d.outlive) > 0 {
		skipped = append(skipped, "the death of "+strings.Join(d.outlive, ",")+" before passing SIGTERM on (--outlive)")
	}
	if len(skipped) == 0 {
		skipped = []string{"anything"}
	}
	what += ", not waiting for " + strings.Join(skipped, ", ")
	if len(d.death) > 0 {
		what += "; the death of " + strings.Join(d.death, ",") + " still stops it (--death-deps)"
	}
	return what
}
