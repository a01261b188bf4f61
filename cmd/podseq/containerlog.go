package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/containerlog"
)

// containerLogFlag is wait's --container-log.
func containerLogFlag() cli.Flag {
	return &cli.BoolFlag{Name: "container-log", Category: catOutput, EnvVars: envName("container-log"), Value: true,
		Usage: "also write the progress, result and failure lines to the container's log (kubectl logs) when podseq wait runs beside the container's main process, as a postStart hook does"}
}

// mirrorPrefix starts wait's lines in the container's log, where the main
// process's own "podseq: ..." lines (podseq run's) are too.
const mirrorPrefix = "podseq wait: "

// waitLogger is newLogger for wait: with --container-log it also writes
// every line to the standard error of the container's main process, when
// podseq wait is not that process (a postStart hook, kubectl exec). close
// releases that descriptor.
func waitLogger(c *cli.Context, quiet bool) (log *slog.Logger, close func()) {
	log = newLogger(c, quiet)
	// Only the process's own stderr is mirrored (not a test's buffer).
	if quiet || !c.Bool("container-log") || c.App.ErrWriter != os.Stderr {
		return log, func() {}
	}
	w, err := containerlog.Open("/proc", 1)
	if err != nil {
		// Not beside a main process (an init container, the app's own gate),
		// or a container where it cannot be reopened: see README.
		return log, func() {}
	}
	var mirror slog.Handler = &lineHandler{mu: new(sync.Mutex), w: w, prefix: mirrorPrefix}
	if c.String("log-format") == "json" {
		mirror = slog.NewJSONHandler(w, nil).WithAttrs([]slog.Attr{slog.String("command", "podseq wait")})
	}
	return slog.New(teeHandler{log.Handler(), mirror}), func() { _ = w.Close() }
}

// teeHandler hands every record to each of its handlers; a handler's error
// (the container's log pipe is full) never keeps the others from writing.
type teeHandler []slog.Handler

func (t teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range t {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range t {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

func (t teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(teeHandler, len(t))
	for i, h := range t {
		out[i] = h.WithAttrs(as)
	}
	return out
}

func (t teeHandler) WithGroup(name string) slog.Handler {
	out := make(teeHandler, len(t))
	for i, h := range t {
		out[i] = h.WithGroup(name)
	}
	return out
}
