package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/internal/flagname"
	"github.com/podseq/podseq/internal/signals"
	"github.com/podseq/podseq/probes"
	"github.com/podseq/podseq/termination"
	"github.com/podseq/podseq/wait"
)

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
		&cli.DurationFlag{Name: flagname.Timeout, EnvVars: envName(flagname.Timeout), Value: probes.DefaultTimeout,
			Usage: "overall deadline; kubelet never times out a postStart hook, so keep it finite"},
		&cli.BoolFlag{Name: "fail-open", EnvVars: envName("fail-open"),
			Usage: "after the timeout print a warning and exit 0 (or exec COMMAND), for pods that must start anyway"},
		disabledFlag("do not wait: say so on one line and exit 0 (or exec COMMAND; with --shutdown run it, then stop the podseq run targets) at once"),
		&cli.BoolFlag{Name: flagname.CommandFirst, EnvVars: envName(flagname.CommandFirst),
			Usage: "with -- COMMAND: run COMMAND first, to its end, and wait only once it exited 0 (its code otherwise): a postStart hook that podseq wait is composed with, such as podseq inject writes; both count in --timeout"},
		&cli.BoolFlag{Name: "shutdown", EnvVars: envName("shutdown"),
			Usage: "with -- COMMAND: run COMMAND as a child once ready (signals forwarded, as podseq run), and when it exits stop every podseq run waited on (POST /quitquitquit), then exit with COMMAND's code: a Job's app stops its sidecars. Exit 2 before COMMAND runs when no target is a podseq run admin endpoint"},
		&cli.StringFlag{Name: "termination-log", EnvVars: envName("termination-log"), Value: termination.DefaultPath,
			Usage: "`PATH` where a failure line goes as the container's termination message (kubectl describe's Last State: Message, once kubelet killed the container after a failed hook), unless a message is there already; the default is written only if it exists; empty: none"},
		&cli.StringSliceFlag{Name: flagname.ExecProbe, EnvVars: envName(flagname.ExecProbe),
			Usage: "`'COMMAND [ARG...]'` that is ready when it exits 0, split into words as a shell would (quotes, backslashes) and run without one (repeat for more, or put one a line in PODSEQ_EXEC_PROBE)"},
	}
	flags = append(flags, probeFlags()...)
	flags = append(flags, outputFlags()...)
	flags = append(flags, containerLogFlag())
	return &cli.Command{
		Name:        flagname.Wait,
		Usage:       "wait until every target is ready (a postStart hook or an init container)",
		ArgsUsage:   "TARGET... [-- COMMAND [ARG...]]",
		Description: withImage(waitDescription),
		Flags:       flags,
		Action:      waitAction,
	}
}

// waitAction is podseq wait: its flags become wait.Options, the wait runs,
// and its Result becomes lines and an exit code.
func waitAction(c *cli.Context) error {
	if c.Bool("disabled") {
		return waitDisabled(c)
	}
	w, err := waitOptions(c)
	if err != nil {
		return err
	}
	oneCore()
	log, progressLog, closeLog := waitLogger(c, c.Bool("quiet"))
	defer closeLog()
	w.Progress = func(r probes.Report) {
		progressLog.Info(fmt.Sprintf("waiting %s: %s", r.Elapsed().Truncate(time.Millisecond), r.PendingWith(wordErr)))
	}
	ctx, stopSignals := signals.CancelOnSignal(c.Context)
	defer stopSignals()
	w.stopSignals = stopSignals
	return waitResult(c, w, wait.Wait(ctx, w.Options), log)
}

// waitRun is a podseq wait: the wait, and what follows it.
type waitRun struct {
	wait.Options
	// command is -- COMMAND (nil without), found at path; it runs after the
	// wait, or before it with --command-first (Options.First).
	command []string
	path    string
	// shutdown: run command as a child, then stop the podseq runs waited on.
	shutdown bool
	// stopSignals ends podseq's own handling of SIGINT and SIGTERM.
	stopSignals func()
}

