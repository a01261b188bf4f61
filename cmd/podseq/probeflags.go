package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
	"golang.org/x/net/http/httpguts"

	"github.com/podseq/podseq/internal/flagname"
	"github.com/podseq/podseq/probes"
	"github.com/podseq/podseq/wait"
)

// Probe flag categories in --help.
const (
	catSchedule = "Schedule"
	catHTTP     = "HTTP and TLS"
	catOutput   = "Output"
)

// envName is the environment variable of a flag, as urfave/cli's EnvVars
// takes it (flagname.Env).
func envName(flag string) []string { return []string{flagname.Env(flag)} }

// probeFlags are the flags that say how targets are probed, shared by
// `podseq wait` and `podseq run --ready`.
func probeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "period", Category: catSchedule, EnvVars: envName("period"),
			Usage:       "longest interval between two attempts on one target; attempts start 1ms apart and the interval doubles up to it (a period set here never grows)",
			DefaultText: "5ms for loopback, unix, file and tombstone targets and 100ms for commands, growing to 1% of the time waited (at most 1s); 1s for remote targets"},
		&cli.DurationFlag{Name: "attempt-timeout", Category: catSchedule, EnvVars: envName("attempt-timeout"), Value: probes.DefaultAttemptTimeout,
			Usage: "time one attempt may take, as a probe's timeoutSeconds"},
		&cli.DurationFlag{Name: "initial-delay", Category: catSchedule, EnvVars: envName("initial-delay"),
			Usage: "time before the first attempt, as a probe's initialDelaySeconds"},
		&cli.IntFlag{Name: "success-threshold", Category: catSchedule, EnvVars: envName("success-threshold"), Value: 1,
			Usage: "consecutive successes that make a target ready"},
		&cli.StringFlag{Name: "status", Category: catHTTP, EnvVars: envName("status"), Value: "200-399",
			Usage: "accepted HTTP status codes and ranges, such as 200,204 or 200-299"},
		&cli.StringSliceFlag{Name: flagname.Header, Category: catHTTP, EnvVars: envName(flagname.Header),
			Usage: "`NAME:VALUE` header sent with every HTTP request (repeat the flag for more, or put one a line in PODSEQ_HEADER; values are never logged)"},
		&cli.StringFlag{Name: "body-contains", Category: catHTTP, EnvVars: envName("body-contains"),
			Usage: "text that the first 10 KiB of an HTTP response body must contain"},
		&cli.StringFlag{Name: "body-regex", Category: catHTTP, EnvVars: envName("body-regex"),
			Usage: "Go regular expression that the first 10 KiB of an HTTP response body must match"},
		&cli.BoolFlag{Name: flagname.InsecureSkipVerify, Category: catHTTP, EnvVars: envName(flagname.InsecureSkipVerify),
			Usage: "do not verify the certificates of https:// and grpcs:// targets"},
		&cli.PathFlag{Name: "ca-file", Category: catHTTP, EnvVars: envName("ca-file"),
			Usage: "PEM file of the CAs that https:// and grpcs:// certificates must chain to"},
		&cli.PathFlag{Name: flagname.Graveyard, Category: catSchedule, EnvVars: envName(flagname.Graveyard), Value: "/graveyard",
			Usage: "directory of the tombstones that tombstone://NAME targets read"},
	}
}

// disabledFlag is the off switch of wait and run, --disabled or
// PODSEQ_DISABLED=true: the one emergency switch for every mode
// (docs/troubleshooting.md, "The off switch").
func disabledFlag(what string) cli.Flag {
	return &cli.BoolFlag{Name: "disabled", EnvVars: envName("disabled"),
		Usage: what + ". The emergency switch: PODSEQ_DISABLED=true in a container's env (a ConfigMap through envFrom for a whole namespace) turns every podseq wait and podseq run there off"}
}

// disabledBy starts the one line that says podseq was switched off; it is
// printed even with --quiet, since a switch left on must show.
const disabledBy = "disabled by --disabled or PODSEQ_DISABLED"

// outputFlags are the flags that say what podseq prints.
func outputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Category: catOutput, EnvVars: envName("quiet"),
			Usage: "print nothing but the failure line"},
		&cli.StringFlag{Name: "log-format", Category: catOutput, EnvVars: envName("log-format"), Value: "text",
			Usage: "text (plain lines) or json (one JSON object a line)"},
	}
}

