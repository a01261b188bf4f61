package wait

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/podseq/podseq/entrypoint"
	"github.com/podseq/podseq/probes"
)

// stopTimeout bounds each POST /quitquitquit that stops a podseq run.
const stopTimeout = 5 * time.Second

// MayBePodseqRun reports whether t can turn out to be a podseq run admin
// endpoint: an http(s) target, known only once it answered.
func MayBePodseqRun(t *probes.Target) bool { return t.Kind == "http" || t.Kind == "https" }

// AnyPodseqRun reports whether a target answered as a podseq run admin
// endpoint (with probes.HoldHeader): one that StopRuns can stop.
func AnyPodseqRun(targets []*probes.Target) bool {
	return slices.ContainsFunc(targets, (*probes.Target).IsPodseqRun)
}

// Stop is what StopRuns did to one podseq run.
type Stop struct {
	Target *probes.Target
	// Err is why it could not be stopped; nil when it was.
	Err error
}

// StopRuns asks every podseq run among targets to stop (POST
// /quitquitquit), and says what became of each, in order; none when no
// target is a podseq run.
//
// With probe, each http(s) target not known to be a podseq run is asked
// once first: when nothing was waited for (the off switch), that tells which
// is. Never after a wait, whose last attempt on a target may still be
// running.
func StopRuns(targets []*probes.Target, probe bool) []Stop {
	var stops []Stop
	for _, t := range targets {
		if probe && MayBePodseqRun(t) && !t.IsPodseqRun() {
			ctx, cancel := context.WithTimeout(context.Background(), probes.DefaultAttemptTimeout)
			_ = t.Prober.Check(ctx)
			cancel()
		}
		if !t.IsPodseqRun() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		err := probes.StopPodseqRun(ctx, t)
		cancel()
		stops = append(stops, Stop{Target: t, Err: err})
	}
	return stops
}

// RunThenStop runs argv as podseq run runs its child (signals forwarded,
// zombies reaped, log its lines), then stops every podseq run among targets
// (StopRuns), and returns the command's exit code, what became of each
// podseq run, and Run's error.
func RunThenStop(ctx context.Context, argv []string, targets []*probes.Target, log *slog.Logger, probe bool) (code int, stops []Stop, err error) {
	code, err = entrypoint.Run(ctx, entrypoint.Config{Command: argv, NoAdmin: true, Logger: log})
	return code, StopRuns(targets, probe), err
}
