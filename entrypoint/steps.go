package entrypoint

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/podseq/podseq/termination"
	"github.com/podseq/podseq/tombstone"
)

// SkipError says that a step did not run because a step it runs after did
// not succeed. Its message is the line podseq prints: it names the step that
// failed and how it ended.
type SkipError struct {
	// After is the step this one waited for that did not succeed.
	After string
	// FailedStep is the step that failed: After itself, or the one that
	// failed first when After was skipped in turn.
	FailedStep string
	// FailedExitCode is FailedStep's exit code, -1 when it was killed
	// before it recorded one.
	FailedExitCode int
}

func (e *SkipError) Error() string {
	msg := tombstone.SkipReason(e.FailedStep, e.FailedExitCode)
	if e.After != e.FailedStep {
		msg = "skipped: step " + e.After + " was " + msg
	}
	return msg
}

// ExitCode is ExitSkipped.
func (e *SkipError) ExitCode() int { return ExitSkipped }

// ExitCodeEnv is the environment variable that holds the exit code of the
// step named name for the steps after it: PODSEQ_STEP_BUILD_IMAGE_EXIT_CODE
// for build-image. Names have no '_', so the mapping is one to one.
func ExitCodeEnv(name string) string {
	return "PODSEQ_STEP_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_EXIT_CODE"
}

// afterOutcome is where one --after step stands for the step that waits.
type afterOutcome int

const (
	afterPending afterOutcome = iota
	afterSucceeded
	afterFailed
)

// judgeAfter says whether the step of status s lets the waiting step run. A
// step succeeded when it died with exit code 0, or with any code under
// --on-error continue; it failed when it died otherwise, was skipped, or its
// podseq run is gone without a word (SIGKILL, OOM). fail is set on failure.
func judgeAfter(s tombstone.Status) (afterOutcome, *SkipError) {
	t := s.Tombstone
	switch {
	case t == nil:
		return afterPending, nil
	case s.Gone:
		return afterFailed, &SkipError{After: s.Name, FailedStep: s.Name, FailedExitCode: -1}
	case t.State == tombstone.Skipped:
		return afterFailed, &SkipError{After: s.Name, FailedStep: t.FailedStep, FailedExitCode: t.FailedExitCode}
	case t.State == tombstone.Died && (t.ExitCode == 0 || t.OnError == tombstone.OnErrorContinue):
		return afterSucceeded, nil
	case t.State == tombstone.Died:
		return afterFailed, &SkipError{After: s.Name, FailedStep: s.Name, FailedExitCode: t.ExitCode}
	}
	return afterPending, nil
}

// waitAfter waits until every --after step has succeeded, with no time limit
// (a step may run for hours; a Job's activeDeadlineSeconds bounds a pod). The
// first one that failed ends the wait at once: the step is skipped.
func (o *ordering) waitAfter(ctx context.Context) error {
	o.log.Info("waiting for the steps to run after", "after", strings.Join(o.After, ","))
	w, err := tombstone.Watch(o.Graveyard, 0)
	if err != nil {
		o.giveUp(1)
		return err
	}
	defer w.Close()
	start := time.Now()
	pctx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	go o.logProgress(pctx, start)
	var j afterJudgment
	err = w.Until(ctx, func(get func(string) tombstone.Status) bool {
		j = o.judgeSteps(get)
		return j.done()
	})
	switch {
	case err != nil:
		o.giveUp(stopCode(context.Cause(ctx)))
		return context.Cause(ctx)
	case j.skip != nil:
		return o.skip(j.skip)
	case j.cycle != nil:
		o.giveUp(1)
		return j.cycle
	}
	o.env = j.codes
	o.log.Info("the steps to run after succeeded", "elapsed", time.Since(start).Round(time.Microsecond).String())
	return nil
}

// logProgress says every ProgressEvery how long the steps to run after have
// been waited for, until ctx ends.
func (o *ordering) logProgress(ctx context.Context, start time.Time) {
	progress := time.NewTicker(ProgressEvery)
	defer progress.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-progress.C:
			o.log.Info(fmt.Sprintf("waiting %s for the steps to run after", time.Since(start).Truncate(time.Millisecond)))
		}
	}
}

// afterJudgment is where the steps to run after stand, together.
type afterJudgment struct {
	codes   []string              // ExitCodeEnv=code of each step that succeeded
	pending bool                  // a step has not ended yet
	skip    *SkipError            // a step failed: this one is skipped
	cycle   *tombstone.CycleError // the steps wait for each other
}

// done says whether the wait for the steps is over.
func (j afterJudgment) done() bool { return j.cycle != nil || j.skip != nil || !j.pending }

