package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/entrypoint"
	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/internal/signals"
	"github.com/podseq/podseq/probes"
	"github.com/podseq/podseq/termination"
)

// defaultTimeout is wait's overall deadline. Kubelet never times out a
// postStart hook, so podseq must.
const defaultTimeout = 2 * time.Minute

const waitDescription = `Polls every TARGET, concurrently, until all of them succeed, then exits 0. Run it as a
container's lifecycle.postStart exec hook: kubelet starts the next container of the pod only
when the hook returns. Or run it as an init container that waits for a remote dependency.

With -- COMMAND [ARG...], podseq execs COMMAND in its own place once every target is ready
(as wait4x, dockerize and linkerd-await do): COMMAND keeps podseq's process, its stdout,
stderr and exit code are COMMAND's, so podseq wait can be the entrypoint of an image
without a shell. COMMAND is looked up in PATH before the wait starts.

TARGETS:
   http://HOST[:PORT]/PATH    GET answers an accepted --status (default 200-399)
   https://HOST[:PORT]/PATH   the same over TLS (see --ca-file, --insecure-skip-verify)
   tcp://HOST:PORT            a TCP connection is accepted
   unix:///PATH               a connection to the unix socket is accepted
   file:///PATH               the file exists
   grpc://HOST:PORT[/SERVICE] grpc.health.v1.Health/Check answers SERVING (grpcs:// for TLS)
   tombstone://NAME           the podseq run named NAME is ready (see --graveyard)
   --exec-probe 'CMD ARG...'  the command exits 0; split into words as a shell would, then
                              run directly, never through a shell (write sh -c '...' for one)

   A podseq run admin endpoint (http://localhost:15780/ready) is recognised and holds the
   request until the sidecar is ready: podseq wait is released at once, with no polling.

OUTPUT (nothing on stdout):
   Kubelet keeps a failed hook's stdout and stderr, first line first, as the container's
   waiting message, and podseq writes the failure line to --termination-log: the failure
   line (what, how long, the last error) is the first line of a failed hook, whatever the
   timeout. Where each line goes:
   ready, failure, --shutdown   stderr; in a hook also the container's log (kubectl logs)
   progress, every 5s           in a hook: the container's log only, through the main
                                process's stderr (/proc/1/fd/2, --container-log);
                                stderr when it is a terminal, when podseq wait is the
                                container's main process (an init container, an app's
                                gate: its stderr is the container's log), or outside a pod
   --quiet keeps only the failure line.

EXAMPLES:
   A sidecar's ready endpoint, in the sidecar's postStart (the app is listed after it):
      lifecycle:
        postStart:
          exec:
            command: ["/podseq", "wait", "--timeout=2m", "http://localhost:15021/healthz/ready"]

   A database's port, from an init container:
      initContainers:
      - name: wait-for-db
        image: {{image}}
        args: ["wait", "--timeout=5m", "tcp://postgres.default.svc:5432"]

   An app's entrypoint that starts the app once its database answers:
      command: ["/podseq", "wait", "--timeout=5m", "tcp://postgres:5432", "--", "/app", "--serve"]

   A Job's app that stops its podseq run sidecar when it is done (exit code: the app's);
   podseq is in the app's container through podseq install (see podseq install --help):
      command: ["/podseq-bin/podseq", "wait", "--shutdown", "--timeout=2m",
                "http://localhost:15780/ready", "--", "/app", "--once"]

   The emergency switch, or debugging a pod without editing it: PODSEQ_DISABLED=true in a
   container's env (for a whole namespace: envFrom an optional ConfigMap, see README) makes
   podseq wait say so on one line and exit 0 (or exec COMMAND) at once, and podseq run
   start its command at once.

   A command (exec probe), with a header on an HTTP target too:
      podseq wait --exec-probe '/bin/check --quick' --header "Authorization:Bearer $TOKEN" https://api:8443/healthz

` + exitCodesHelp

func waitCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.DurationFlag{Name: "timeout", EnvVars: envName("timeout"), Value: defaultTimeout,
			Usage: "overall deadline; kubelet never times out a postStart hook, so keep it finite"},
		&cli.BoolFlag{Name: "fail-open", EnvVars: envName("fail-open"),
			Usage: "after the timeout print a warning and exit 0 (or exec COMMAND), for pods that must start anyway"},
		disabledFlag("do not wait: say so on one line and exit 0 (or exec COMMAND; with --shutdown run it, then stop the podseq run targets) at once"),
		&cli.BoolFlag{Name: "command-first", EnvVars: envName("command-first"),
			Usage: "with -- COMMAND: run COMMAND first, to its end, and wait only once it exited 0 (its code otherwise): a postStart hook that podseq wait is composed with, such as podseq inject writes; both count in --timeout"},
		&cli.BoolFlag{Name: "shutdown", EnvVars: envName("shutdown"),
			Usage: "with -- COMMAND: run COMMAND as a child once ready (signals forwarded, as podseq run), and when it exits stop every podseq run waited on (POST /quitquitquit), then exit with COMMAND's code: a Job's app stops its sidecars. Exit 2 before COMMAND runs when no target is a podseq run admin endpoint"},
		&cli.StringFlag{Name: "termination-log", EnvVars: envName("termination-log"), Value: termination.DefaultPath,
			Usage: "`PATH` where a failure line goes as the container's termination message (kubectl describe's Last State: Message, once kubelet killed the container after a failed hook), unless a message is there already; the default is written only if it exists; empty: none"},
		&cli.StringSliceFlag{Name: "exec-probe", EnvVars: envName("exec-probe"),
			Usage: "`'COMMAND [ARG...]'` that is ready when it exits 0, split into words as a shell would (quotes, backslashes) and run without one (repeat for more, or put one a line in PODSEQ_EXEC_PROBE)"},
	}
	flags = append(flags, probeFlags()...)
	flags = append(flags, outputFlags()...)
	flags = append(flags, containerLogFlag())
	return &cli.Command{
		Name:        "wait",
		Usage:       "wait until every target is ready (a postStart hook or an init container)",
		ArgsUsage:   "TARGET... [-- COMMAND [ARG...]]",
		Description: withImage(waitDescription),
		Flags:       flags,
		Action:      waitAction,
	}
}

