// Package wait is what `podseq wait` does, without its command line: it
// takes parsed targets and options, probes them until every one is ready or
// the wait ends, and says how it ended in a Result. It knows nothing of
// flags; cmd/podseq maps flags to Options and a Result to lines and an exit
// code, as blackbox_exporter's prober/ is given a parsed module.
package wait

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/podseq/podseq/internal/signals"
	"github.com/podseq/podseq/probes"
)

// Options are one wait's.
type Options struct {
	// Targets are waited for, concurrently; at least one.
	Targets []*probes.Target
	// Schedule says how each target is probed.
	Schedule probes.Schedule
	// Timeout is the overall deadline, First included; positive.
	Timeout time.Duration
	// FailOpen turns a wait that passed its deadline into FailedOpen: the
	// caller starts what it waited for anyway.
	FailOpen bool
	// First, when set, runs to its end before the probing starts, within
	// Timeout: a postStart hook that the wait is composed with.
	First *Command
	// Progress, when set, is called every probes.ProgressEvery with the
	// targets still pending.
	Progress func(probes.Report)
}

// Command is a command that the wait runs, found already (exec.LookPath).
type Command struct {
	// Path is the executable; Argv the command as given, Argv[0] its name.
	Path string
	Argv []string
	// Stdout and Stderr are the command's; nil discards.
	Stdout, Stderr io.Writer
}

// Outcome is how a wait ended.
type Outcome int

// The outcomes of a wait.
const (
	// Ready: every target is ready.
	Ready Outcome = iota
	// TimedOut: not ready by the deadline.
	TimedOut
	// FailedOpen: not ready by the deadline, with Options.FailOpen.
	FailedOpen
	// Died: a podseq run in this very container answered that its command
	// died; a postStart hook dies with the container, so the wait ends now.
	Died
	// Interrupted: a signal canceled the context (Result.Signal).
	Interrupted
	// FirstFailed: Options.First did not exit 0 (Result.Err is a
	// *FirstError), so nothing was waited for.
	FirstFailed
	// Failed: the wait could not go on (Result.Err).
	Failed
)

// Result is how a wait ended and where each target stood.
type Result struct {
	Outcome Outcome
	// Report is where each target stood at the end.
	Report probes.Report
	// Signal is the signal that interrupted the wait.
	Signal syscall.Signal
	// Err is why the wait failed (FirstFailed, Failed).
	Err error
}

// Elapsed is how long the probing took, to the millisecond.
func (r Result) Elapsed() time.Duration { return r.Report.Elapsed().Round(time.Millisecond) }

// Wait runs o.First, if any, then probes o.Targets until all of them are
// ready or the wait ends: the deadline, ctx canceled (by a signal, with
// signals.Interrupted as its cause), or a podseq run of this container that
// died.
func Wait(ctx context.Context, o Options) Result {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	ctx, died := context.WithCancelCause(ctx)
	defer died(nil)
	if o.First != nil {
		if err := runFirst(ctx, o.First); err != nil {
			return Result{Outcome: FirstFailed, Err: err}
		}
	}
	report, err := probes.Wait(ctx, o.Targets, o.Schedule, diedHere(died), progress(o.Progress))
	return classify(context.Cause(ctx), err, report, o.FailOpen)
}

// diedHere ends the wait when a podseq run in this very container says its
// command died: this wait dies with the container.
func diedHere(died context.CancelCauseFunc) probes.Observer {
	return func(a probes.Attempt) {
		var de *probes.DiedError
		if errors.As(a.Err, &de) && de.Here {
			died(de)
		}
	}
}

// progress calls f every probes.ProgressEvery, if f is set.
func progress(f func(probes.Report)) *probes.Progress {
	if f == nil {
		return nil
	}
	return &probes.Progress{Every: probes.ProgressEvery, Func: f}
}

// classify tells how a wait ended from probes.Wait's error and the cause of
// its context: a signal first, then a podseq run that died, then the
// deadline.
func classify(cause, err error, report probes.Report, failOpen bool) Result {
	r := Result{Report: report}
	var sig signals.Interrupted
	var de *probes.DiedError
	switch {
	case err == nil:
		r.Outcome = Ready
	case errors.As(cause, &sig):
		r.Outcome, r.Signal = Interrupted, sig.Signal
	case errors.As(cause, &de):
		r.Outcome = Died
	case !errors.Is(err, context.DeadlineExceeded):
		r.Outcome, r.Err = Failed, err
	case failOpen:
		r.Outcome = FailedOpen
	default:
		r.Outcome = TimedOut
	}
	return r
}

// FirstError is a First command that did not exit 0.
type FirstError struct {
	// Argv is the command.
	Argv []string
	// StillRunning: the wait ended (its deadline, a signal) while the
	// command ran; it was killed.
	StillRunning bool
	// Code is the command's exit code when it exited with one above 0.
	Code int
	// Err is why: an *exec.ExitError, or the error of a command that could
	// not start (exitcode.ForStart).
	Err error
}

func (e *FirstError) Error() string {
	switch {
	case e.StillRunning:
		return probes.QuoteCommand(e.Argv) + " still running"
	case e.Code > 0:
		return probes.QuoteCommand(e.Argv) + " exited " + strconv.Itoa(e.Code)
	}
	return probes.QuoteCommand(e.Argv) + ": " + e.Err.Error()
}

func (e *FirstError) Unwrap() error { return e.Err }

// Started reports whether the command ran (it exited, was killed or died),
// as opposed to one that could not start.
func (e *FirstError) Started() bool {
	var ee *exec.ExitError
	return e.StillRunning || errors.As(e.Err, &ee)
}

// runFirst runs c to its end, within ctx, with its standard streams.
func runFirst(ctx context.Context, c *Command) error {
	cmd := exec.CommandContext(ctx, c.Path, c.Argv[1:]...)
	cmd.Args[0] = c.Argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, c.Stdout, c.Stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return &FirstError{Argv: c.Argv, StillRunning: true, Err: err}
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return &FirstError{Argv: c.Argv, Code: ee.ExitCode(), Err: err}
	}
	return &FirstError{Argv: c.Argv, Err: err}
}