// judgeSteps judges the steps to run after as the graveyard (get) has them.
func (o *ordering) judgeSteps(get func(string) tombstone.Status) afterJudgment {
	var j afterJudgment
	for _, n := range o.After {
		s := get(n)
		out, fail := judgeAfter(s)
		if out == afterFailed {
			j.skip = fail
			break
		}
		if out == afterSucceeded {
			j.codes = append(j.codes, ExitCodeEnv(n)+"="+strconv.Itoa(s.Tombstone.ExitCode))
		} else {
			j.pending = true
		}
	}
	// A cycle is a mistake in the pod spec, and it comes first: a step
	// that closed it gave up before its command ran (never born), and
	// its death is not a failure to skip after, whichever this watch
	// saw first, the step waiting or the step dead.
	if (j.pending || j.skip != nil) && o.w != nil {
		if j.cycle = tombstone.FindCycle(get, o.Name); j.cycle != nil {
			j.skip = nil
		}
	}
	return j
}

// skip records that this step is skipped because of skip.
func (o *ordering) skip(skip *SkipError) error {
	o.log.Info("a step to run after did not succeed: skipping", "step", skip.FailedStep)
	if o.w != nil {
		if err := o.w.Skipped(skip.FailedStep, skip.FailedExitCode, ExitSkipped, time.Now()); err != nil {
			o.log.Warn("could not record the skip in the tombstone", "err", err)
		}
		o.w.Close()
	}
	o.mu.Lock()
	o.verdict = o.label() + ": " + skip.Error()
	o.mu.Unlock()
	return skip
}

// stepExitCodes is Config.Env: the exit code of each step to run after, set
// once they all succeeded.
func (o *ordering) stepExitCodes() []string { return o.env }

// finish is Config.Finish for a container with a tombstone or a step: it
// maps a failure under --on-error continue to exit 0, and writes the
// termination message.
func (o *ordering) finish(code int, err error) (int, error) {
	o.mu.Lock()
	died, born, verdict := o.died, o.born, o.verdict
	o.mu.Unlock()
	// Under --on-error continue every failure the tombstone records as
	// died lets the steps after it run: podseq exits 0 for it too. A skip
	// is no failure of this step's own and still cascades.
	var skip *SkipError
	failed := code != 0 && !errors.As(err, &skip)
	if verdict == "" {
		switch {
		case died != nil:
			verdict = o.deathVerdict(*died, born, code)
		case err != nil:
			verdict = o.label() + ": " + err.Error()
		default:
			verdict = fmt.Sprintf("%s: exited with code %d", o.label(), code)
		}
	}
	if failed && o.OnErrorContinue {
		o.log.Warn("the step failed; --on-error continue: exiting 0, the steps after it run", "code", code)
		code, err = 0, nil
	}
	o.writeTerminationLog(verdict)
	return code, err
}

// label names the container in a verdict.
func (o *ordering) label() string {
	if o.Name == "" {
		return "podseq run"
	}
	return o.Name
}

// deathVerdict is the termination message of a child that died as e says,
// after which podseq exits with code.
func (o *ordering) deathVerdict(e Event, born time.Time, code int) string {
	took := e.Time.Sub(born).Round(time.Millisecond)
	var v string
	switch {
	case e.TimedOut:
		v = fmt.Sprintf("%s: failed: timed out after %s, stopped (exit code %d)", o.label(), o.timeout, ExitTimedOut)
	case e.ExitCode == 0:
		return fmt.Sprintf("%s: succeeded in %s", o.label(), took)
	case code == 0:
		return fmt.Sprintf("%s: stopped on request after %s (exit code %d): exit 0", o.label(), took, e.ExitCode)
	default:
		v = fmt.Sprintf("%s: failed: exited with code %d after %s", o.label(), e.ExitCode, took)
	}
	if o.OnErrorContinue {
		v += "; --on-error continue: the steps after it run"
	}
	return v
}

// writeTerminationLog writes msg to the termination log: the default path
// only if it exists (kubelet creates it for every container), a path given
// explicitly in any case. A message already there (the command's, or a
// failed postStart hook's podseq wait) is left as it is.
func (o *ordering) writeTerminationLog(msg string) {
	if o.TerminationLog == "" {
		return
	}
	err := termination.Record(o.TerminationLog, msg, o.CreateTerminationLog)
	switch {
	case errors.Is(err, termination.ErrKept):
		o.log.Info("the termination log holds a message already: keeping it", "path", o.TerminationLog, "verdict", msg)
	case err != nil:
		o.log.Warn("could not write the termination message", "err", err)
	}
}