func waitAction(c *cli.Context) error {
	if c.Bool("disabled") {
		return waitDisabled(c)
	}
	opts, sched, err := probeSettings(c)
	if err != nil {
		return usagef(c, "%v", err)
	}
	timeout := c.Duration("timeout")
	if timeout <= 0 {
		return usagef(c, "--timeout %s: must be positive (kubelet never times out a postStart hook)", timeout)
	}
	raw, command := splitCommand(c)
	targets, err := parseTargets(raw, repeated(c, "exec-probe"), opts)
	if err != nil {
		return usagef(c, "%v", err)
	}
	if err := unusedFlags(c, targets); err != nil {
		return usagef(c, "%v", err)
	}
	if sched.InitialDelay >= timeout {
		return usagef(c, "--initial-delay %s is not shorter than --timeout %s: the wait would end before its first attempt", sched.InitialDelay, timeout)
	}
	shutdown := c.Bool("shutdown")
	if shutdown && command == nil {
		return usagef(c, "--shutdown needs -- COMMAND: the command to run before the sidecars waited on are stopped")
	}
	first := c.Bool("command-first")
	switch {
	case first && command == nil:
		return usagef(c, "--command-first needs -- COMMAND: the command to run before the wait")
	case first && shutdown:
		return usagef(c, "--command-first and --shutdown: COMMAND runs either before the wait or after it")
	}
	if shutdown && !slices.ContainsFunc(targets, mayBePodseqRun) {
		return usagef(c, "--shutdown: no target is http:// or https://, so none is a podseq run admin endpoint and nothing would stop the sidecar after COMMAND: %s", howToStop)
	}
	var path string
	if command != nil {
		if path, err = lookCommand(command); err != nil {
			return err
		}
	}
	if os.Getenv("GOMAXPROCS") == "" {
		// A wait is a few sockets and timers: one core is plenty, and waking
		// a second thread after every attempt costs a third more CPU.
		runtime.GOMAXPROCS(1)
	}
	log, progressLog, closeLog := waitLogger(c, c.Bool("quiet"))
	defer closeLog()
	sigCtx, stop := signals.CancelOnSignal(c.Context)
	stopSignals := sync.OnceFunc(stop)
	defer stopSignals()
	ctx, cancel := context.WithTimeout(sigCtx, timeout)
	defer cancel()
	// A podseq run in this very container whose command died: this hook dies
	// with the container, so it says so and ends now.
	ctx, died := context.WithCancelCause(ctx)
	defer died(nil)
	observe := func(a probes.Attempt) {
		var de *probes.DiedError
		if errors.As(a.Err, &de) && de.Here {
			died(de)
		}
	}
	// start starts COMMAND once the wait is over: exec'd in podseq's place,
	// or with --shutdown run as a child, the sidecars stopped after it.
	start := func() error {
		if first {
			return nil
		}
		if !shutdown {
			return execCommand(path, command)
		}
		stopSignals() // from here on, signals are the child's
		return runThenStop(c, command, targets, log, false)
	}

	progress := &probes.Progress{Every: entrypoint.ProgressEvery, Func: func(r probes.Report) {
		progressLog.Info(fmt.Sprintf("waiting %s: %s", r.Elapsed().Truncate(time.Millisecond), r.PendingWith(wordErr)))
	}}
	if first {
		if err := runFirst(ctx, c, path, command, timeout); err != nil {
			return err
		}
	}
	report, err := probes.Wait(ctx, targets, sched, observe, progress)
	elapsed := report.Elapsed().Round(time.Millisecond)
	if err == nil {
		if shutdown && !slices.ContainsFunc(targets, (*probes.Target).IsPodseqRun) {
			// Known now, before the app runs: nothing would stop the
			// sidecar, and a Job's pod would never end.
			return usagef(c, "--shutdown: no target is a podseq run admin endpoint (none answered with the %s header), so nothing would stop the sidecar after COMMAND; COMMAND not run: %s", probes.HoldHeader, howToStop)
		}
		log.Info(fmt.Sprintf("ready after %s (%s)", elapsed, attempts(report.Attempts())))
		return start()
	}
	// The failure line is printed even with --quiet: it is all kubelet keeps.
	// Without --quiet, log already writes everywhere it must go.
	failLog := log
	if c.Bool("quiet") {
		var closeFailLog func()
		failLog, _, closeFailLog = waitLogger(c, false)
		defer closeFailLog()
	}
	var sig signals.Interrupted
	if errors.As(context.Cause(ctx), &sig) {
		failLog.Error(fmt.Sprintf("%s after %s: %s", sig, elapsed, report.PendingWith(wordErr)))
		return cli.Exit("", sig.ExitCode())
	}
	var de *probes.DiedError
	if errors.As(context.Cause(ctx), &de) {
		line := fmt.Sprintf("not ready after %s: %s", elapsed, report.PendingWith(wordErr))
		failLog.Error(line)
		writeTerminationMessage(c, failLog, line)
		return cli.Exit("", exitcode.NotReady)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return cli.Exit(fmt.Sprintf("podseq wait: %v", err), exitcode.NotReady)
	}
	line := fmt.Sprintf("not ready after %s: %s", timeout, report.PendingWith(wordErr))
	if c.Bool("fail-open") {
		failLog.Warn(line + "; starting anyway (--fail-open)")
		return start()
	}
	failLog.Error(line)
	writeTerminationMessage(c, failLog, line)
	if hint := podIPHint(report); hint != "" && !c.Bool("quiet") {
		failLog.Info(hint)
	}
	if shutdown {
		// The app never runs: stop the sidecars anyway, or a Job's pod
		// would never end.
		stopSidecars(targets, log, false)
	}
	return cli.Exit("", exitcode.NotReady)
}

