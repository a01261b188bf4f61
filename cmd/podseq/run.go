package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/entrypoint"
	"github.com/podseq/podseq/internal/flagname"
	"github.com/podseq/podseq/internal/signals"
	"github.com/podseq/podseq/probes"
)

const runDescription = `Runs COMMAND as its child, the way tini does: every signal podseq gets is passed on
(SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM), zombies are reaped,
and podseq exits with the command's exit code. It probes the command's readiness (--ready)
and serves it on an admin port, where every podseq wait is released the instant the command
turns ready, with no polling. Make it a sidecar image's entrypoint.

Without COMMAND, --ready-after DURATION makes podseq itself a simulated sidecar: ready after
DURATION, serving until SIGTERM or SIGINT, then exit 0 (demos, tests).

ADMIN SERVER (--listen, default :15780; --listen=none for none):
   The containers of a pod share one network namespace, so two podseq run in one pod
   need two ports: --listen=:15781 for the second, and its podseq wait on that port.
   GET  /ready             200 when ready, else 503 and the reason; every answer carries the
                           header Podseq-Hold: 5m0s, by which podseq wait knows it can hold
   GET  /ready?wait=30s    held until ready (200) or for 30s at most (503); at most 5m
   GET  /healthz           200 while podseq and the command live, else 503
   GET  /metrics           Prometheus metrics: podseq_ready, podseq_time_to_ready_seconds, ...
   POST /quitquitquit      stops the command (--stop-signal, --grace, SIGKILL); loopback only

OFF SWITCH (--disabled, PODSEQ_DISABLED=true):
   The emergency switch: the command starts at once, with no --birth-deps gate, no --after
   wait and no --outlive hold; --death-deps still stop it. One line says so.

STOPPING:
   On SIGTERM podseq sends --stop-signal (SIGTERM unless told otherwise) to the command (or
   its process group with --signal-group), waits --grace, then sends SIGKILL.

EXAMPLES:
   A sidecar image's entrypoint: the proxy is ready when its own endpoint answers:
      containers:
      - name: proxy
        image: my-proxy-with-podseq
        command: ["/podseq", "run", "--ready=http://localhost:9901/ready", "--", "/proxy", "-c", "/etc/proxy.yaml"]
        lifecycle:
          postStart:
            exec:
              command: ["/podseq", "wait", "--timeout=2m", "http://localhost:15780/ready"]
      - name: app      # starts only once the proxy is ready

   The demo's simulated sidecar, ready 5 seconds after it starts:
      podseq run --ready-after=5s

   Steps of a Job, one after another (a failure skips the later ones):
      podseq run --name build --graveyard /graveyard --listen 127.0.0.1:0 -- make
      podseq run --name test --graveyard /graveyard --after build -- make test

   A Job's app stops the sidecar when it is done (or: curl -X POST .../quitquitquit), with
   podseq copied into the app's container by podseq install:
      command: ["/podseq-bin/podseq", "wait", "--shutdown", "--timeout=2m",
                "http://localhost:15780/ready", "--", "/app"]

EXIT CODES:
   N     the command's exit code
   128+N the command died of signal N (143 SIGTERM; 137 SIGKILL after --grace)
   0     without COMMAND, stopped by SIGTERM, SIGINT or /quitquitquit; or the command was
         stopped by /quitquitquit and died of --stop-signal (a Job's pod must succeed)
   1     what had to start first failed
   2     usage error: a malformed flag or target, a bad --listen or a port in use, no COMMAND
         and no --ready-after
   124   the command ran past --step-timeout and was stopped
   125   skipped: a step of --after failed, was skipped or was killed; COMMAND never ran
   126   COMMAND cannot be executed
   127   COMMAND not found`

// stepListen is the admin address of a step (--after) without --listen: any
// free loopback port, so that the steps of a pod need no port each.
const stepListen = "127.0.0.1:0"

func runCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringSliceFlag{Name: flagname.Ready, EnvVars: envName(flagname.Ready),
			Usage: "`TARGET` that says the command is ready, probed all along, as podseq wait's (repeat for more, or put one a line in PODSEQ_READY; all must succeed)"},
		&cli.DurationFlag{Name: "ready-after", EnvVars: envName("ready-after"),
			Usage: "ready this long after the start, without probing; without COMMAND podseq itself is a simulated sidecar"},
		&cli.IntFlag{Name: "failure-threshold", EnvVars: envName("failure-threshold"), Value: probes.DefaultFailureThreshold,
			Usage: "consecutive failed probes that make a ready command not ready again, as kubelet's"},
		&cli.DurationFlag{Name: "ready-period", EnvVars: envName("ready-period"), Value: probes.DefaultReadyPeriod,
			Usage: "interval between probes once the command is ready"},
		&cli.StringFlag{Name: flagname.Listen, EnvVars: envName(flagname.Listen), Value: entrypoint.DefaultListen,
			Usage: "`ADDRESS` of the admin server (/ready, /healthz, /metrics, /quitquitquit); none for no admin server. A pod's containers share one network namespace: give each podseq run in a pod its own port"},
		&cli.DurationFlag{Name: flagname.Grace, EnvVars: envName(flagname.Grace), Value: entrypoint.DefaultGrace,
			Usage: "time the command has to exit after the stop signal before it is killed"},
		&cli.BoolFlag{Name: "signal-group", EnvVars: envName("signal-group"),
			Usage: "start the command in its own process group and signal the whole group"},
		&cli.StringFlag{Name: "stop-signal", EnvVars: envName("stop-signal"), Value: "SIGTERM",
			Usage: "`SIGNAL` that stops the command: sent in place of SIGTERM, and on /quitquitquit"},
		disabledFlag("start the command at once, waiting for nothing: no --birth-deps, no --after steps, no --outlive hold of SIGTERM (--death-deps still stop it, so a Job completes); say so on one line"),
	}
	flags = append(flags, probeFlags()...)
	flags = append(flags, outputFlags()...)
	flags = append(flags, depsFlags()...)
	return &cli.Command{
		Name:        flagname.Run,
		Usage:       "supervise a sidecar, serve its readiness and release every podseq wait at once",
		ArgsUsage:   "[-- COMMAND [ARG...]]",
		Description: runDescription,
		Flags:       flags,
		Action:      runAction,
	}
}