// waitOptions reads wait's flags and arguments, rejecting what is malformed
// (exit 2), and finds -- COMMAND in PATH (126, 127).
func waitOptions(c *cli.Context) (w waitRun, err error) {
	opts, sched, err := probeSettings(c)
	if err != nil {
		return w, usagef(c, "%v", err)
	}
	w.Schedule, w.Timeout, w.FailOpen = sched, c.Duration(flagname.Timeout), c.Bool("fail-open")
	if w.Timeout <= 0 {
		return w, usagef(c, "--timeout %s: must be positive (kubelet never times out a postStart hook)", w.Timeout)
	}
	raw, command := splitCommand(c)
	if w.Targets, err = parseTargets(raw, repeated(c, flagname.ExecProbe), opts); err != nil {
		return w, usagef(c, "%v", err)
	}
	if err := unusedFlags(c, w.Targets); err != nil {
		return w, usagef(c, "%v", err)
	}
	if sched.InitialDelay >= w.Timeout {
		return w, usagef(c, "--initial-delay %s is not shorter than --timeout %s: the wait would end before its first attempt", sched.InitialDelay, w.Timeout)
	}
	w.command, w.shutdown = command, c.Bool("shutdown")
	first := c.Bool(flagname.CommandFirst)
	switch {
	case w.shutdown && command == nil:
		return w, usagef(c, "--shutdown needs -- COMMAND: the command to run before the sidecars waited on are stopped")
	case first && command == nil:
		return w, usagef(c, "--command-first needs -- COMMAND: the command to run before the wait")
	case first && w.shutdown:
		return w, usagef(c, "--command-first and --shutdown: COMMAND runs either before the wait or after it")
	case w.shutdown && !slices.ContainsFunc(w.Targets, wait.MayBePodseqRun):
		return w, usagef(c, "--shutdown: no target is http:// or https://, so none is a podseq run admin endpoint and nothing would stop the sidecar after COMMAND: %s", howToStop)
	}
	if command != nil {
		if w.path, err = lookCommand(command); err != nil {
			return w, err
		}
	}
	if first {
		w.First = &wait.Command{Path: w.path, Argv: command, Stdout: c.App.Writer, Stderr: c.App.ErrWriter}
	}
	return w, nil
}

// oneCore runs a wait on one core unless GOMAXPROCS says otherwise: a wait is
// a few sockets and timers, and waking a second thread after every attempt
// costs a third more CPU.
func oneCore() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

// start starts -- COMMAND once the wait is over: exec'd in podseq's place,
// or with --shutdown run as a child, the sidecars stopped after it.
func (w waitRun) start(c *cli.Context, log *slog.Logger) error {
	switch {
	case w.command == nil || w.First != nil:
		return nil
	case w.shutdown:
		w.stopSignals() // from here on, signals are the child's
		return runThenStop(c, w.command, w.Targets, log, false)
	}
	return execCommand(w.path, w.command)
}