// wordErr words an attempt's error for podseq wait's lines: a limit says
// which flag sets it.
func wordErr(err error) string {
	var at *probes.AttemptTimeoutError
	if errors.As(err, &at) {
		return at.Words("--attempt-timeout")
	}
	return err.Error()
}

// runFirst runs --command-first's COMMAND to its end, within the wait's
// deadline, with podseq's standard streams: an error carries its exit code.
func runFirst(ctx context.Context, c *cli.Context, path string, command []string, timeout time.Duration) error {
	cmd := exec.CommandContext(ctx, path, command[1:]...)
	cmd.Args[0] = command[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, c.App.Writer, c.App.ErrWriter
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return cli.Exit(fmt.Sprintf("podseq wait: not ready after %s: --command-first %s still running", timeout, probes.QuoteCommand(command)), exitcode.NotReady)
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return cli.Exit(fmt.Sprintf("podseq wait: --command-first %s exited %d: not waiting", probes.QuoteCommand(command), ee.ExitCode()), ee.ExitCode())
	case errors.As(err, &ee):
		return cli.Exit(fmt.Sprintf("podseq wait: --command-first %s: %v: not waiting", probes.QuoteCommand(command), err), exitcode.NotReady)
	}
	return cannotExec(command[0], err)
}

// writeTerminationMessage writes podseq's failure line to --termination-log.
// Kubelet shows a failed hook's output only in its log and, for a moment,
// in the container's state.waiting.message, which kubectl describe does not
// print; once it killed the container for the failed hook, the termination
// message stays in lastState.terminated.message, which describe prints.
func writeTerminationMessage(c *cli.Context, log *slog.Logger, line string) {
	path := c.String("termination-log")
	if path == "" {
		return
	}
	err := termination.Write(path, "podseq: "+line, c.IsSet("termination-log"))
	if err != nil && !errors.Is(err, termination.ErrNoLog) && !errors.Is(err, termination.ErrKept) {
		log.Warn(err.Error())
	}
}

// runThenStop runs command as podseq run runs its child (signals forwarded,
// zombies reaped), then stops every podseq run among targets, and returns
// the command's exit code.
//
// With probe, each http(s) target not known to be a podseq run is asked once
// first: when nothing was waited for (the off switch), that tells which is.
func runThenStop(c *cli.Context, command []string, targets []*probes.Target, log *slog.Logger, probe bool) error {
	code, err := entrypoint.Run(c.Context, entrypoint.Config{Command: command, NoAdmin: true, Logger: log})
	stopSidecars(targets, log, probe)
	if err != nil {
		return cli.Exit(fmt.Sprintf("podseq wait: %v", err), code)
	}
	if code != 0 {
		return cli.Exit("", code)
	}
	return nil
}

// stopTimeout bounds each POST /quitquitquit of --shutdown.
const stopTimeout = 5 * time.Second

