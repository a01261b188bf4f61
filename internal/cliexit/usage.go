package cliexit

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/internal/exitcode"
)

// UsageError returns the OnUsageError of a podseq command line (podseq's and
// kubectl-podseq's): a flag-parsing error becomes one line, "podseq
// COMMAND: MESSAGE (see podseq COMMAND --help)", and exit code 2, instead of
// urfave/cli's help dump on stdout. command names the command that c runs
// ("wait", "webhook serve"; "" for the app itself).
func UsageError(command func(*cli.Context) string) cli.OnUsageErrorFunc {
	return func(c *cli.Context, err error, _ bool) error {
		name := "podseq"
		if cmd := command(c); cmd != "" {
			name += " " + cmd
		}
		return cli.Exit(fmt.Sprintf("%s: %s (see %s --help)", name, wordFlagError(c, err.Error()), name), exitcode.Usage)
	}
}

// flagValueError matches the standard flag package's message for a bad
// value, and flagBoolError its message for a bad boolean.
var (
	flagValueError = regexp.MustCompile(`^invalid value "(.*)" for flag -([\w-]+): (.*)$`)
	flagBoolError  = regexp.MustCompile(`^invalid boolean value "(.*)" for -([\w-]+): (.*)$`)
)

// wellFormedDuration matches what time.ParseDuration reads when the value
// is not too large: a bad duration that matches it overflowed.
var wellFormedDuration = regexp.MustCompile(`^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$`)

// dashes writes a flag's name as it is given: -v, --timeout.
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// wordFlagError words the flag package's message for people: an unknown
// flag, a bad boolean, a bad value (a duration says what one looks like).
func wordFlagError(c *cli.Context, msg string) string {
	if rest, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag " + dashes(rest)
	}
	if m := flagBoolError.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s=%q: want true or false", dashes(m[2]), m[1])
	}
	m := flagValueError.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	why := m[3]
	if why == "parse error" {
		why = "not a valid value"
		if isDuration(c, m[2]) {
			why = "want a duration such as 500ms, 5s or 2m"
			if wellFormedDuration.MatchString(m[1]) {
				why = "too long: a duration is at most 2562047h (about 292 years)"
			}
		}
	}
	return fmt.Sprintf("%s %q: %s", dashes(m[2]), m[1], why)
}

// isDuration reports whether the flag name of c's command is a duration.
func isDuration(c *cli.Context, name string) bool {
	if c == nil || c.Command == nil {
		return false
	}
	for _, f := range c.Command.Flags {
		if _, ok := f.(*cli.DurationFlag); ok && slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}