// probeSettings reads the probe flags into the probes package's plain structs,
// rejecting malformed values with a message that names the flag.
func probeSettings(c *cli.Context) (probes.Options, probes.Schedule, error) {
	var o probes.Options
	var s probes.Schedule
	var err error
	if o.Status, err = probes.ParseStatusSet(c.String("status")); err != nil {
		return o, s, fmt.Errorf("--status %q: %w", c.String("status"), err)
	}
	for _, h := range repeated(c, "header") {
		if o.Header == nil {
			o.Header = http.Header{}
		}
		name, value, err := parseHeader(h)
		if err != nil {
			return o, s, err
		}
		o.Header.Add(name, value)
	}
	o.BodyContains = c.String("body-contains")
	if re := c.String("body-regex"); re != "" {
		if o.BodyRegex, err = regexp.Compile(re); err != nil {
			return o, s, fmt.Errorf("--body-regex: %w", err)
		}
	}
	o.InsecureSkipVerify = c.Bool("insecure-skip-verify")
	o.CAFile = c.Path("ca-file")
	if o.CAFile != "" && o.InsecureSkipVerify {
		return o, s, errors.New("--ca-file and --insecure-skip-verify exclude each other: with --insecure-skip-verify no certificate is checked against any CA")
	}
	if o.CAFile != "" {
		if err := probes.CheckCAFile(o.CAFile); err != nil {
			return o, s, wordCAFile(err)
		}
	}
	o.Graveyard = c.Path("graveyard")

	s.Period = c.Duration("period")
	s.AttemptTimeout = c.Duration("attempt-timeout")
	s.InitialDelay = c.Duration("initial-delay")
	s.SuccessThreshold = c.Int("success-threshold")
	switch {
	case s.Period == 0 && c.IsSet("period"):
		return o, s, errors.New("--period 0s: must be at least 1ms (leave --period out for the default schedule)")
	case s.Period < 0:
		return o, s, fmt.Errorf("--period %s: must not be negative", s.Period)
	case s.Period > 0 && s.Period < time.Millisecond:
		return o, s, fmt.Errorf("--period %s: must be at least 1ms", s.Period)
	case s.AttemptTimeout <= 0:
		return o, s, fmt.Errorf("--attempt-timeout %s: must be positive", s.AttemptTimeout)
	case s.InitialDelay < 0:
		return o, s, fmt.Errorf("--initial-delay %s: must not be negative", s.InitialDelay)
	case s.SuccessThreshold < 1:
		return o, s, fmt.Errorf("--success-threshold %d: must be at least 1", s.SuccessThreshold)
	}
	switch f := c.String("log-format"); f {
	case "text", "json":
	default:
		return o, s, fmt.Errorf("--log-format %q: want text or json", f)
	}
	return o, s, nil
}

// wordCAFile words a *probes.CAFileError as the --ca-file flag's.
func wordCAFile(err error) error {
	var ce *probes.CAFileError
	switch {
	case !errors.As(err, &ce):
		return err
	case errors.Is(err, probes.ErrNoPEM):
		return fmt.Errorf("--ca-file %s: %w", ce.Path, ce.Err)
	}
	return fmt.Errorf("--ca-file: %w", ce.Err)
}

// The kinds of target that use the HTTP and the TLS flags.
var (
	httpKinds = []string{"http", "https"}
	tlsKinds  = []string{"https", "grpcs"}
)

// probeFlagUsers maps each probe flag that only some kinds use to them.
var probeFlagUsers = []struct {
	flag  string
	kinds []string
}{
	{"status", httpKinds},
	{"header", httpKinds},
	{"body-contains", httpKinds},
	{"body-regex", httpKinds},
	{"ca-file", tlsKinds},
	{"insecure-skip-verify", tlsKinds},
}

// unusedFlags refuses a probe flag given on the command line that no target
// uses (--status without an http:// target): the user meant something else.
// One that comes from its environment variable is let be, since a
// container's env reaches both its podseq run and its hook's podseq wait.
func unusedFlags(c *cli.Context, targets []*probes.Target) error {
	for _, u := range probeFlagUsers {
		if !c.IsSet(u.flag) {
			continue
		}
		if _, fromEnv := os.LookupEnv(envName(u.flag)[0]); fromEnv {
			continue
		}
		if !slices.ContainsFunc(targets, func(t *probes.Target) bool { return slices.Contains(u.kinds, t.Kind) }) {
			return fmt.Errorf("--%s is for %s:// targets, and no target is one", u.flag, strings.Join(u.kinds, ":// and "))
		}
	}
	return nil
}