func runAction(c *cli.Context) error {
	cfg, err := runConfig(c)
	if err != nil {
		return usagef(c, "%v", err)
	}
	if !cfg.NoAdmin {
		listen, err := listenAddr(c)
		if err != nil {
			return usagef(c, "%v", err)
		}
		ln, err := net.Listen("tcp", listen)
		if errors.Is(err, syscall.EADDRINUSE) {
			return usagef(c, "--listen %s: address already in use, most likely by another podseq run in this pod "+
				"(the containers of a pod share one network namespace): give each podseq run its own --listen, "+
				"such as --listen=:15781, or --listen=none for no admin server", listen)
		}
		if err != nil {
			return usagef(c, "--listen %q: %v", listen, netErr(err))
		}
		cfg.Listener = ln
	}
	fitMemory(&cfg)
	if err := applyDeps(c, &cfg); err != nil {
		if cfg.Listener != nil {
			cfg.Listener.Close()
		}
		return usagef(c, "%v", err)
	}
	code, err := entrypoint.Run(c.Context, cfg)
	if err != nil {
		return cli.Exit(fmt.Sprintf("podseq run: %v", err), code)
	}
	if code != 0 {
		return cli.Exit("", code)
	}
	return nil
}

// runConfig reads run's flags and arguments, rejecting what is malformed.
func runConfig(c *cli.Context) (entrypoint.Config, error) {
	var cfg entrypoint.Config
	opts, sched, err := probeSettings(c)
	if err != nil {
		return cfg, err
	}
	positional, command := splitCommand(c)
	if len(positional) > 0 {
		return cfg, fmt.Errorf("unexpected argument %q: the command goes after --, as in podseq run --ready URL -- COMMAND", positional[0])
	}
	if command != nil && len(command) == 0 {
		return cfg, errors.New("nothing after --: give the COMMAND to run")
	}
	raw := repeated(c, "ready")
	if len(raw) > 0 {
		if cfg.Ready, err = parseTargets(raw, nil, opts); err != nil {
			return cfg, fmt.Errorf("--ready: %w", err)
		}
	}
	if err := unusedFlags(c, cfg.Ready); err != nil {
		return cfg, err
	}
	cfg.ReadyAfter = c.Duration("ready-after")
	switch {
	case len(command) == 0 && !c.IsSet("ready-after"):
		return cfg, errors.New("no COMMAND: give one after --, or --ready-after DURATION to simulate a sidecar")
	case len(command) == 0 && len(raw) > 0:
		return cfg, errors.New("--ready needs a COMMAND to probe (after --)")
	case len(raw) > 0 && c.IsSet("ready-after"):
		return cfg, errors.New("--ready and --ready-after exclude each other")
	case cfg.ReadyAfter < 0:
		return cfg, fmt.Errorf("--ready-after %s: must not be negative", cfg.ReadyAfter)
	}
	sched.FailureThreshold = c.Int("failure-threshold")
	sched.ReadyPeriod = c.Duration("ready-period")
	cfg.Grace = c.Duration("grace")
	switch {
	case sched.FailureThreshold < 1:
		return cfg, fmt.Errorf("--failure-threshold %d: must be at least 1", sched.FailureThreshold)
	case sched.ReadyPeriod < time.Millisecond:
		return cfg, fmt.Errorf("--ready-period %s: must be at least 1ms", sched.ReadyPeriod)
	case cfg.Grace <= 0:
		return cfg, fmt.Errorf("--grace %s: must be positive", cfg.Grace)
	}
	if cfg.StopSignal, err = signals.Parse(c.String("stop-signal")); err != nil {
		return cfg, fmt.Errorf("--stop-signal: %w", err)
	}
	cfg.Command = command
	cfg.Schedule = sched
	cfg.NoAdmin = c.String("listen") == flagname.ListenNone
	cfg.SignalGroup = c.Bool("signal-group")
	cfg.Logger = newLogger(c, c.Bool("quiet"))
	return cfg, nil
}

// listenAddr is the admin server's address: --listen, but for a step.
func listenAddr(c *cli.Context) (string, error) {
	switch listen := c.String("listen"); {
	case listen == "":
		return "", errors.New("--listen is empty: give an address such as :15781, or none for no admin server")
	case c.String("after") != "" && !c.IsSet("listen"):
		// Steps run side by side in one network namespace, each with its
		// podseq run: none claims the default port unless told to.
		return stepListen, nil
	default:
		return listen, nil
	}
}

// netErr drops the "listen tcp ADDR:" prefix that the message already says.
func netErr(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// fitMemory fits the admin server to the container's memory limit: the Go
// runtime's soft limit and the cap on held long polls (entrypoint.FitMemory).
func fitMemory(cfg *entrypoint.Config) {
	fit := entrypoint.FitMemory()
	cfg.MaxWaiters = fit.MaxWaiters
	if fit.Limit > 0 && cfg.Logger != nil {
		cfg.Logger.Debug("fitting the container's memory limit", "limit_bytes", fit.Limit,
			"go_soft_limit_bytes", fit.SoftLimit, "max_long_polls", fit.MaxWaiters)
	}
}
