package main

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/internal/cliexit"
	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/internal/version"
)

// Kubernetes releases podseq supports, as podseq --help and README.md say
// them (a test holds them to one wording).
const (
	// kubernetesVersions is where podseq works: postStart ordering needs
	// nothing newer.
	kubernetesVersions = "Kubernetes 1.27 and later"
	// nativeVersions is where native sidecars, and podseq's native mode,
	// work.
	nativeVersions = "Kubernetes 1.29 and later"
)

// newApp builds the command line. It writes only to the given streams, so
// tests run it in-process.
func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:    "podseq",
		Usage:   "put the containers of a Kubernetes pod in order",
		Version: version.String(),
		Description: "podseq wait blocks a container's postStart hook (or an init container) until what it\n" +
			"waits for is ready, so that kubelet holds back every container listed after it.\n" +
			"podseq run is a sidecar's entrypoint: it supervises the sidecar and releases every\n" +
			"podseq wait the instant the sidecar is ready.\n\n" +
			"Works on " + kubernetesVersions + " (native sidecars: " + nativeVersions + "), with no API\n" +
			"permission and nothing installed in the cluster.",
		Writer:                    stdout,
		ErrWriter:                 stderr,
		HideHelpCommand:           true,
		DisableSliceFlagSeparator: true, // URLs and header values contain commas
		OnUsageError:              usageError,
		ExitErrHandler:            func(*cli.Context, error) {}, // run() turns errors into exit codes
		Action:                    noCommand,
		Commands: []*cli.Command{
			waitCommand(),
			runCommand(),
			installCommand(),
			injectCommand(),
			webhookCommand(),
		},
	}
	for _, c := range app.Commands {
		if c.OnUsageError == nil {
			c.OnUsageError = usageError
		}
	}
	return app
}

// run runs the app and returns the process's exit code. Every error is
// reported here, once, as one line on stderr.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	args = helpArgs(app, args)
	// What follows the first "--" is a command (wait's exec probe, run's
	// child); urfave/cli cannot tell it apart from positional arguments.
	if i := slices.Index(args, "--"); i >= 0 {
		app.Metadata = map[string]any{commandKey: append([]string{}, args[i+1:]...)}
	}
	return cliexit.Report(app.Run(args), stderr, "podseq", exitcode.Usage)
}

// helpArgs rewrites every way of asking for help into the one urfave/cli
// answers with help and exit 0: `podseq help [COMMAND]` and `podseq COMMAND
// help` become `podseq [COMMAND] --help`, and so does -h or --help among a
// command's other arguments (where urfave/cli looks for a help topic named
// after the first argument, and exits 3). What follows "--" is left alone.
func helpArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	rest := args[1:]
	if i := slices.Index(rest, "--"); i >= 0 {
		rest = rest[:i]
	}
	if len(rest) == 0 {
		return args
	}
	isCommand := func(name string) bool { return app.Command(name) != nil }
	isHelp := func(a string) bool { return a == "-h" || a == "--help" || a == "-help" }
	if c := app.Command(rest[0]); c != nil && c.SkipFlagParsing {
		// inject and webhook pass every argument on to kubectl-podseq,
		// whose own commands (webhook certs) have their own help.
		return args
	}
	switch {
	case rest[0] == "help" && len(rest) > 1 && isCommand(rest[1]):
		return []string{args[0], rest[1], "--help"}
	case rest[0] == "help":
		return []string{args[0], "--help"}
	case isCommand(rest[0]) && len(rest) > 1 && (rest[1] == "help" || slices.ContainsFunc(rest[1:], isHelp)):
		return []string{args[0], rest[0], "--help"}
	}
	return args
}

// withImage puts the podseq image of this build's examples
// (version.ExampleImage) for {{image}} in a help text.
func withImage(help string) string {
	return strings.ReplaceAll(help, "{{image}}", version.ExampleImage())
}

// commandKey is the App.Metadata key of the arguments after "--".
const commandKey = "command"

// splitCommand splits a command's arguments into positional arguments and
// the command after "--" (nil when there is no "--"). urfave/cli keeps the
// "--" when a positional argument comes before it and drops it otherwise.
func splitCommand(c *cli.Context) (positional, command []string) {
	args := c.Args().Slice()
	command, ok := c.App.Metadata[commandKey].([]string)
	if !ok {
		return args, nil
	}
	n := max(len(args)-len(command), 0)
	positional = args[:n]
	if n > 0 && positional[n-1] == "--" {
		positional = positional[:n-1]
	}
	return positional, command
}

// noCommand answers `podseq` without a known command: a usage error.
func noCommand(c *cli.Context) error {
	if c.Args().Present() {
		return cli.Exit(fmt.Sprintf("podseq: unknown command %q: use wait, run, install or inject (see podseq --help)", c.Args().First()), exitcode.Usage)
	}
	return cli.Exit("podseq: no command: use wait, run, install or inject (see podseq --help)", exitcode.Usage)
}

// usageError is podseq's OnUsageError (cliexit.UsageError): one line that
// names the command, and exit code 2.
var usageError = cliexit.UsageError(func(c *cli.Context) string {
	if c.Command != nil && c.Command.Name != "" && c.Command.Name != c.App.Name {
		return c.Command.Name
	}
	return ""
})

// usagef returns a usage error (exit 2) for a command.
func usagef(c *cli.Context, format string, a ...any) error {
	return cli.Exit(fmt.Sprintf("podseq %s: %s", c.Command.Name, fmt.Sprintf(format, a...)), exitcode.Usage)
}

// newLogger builds a stderr logger in the --log-format of a command: plain
// lines ("podseq: ...") or slog's JSON. With quiet it discards everything.
func newLogger(c *cli.Context, quiet bool) *slog.Logger {
	stderr := c.App.ErrWriter
	if quiet {
		return slog.New(slog.DiscardHandler)
	}
	if c.String("log-format") == "json" {
		return slog.New(slog.NewJSONHandler(stderr, nil))
	}
	return slog.New(&lineHandler{mu: new(sync.Mutex), w: stderr, prefix: "podseq: "})
}