// repeated returns the values of a repeatable flag: one per flag given, or,
// from its environment variable, one per line. A newline is the separator
// because it cannot occur in any of the values (a URL, a header, an exec
// probe's command line), while commas do: http://host/a,b, "Accept:a,b".
// Blank lines are skipped, so a YAML block (value: |) works as it reads.
func repeated(c *cli.Context, name string) []string {
	var out []string
	for _, v := range c.StringSlice(name) {
		if !strings.Contains(v, "\n") {
			out = append(out, v)
			continue
		}
		for _, line := range strings.Split(v, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				out = append(out, line)
			}
		}
	}
	return out
}

// parseHeader parses one --header NAME:VALUE. Its errors name the header
// and never show any part of what may be its value.
func parseHeader(h string) (string, string, error) {
	name, value, ok := strings.Cut(h, ":")
	name = strings.TrimSpace(name)
	if !ok {
		return "", "", fmt.Errorf("--header %s: want NAME:VALUE, with a colon after the name", headerName(h))
	}
	if name == "" {
		return "", "", errors.New("--header \":...\": want NAME:VALUE, and the name before the colon is empty")
	}
	if !httpguts.ValidHeaderFieldName(name) {
		i := strings.IndexFunc(name, notInHeaderName)
		return "", "", fmt.Errorf("--header %s: the name holds %q, which no header name holds", headerName(name), name[i:i+utf8Len(name[i:])])
	}
	value = strings.TrimSpace(value)
	if !httpguts.ValidHeaderFieldValue(value) {
		return "", "", fmt.Errorf("--header %s: the value holds a control character", name)
	}
	return textproto.CanonicalMIMEHeaderKey(name), value, nil
}

// headerName shows the name of a malformed --header, and nothing of what may
// be its value: the header name it starts with when a space, "=" or ";"
// follows (the value's usual place), else only its length.
func headerName(h string) string {
	i := strings.IndexFunc(h, notInHeaderName)
	if i > 0 && strings.ContainsRune(" \t=;", rune(h[i])) {
		return fmt.Sprintf("%q", h[:i]+" ...")
	}
	return fmt.Sprintf("(%d characters, not shown)", len(h))
}

// notInHeaderName reports whether no header name holds r.
func notInHeaderName(r rune) bool { return r > 0x7f || !httpguts.ValidHeaderFieldName(string(r)) }

// utf8Len is the length of the first character of s.
func utf8Len(s string) int {
	_, n := utf8.DecodeRuneInString(s)
	return max(n, 1)
}

// typographicDashes are the dashes that word processors and chat apps write
// for "-" and "--": em, en, minus, figure dash, hyphen.
const typographicDashes = "\u2014\u2013\u2212\u2012\u2010"

// parseTargets parses the TARGET arguments and the --exec-probe command
// lines (wait.ParseTargets), its errors worded with the flags.
func parseTargets(raw, commands []string, o probes.Options) ([]*probes.Target, error) {
	for _, r := range raw {
		if err := notAFlag(r); err != nil {
			return nil, err
		}
	}
	ts, err := wait.ParseTargets(raw, commands, o)
	var ce *wait.CommandLineError
	switch {
	case errors.As(err, &ce):
		return nil, fmt.Errorf("--exec-probe: %w", ce.Err)
	case errors.Is(err, wait.ErrNoTarget):
		return nil, errors.New("no target: give at least one TARGET URL or --exec-probe COMMAND")
	}
	return ts, wordGraveyard(err)
}

// wordGraveyard names the --graveyard flag after the error of a graveyard
// that tombstone:// targets cannot read (*probes.GraveyardError); every
// wrapper of that error says its part before it.
func wordGraveyard(err error) error {
	var ge *probes.GraveyardError
	if errors.As(err, &ge) {
		return fmt.Errorf("%w (--graveyard)", err)
	}
	return err
}

// notAFlag refuses a TARGET that is a flag given after the targets, or one
// written with a typographic dash.
func notAFlag(r string) error {
	if strings.HasPrefix(r, "-") {
		return fmt.Errorf("%q looks like a flag: flags go before the targets", r)
	}
	for _, dash := range typographicDashes {
		if rest, ok := strings.CutPrefix(r, string(dash)); ok {
			return fmt.Errorf("%q looks like a flag written with a typographic dash (%c), as word processors and chat apps turn -- into: write --%s", r, dash, strings.TrimLeft(rest, typographicDashes+"-"))
		}
	}
	return nil
}
