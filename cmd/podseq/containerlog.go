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
// podseq wait is not that process (a postStart hook, kubectl exec). log gets
// the ready, failure and --shutdown lines; progress gets the progress lines,
// which never come before a failure line in what kubelet captures of a hook
// (see progressOnStderr). close releases the container log's descriptor.
func waitLogger(c *cli.Context, quiet bool) (log, progress *slog.Logger, close func()) {
	log = newLogger(c, quiet)
	if quiet {
		return log, log, func() {}
	}
	// Only the process's own stderr is mirrored (not a test's buffer), and
	// only its own stderr can be what kubelet captures.
	if c.App.ErrWriter != os.Stderr {
		return log, log, func() {}
	}
	// An error: not beside a main process (an init container, the app's own
	// gate), or a container where it cannot be reopened: see README. It is
	// opened even with --container-log=false, to tell where podseq wait runs.
	w, err := containerlog.Open("/proc", 1)
	if w != nil && !c.Bool("container-log") {
		_ = w.Close()
		w = nil
	}
	onStderr := progressOnStderr(isCharDevice(os.Stderr), err, os.Getenv("KUBERNETES_SERVICE_HOST") != "")
	if w == nil {
		if !onStderr {
			return log, slog.New(slog.DiscardHandler), func() {}
		}
		return log, log, func() {}
	}
	var mirror slog.Handler = &lineHandler{mu: new(sync.Mutex), w: w, prefix: mirrorPrefix}
	if c.String("log-format") == "json" {
		mirror = slog.NewJSONHandler(w, nil).WithAttrs([]slog.Attr{slog.String("command", "podseq wait")})
	}
	log = slog.New(teeHandler{log.Handler(), mirror})
	progress = slog.New(mirror)
	if onStderr {
		progress = log
	}
	return log, progress, func() { _ = w.Close() }
}

// progressOnStderr says whether podseq wait's progress lines go to its own
// standard error, given whether that is a terminal, why the container's log
// could not be opened (nil: it was, podseq wait runs beside the container's
// main process) and whether it runs in a pod.
//
// Kubelet captures a hook's stdout and stderr and keeps them only when the
// hook fails, as the container's waiting message, with the first line first:
// that line must be the failure line, whatever the timeout. So a hook's
// progress lines go only to the container's log, where kubectl logs shows
// them as they come. They stay on stderr when it is a terminal (someone
// watching), when it is the container's log itself (podseq wait is the main
// process: an init container, an app's own gate), and outside a pod, where no
// kubelet captures anything (a script, CI).
func progressOnStderr(terminal bool, logErr error, inPod bool) bool {
	switch {
	case terminal:
		return true
	case logErr == nil:
		return false // a hook: its output is captured, its progress goes to the container's log
	case errors.Is(logErr, containerlog.ErrMain), errors.Is(logErr, containerlog.ErrSame):
		return true // stderr is the container's log
	}
	return !inPod
}

// isCharDevice reports whether f is a character device: a terminal (or
// /dev/null), never a pipe or a file that something captures.
func isCharDevice(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
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
