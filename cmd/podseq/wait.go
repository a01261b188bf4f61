package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/entrypoint"
	"github.com/podseq/podseq/probes"
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

EXAMPLES:
   A sidecar's ready endpoint, in the sidecar's postStart (the app is listed after it):
      lifecycle:
        postStart:
          exec:
            command: ["/podseq", "wait", "--timeout=2m", "http://localhost:15021/healthz/ready"]

   A database's port, from an init container:
      initContainers:
      - name: wait-for-db
        image: podseq:dev
        args: ["wait", "--timeout=5m", "tcp://postgres.default.svc:5432"]

   An app's entrypoint that starts the app once its database answers:
      command: ["/podseq", "wait", "--timeout=5m", "tcp://postgres:5432", "--", "/app", "--serve"]

   A command (exec probe), with a header on an HTTP target too:
      podseq wait --exec-probe '/bin/check --quick' --header "Authorization:Bearer $TOKEN" https://api:8443/healthz

` + exitCodesHelp

func waitCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.DurationFlag{Name: "timeout", EnvVars: envName("timeout"), Value: defaultTimeout,
			Usage: "overall deadline; kubelet never times out a postStart hook, so keep it finite"},
		&cli.BoolFlag{Name: "fail-open", EnvVars: envName("fail-open"),
			Usage: "after the timeout print a warning and exit 0 (or exec COMMAND), for pods that must start anyway"},
		&cli.StringSliceFlag{Name: "exec-probe", EnvVars: envName("exec-probe"),
			Usage: "`'COMMAND [ARG...]'` that is ready when it exits 0, split into words as a shell would (quotes, backslashes) and run without one (repeat for more)"},
	}
	flags = append(flags, probeFlags()...)
	flags = append(flags, outputFlags()...)
	return &cli.Command{
		Name:        "wait",
		Usage:       "wait until every target is ready (a postStart hook or an init container)",
		ArgsUsage:   "TARGET... [-- COMMAND [ARG...]]",
		Description: waitDescription,
		Flags:       flags,
		Action:      waitAction,
	}
}

func waitAction(c *cli.Context) error {
	opts, sched, err := probeSettings(c)
	if err != nil {
		return usagef(c, "%v", err)
	}
	timeout := c.Duration("timeout")
	if timeout <= 0 {
		return usagef(c, "--timeout %s: must be positive (kubelet never times out a postStart hook)", timeout)
	}
	raw, command := splitCommand(c)
	targets, err := parseTargets(raw, c.StringSlice("exec-probe"), opts)
	if err != nil {
		return usagef(c, "%v", err)
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
	log := newLogger(c, c.Bool("quiet"))
	ctx, stop := cancelOnSignal(c.Context)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	progress := &probes.Progress{Every: entrypoint.ProgressEvery, Func: func(r probes.Report) {
		log.Info(fmt.Sprintf("waiting %s: %s", r.Elapsed().Truncate(time.Millisecond), r.Pending()))
	}}
	report, err := probes.Wait(ctx, targets, sched, nil, progress)
	elapsed := report.Elapsed().Round(time.Millisecond)
	if err == nil {
		log.Info(fmt.Sprintf("ready after %s (%s)", elapsed, attempts(report.Attempts())))
		return execCommand(path, command)
	}
	// The failure line is printed even with --quiet: it is all kubelet keeps.
	failLog := newLogger(c, false)
	var sig signalError
	if errors.As(context.Cause(ctx), &sig) {
		failLog.Error(fmt.Sprintf("%s after %s: %s", sig, elapsed, report.Pending()))
		return cli.Exit("", sig.exitCode())
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return cli.Exit(fmt.Sprintf("podseq wait: %v", err), exitNotReady)
	}
	line := fmt.Sprintf("not ready after %s: %s", timeout, report.Pending())
	if c.Bool("fail-open") {
		failLog.Warn(line + "; starting anyway (--fail-open)")
		return execCommand(path, command)
	}
	failLog.Error(line)
	if hint := podIPHint(report); hint != "" && !c.Bool("quiet") {
		failLog.Info(hint)
	}
	return cli.Exit("", exitNotReady)
}

// lookCommand finds the COMMAND after -- in PATH before the wait starts: a
// command that cannot run is reported at once (127 not found, 126 not
// executable), not after the targets turned ready.
func lookCommand(command []string) (string, error) {
	if len(command) == 0 || command[0] == "" {
		return "", cli.Exit("podseq wait: nothing after --: give the COMMAND to exec once ready", exitUsage)
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
// does not exist, 126 otherwise, as a shell's.
func cannotExec(name string, err error) error {
	code := exitCannotExec
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		code = exitNotFound
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		err = ee.Err
	}
	return cli.Exit(fmt.Sprintf("podseq wait: cannot exec %q: %v", name, err), code)
}

// attempts says "1 attempt" or "N attempts".
func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// podIPHint explains, after the failure line, the one deadlock podseq cannot
// break itself: a local sidecar that needs the pod's IP, which kubelet does not
// publish while a postStart hook runs.
func podIPHint(r probes.Report) string {
	network := false
	for _, s := range r.Targets {
		if s.Ready {
			continue
		}
		if !s.Target.Local {
			return "" // a remote dependency: the pod IP is not the problem
		}
		switch s.Target.Kind {
		case "http", "https", "tcp", "grpc", "grpcs":
			network = true
		}
	}
	if !network {
		return ""
	}
	return "hint: if this sidecar needs the pod IP (a CNI, a mesh control plane), it never gets it " +
		"during postStart; add a no-op init container to the pod (see README, Troubleshooting)"
}