// stopSidecars asks every podseq run among targets to stop (--shutdown).
// A failure is a warning: the exit code stays the command's.
func stopSidecars(targets []*probes.Target, log *slog.Logger, probe bool) {
	for _, t := range targets {
		if probe && mayBePodseqRun(t) && !t.IsPodseqRun() {
			// Never asked (the off switch): one attempt tells whether it is
			// a podseq run. Never after a wait, whose last attempt on a
			// target may still be running.
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
		if err != nil {
			log.Warn(fmt.Sprintf("--shutdown: could not stop %s: %v", t, err))
			continue
		}
		log.Info(fmt.Sprintf("--shutdown: stopped the podseq run of %s", t))
	}
	if !slices.ContainsFunc(targets, (*probes.Target).IsPodseqRun) {
		log.Warn("--shutdown: no target is a podseq run admin endpoint (http://localhost:15780/ready): nothing to stop")
	}
}

// howToStop says how to give --shutdown a sidecar it can stop.
const howToStop = "make the sidecar's entrypoint podseq run (podseq run --ready=URL -- SIDECAR) and wait on its admin endpoint, http://localhost:15780/ready (its --listen), or leave --shutdown out"

// mayBePodseqRun reports whether t can turn out to be a podseq run admin
// endpoint: an http(s) target, known only once it answered.
func mayBePodseqRun(t *probes.Target) bool { return t.Kind == "http" || t.Kind == "https" }

// waitDisabled is the off switch: nothing is checked or waited for, one line
// says so (even with --quiet: a switch left on must show), and the command
// after --, if any, is exec'd. With --shutdown the command runs as a child
// and the podseq run targets are stopped after it, as without the switch: a
// Job's sidecar must stop all the same, or the Job never completes.
func waitDisabled(c *cli.Context) error {
	raw, command := splitCommand(c)
	shutdown := c.Bool("shutdown") && command != nil
	what := "exiting 0"
	switch {
	case shutdown:
		what = "running " + probes.QuoteCommand(command) + ", then stopping the podseq run targets (--shutdown)"
	case command != nil:
		what = "exec " + probes.QuoteCommand(command)
	}
	fmt.Fprintf(c.App.ErrWriter, "podseq: wait %s: not waiting for %s; %s\n", disabledBy, plural(len(raw)+len(repeated(c, "exec-probe")), "target"), what)
	if command == nil {
		return nil
	}
	path, err := lookCommand(command)
	if err != nil {
		return err
	}
	if !shutdown {
		return execCommand(path, command)
	}
	opts, _, err := probeSettings(c)
	if err != nil {
		return usagef(c, "%v", err)
	}
	targets, err := parseTargets(raw, nil, opts)
	if err != nil {
		return usagef(c, "%v", err)
	}
	return runThenStop(c, command, targets, newLogger(c, c.Bool("quiet")), true)
}

// lookCommand finds the COMMAND after -- in PATH before the wait starts: a
// command that cannot run is reported at once (127 not found, 126 not
// executable), not after the targets turned ready.
func lookCommand(command []string) (string, error) {
	if len(command) == 0 || command[0] == "" {
		return "", cli.Exit("podseq wait: nothing after --: give the COMMAND to exec once ready", exitcode.Usage)
	}
	path, err := exec.LookPath(command[0])
	if err != nil {
		return "", cannotExec(command[0], err)
	}
	return path, nil
}

// execCommand replaces podseq with the command once the wait is over; with
// no command it returns nil (exit 0). It returns only if the exec failed.
func execCommand(path string, command []string) error {
	if command == nil {
		return nil
	}
	// Go resets the signals it handles to their defaults across exec, and
	// podseq ignores none, so the command starts with a clean signal state.
	return cannotExec(command[0], syscall.Exec(path, command, os.Environ()))
}

// cannotExec is the error of a COMMAND that cannot be executed: 127 when it
// does not exist, 126 otherwise, as a shell's (exitcode.ForStart).
func cannotExec(name string, err error) error {
	code := exitcode.ForStart(err)
	var ee *exec.Error
	if errors.As(err, &ee) {
		err = ee.Err
	}
	return cli.Exit(fmt.Sprintf("podseq wait: cannot exec %q: %v", name, err), code)
}

// attempts says "1 attempt" or "N attempts".
func attempts(n int) string { return plural(n, "attempt") }

// plural says "1 thing" or "N things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// podIPHint explains, after the failure line, the one deadlock podseq cannot
// break itself: a local sidecar that needs the pod's IP, which kubelet does not
// publish while a postStart hook runs. It is given only where that can be the
// cause: inside a pod (KUBERNETES_SERVICE_HOST, which kubelet sets in every
// container), for a loopback target refused or timed out.
func podIPHint(r probes.Report) string {
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return ""
	}
	if !slices.ContainsFunc(r.Targets, probes.MayNeedPodIP) {
		return ""
	}
	return "hint: if this sidecar needs the pod IP (a CNI, a mesh control plane), it never gets it " +
		"during postStart; add a no-op init container to the pod (see README, Troubleshooting)"
}