// waitResult turns how the wait ended into podseq wait's lines and exit
// code, and starts -- COMMAND when it is due.
func waitResult(c *cli.Context, w waitRun, res wait.Result, log *slog.Logger) error {
	if res.Outcome == wait.FirstFailed {
		return firstFailed(res.Err, w.Timeout)
	}
	if res.Outcome == wait.Ready {
		if w.shutdown && !wait.AnyPodseqRun(w.Targets) {
			// Known now, before the app runs: nothing would stop the
			// sidecar, and a Job's pod would never end.
			return usagef(c, "--shutdown: no target is a podseq run admin endpoint (none answered with the %s header), so nothing would stop the sidecar after COMMAND; COMMAND not run: %s", probes.HoldHeader, howToStop)
		}
		log.Info(fmt.Sprintf("ready after %s (%s)", res.Elapsed(), attempts(res.Report.Attempts())))
		return w.start(c, log)
	}
	// The failure line is printed even with --quiet: it is all kubelet keeps.
	// Without --quiet, log already writes everywhere it must go.
	failLog := log
	if c.Bool("quiet") {
		var closeFailLog func()
		failLog, _, closeFailLog = waitLogger(c, false)
		defer closeFailLog()
	}
	pending := res.Report.PendingWith(wordErr)
	switch res.Outcome {
	case wait.Interrupted:
		failLog.Error(fmt.Sprintf("%s after %s: %s", signals.Interrupted{Signal: res.Signal}, res.Elapsed(), pending))
		return cli.Exit("", exitcode.Signal(res.Signal))
	case wait.Died:
		line := fmt.Sprintf("not ready after %s: %s", res.Elapsed(), pending)
		failLog.Error(line)
		writeTerminationMessage(c, failLog, line)
		return cli.Exit("", exitcode.NotReady)
	case wait.Failed:
		return cli.Exit(fmt.Sprintf("podseq wait: %v", res.Err), exitcode.NotReady)
	case wait.FailedOpen:
		failLog.Warn(fmt.Sprintf("not ready after %s: %s; starting anyway (--fail-open)", w.Timeout, pending))
		return w.start(c, log)
	}
	line := fmt.Sprintf("not ready after %s: %s", w.Timeout, pending)
	failLog.Error(line)
	writeTerminationMessage(c, failLog, line)
	if hint := wait.PodIPHint(res.Report); hint != "" && !c.Bool("quiet") {
		failLog.Info(hint)
	}
	if w.shutdown {
		// The app never runs: stop the sidecars anyway, or a Job's pod
		// would never end.
		logStops(log, wait.StopRuns(w.Targets, false))
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

// firstFailed words a *wait.FirstError: --command-first's COMMAND did not
// exit 0, and its exit code is podseq's.
func firstFailed(err error, timeout time.Duration) error {
	var fe *wait.FirstError
	if !errors.As(err, &fe) {
		return cli.Exit(fmt.Sprintf("podseq wait: %v", err), exitcode.NotReady)
	}
	command := probes.QuoteCommand(fe.Argv)
	switch {
	case fe.StillRunning:
		return cli.Exit(fmt.Sprintf("podseq wait: not ready after %s: --command-first %s still running", timeout, command), exitcode.NotReady)
	case fe.Code > 0:
		return cli.Exit(fmt.Sprintf("podseq wait: --command-first %s exited %d: not waiting", command, fe.Code), fe.Code)
	case fe.Started():
		return cli.Exit(fmt.Sprintf("podseq wait: --command-first %s: %v: not waiting", command, fe.Err), exitcode.NotReady)
	}
	return cannotExec(fe.Argv[0], fe.Err)
}

// writeTerminationMessage writes podseq's failure line to --termination-log.
// Kubelet shows a failed hook's output only in its log and, for a moment,
// in the container's state.waiting.message, which kubectl describe does not
// print; once it killed the container for the failed hook, the termination
// message stays in lastState.terminated.message, which describe prints.
func writeTerminationMessage(c *cli.Context, log *slog.Logger, line string) {
	err := termination.Record(c.String("termination-log"), "podseq: "+line, c.IsSet("termination-log"))
	if err != nil && !errors.Is(err, termination.ErrKept) {
		log.Warn(err.Error())
	}
}

// runThenStop runs command as podseq run runs its child, then stops every
// podseq run among targets (--shutdown), and returns the command's exit
// code. With probe, the targets not known to be podseq runs are asked once
// first (wait.StopRuns).
func runThenStop(c *cli.Context, command []string, targets []*probes.Target, log *slog.Logger, probe bool) error {
	code, stops, err := wait.RunThenStop(c.Context, command, targets, log, probe)
	logStops(log, stops)
	if err != nil {
		return cli.Exit(fmt.Sprintf("podseq wait: %v", err), code)
	}
	if code != 0 {
		return cli.Exit("", code)
	}
	return nil
}

// logStops says what --shutdown did to each podseq run. A failure is a
// warning: the exit code stays the command's.
func logStops(log *slog.Logger, stops []wait.Stop) {
	for _, s := range stops {
		if s.Err != nil {
			log.Warn(fmt.Sprintf("--shutdown: could not stop %s: %v", s.Target, s.Err))
			continue
		}
		log.Info(fmt.Sprintf("--shutdown: stopped the podseq run of %s", s.Target))
	}
	if len(stops) == 0 {
		log.Warn("--shutdown: no target is a podseq run admin endpoint (" + adminReady + "): nothing to stop")
	}
}

// adminReady is the /ready endpoint of a podseq run on its default port.
var adminReady = "http://localhost:" + strconv.Itoa(probes.AdminPort) + "/ready"

// howToStop says how to give --shutdown a sidecar it can stop.
var howToStop = "make the sidecar's entrypoint podseq run (podseq run --ready=URL -- SIDECAR) and wait on its admin endpoint, " + adminReady + " (its --listen), or leave --shutdown out"

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
	fmt.Fprintf(c.App.ErrWriter, "podseq: wait %s: not waiting for %s; %s\n", disabledBy, plural(len(raw)+len(repeated(c, flagname.ExecProbe)), "target"), what)
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
	return cannotExec(command[0], wait.Exec(path, command))
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
