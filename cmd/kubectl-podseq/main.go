// Command kubectl-podseq adds podseq to existing Kubernetes workloads:
// `kubectl podseq inject -f FILE` (as a kubectl plugin), or `podseq inject`,
// which runs it; and serves the admission webhook that does the same in the
// cluster (`podseq webhook`, `kubectl podseq unordered`). It is a command of its own so that the podseq binary copied
// into every pod stays small: the YAML library inject edits with is larger
// than the rest of podseq.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/internal/cliexit"
	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/internal/flagname"
	"github.com/podseq/podseq/internal/version"
)

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// newApp builds the command line on the given streams.
func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                      "kubectl-podseq",
		Usage:                     "add podseq to existing Kubernetes workloads",
		Version:                   version.String(),
		Reader:                    stdin,
		Writer:                    stdout,
		ErrWriter:                 stderr,
		HideHelpCommand:           true,
		DisableSliceFlagSeparator: true, // targets and dependency lists contain commas
		ExitErrHandler:            func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			return cli.Exit("podseq: no command: use inject, krm (a KRM function), webhook or unordered (see kubectl-podseq --help)", exitcode.Usage)
		},
		Commands: []*cli.Command{injectCommand(), krmCommand(), webhookCommand(), unorderedCommand()},
	}
	app.OnUsageError = usageError
	for _, c := range app.Commands {
		c.OnUsageError = usageError
		for _, sub := range c.Subcommands {
			sub.OnUsageError = usageError
		}
	}
	return app
}

// run runs the app and returns the exit code; every error is one line.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return cliexit.Report(newApp(stdin, stdout, stderr).Run(args), stderr, "podseq", exitcode.Usage)
}

// usageError is kubectl-podseq's OnUsageError (cliexit.UsageError): one
// line that names the command (inject when there is none), and exit code 2.
var usageError = cliexit.UsageError(func(c *cli.Context) string {
	if c != nil && c.Command != nil && c.Command.Name != "" {
		return c.Command.FullName()
	}
	return "inject"
})

// usagef returns a usage error (exit 2).
func usagef(format string, a ...any) error {
	return cli.Exit("podseq inject: "+fmt.Sprintf(format, a...), exitcode.Usage)
}

// envName is the environment variable of a flag, as urfave/cli's EnvVars
// takes it (flagname.Env).
func envName(flag string) []string { return []string{flagname.Env(flag)} }
