package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/internal/testio"
)

// update rewrites generated files (docs/flags.md) instead of comparing them:
//
//	go test ./cmd/podseq -run TestFlagsDoc -update
var update = flag.Bool("update", false, "rewrite generated files (docs/flags.md) from the CLI")

// flagsDocPath is the flag reference, from cmd/podseq.
const flagsDocPath = "../../docs/flags.md"

// TestFlagsDoc keeps docs/flags.md in sync with the command line.
func TestFlagsDoc(t *testing.T) {
	got, err := renderFlagsDoc(newApp(io.Discard, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll("../../docs", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(flagsDocPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(flagsDocPath)
	if err != nil {
		t.Fatalf("%v (create it: go test ./cmd/podseq -run TestFlagsDoc -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/flags.md is out of date with the CLI; regenerate it: go test ./cmd/podseq -run TestFlagsDoc -update\n%s",
			firstDiff(string(want), string(got)))
	}
}

// TestFlagsDocRenders checks the generator on a made-up command: every kind
// of cell, escaping, categories, and a flag without an environment variable
// rejected.
func TestFlagsDocRenders(t *testing.T) {
	app := &cli.App{Name: "x", Commands: []*cli.Command{{
		Name: "cmd", Usage: "does | things", ArgsUsage: "ARG",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "wait", Aliases: []string{"w"}, EnvVars: []string{"X_WAIT"}, Value: 3e9, Usage: "how long"},
			&cli.StringSliceFlag{Name: "header", EnvVars: []string{"X_HEADER"}, Category: "HTTP", Usage: "`NAME:VALUE` header, a|b"},
			&cli.BoolFlag{Name: "quiet", EnvVars: []string{"X_QUIET"}, Category: "Output", Usage: "say less"},
			&cli.StringFlag{Name: "period", EnvVars: []string{"X_PERIOD"}, DefaultText: "10ms for loopback", Usage: "p"},
			&cli.StringFlag{Name: "mode", EnvVars: []string{"X_MODE"}, Value: "fast", Usage: "m"},
		},
	}}}
	got, err := renderFlagsDoc(app)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## x cmd\n\ndoes \\| things\n\n```\nx cmd [flags] ARG\n```\n",
		"| `--wait`, `-w` | `X_WAIT` | `3s` | how long |",
		"| `--period` | `X_PERIOD` | 10ms for loopback | p |",
		"| `--mode` | `X_MODE` | `fast` | m |",
		"\n### HTTP\n",
		"| `--header NAME:VALUE` | `X_HEADER` |  | NAME:VALUE header, a\\|b |",
		"\n### Output\n",
		"| `--quiet` | `X_QUIET` | `false` | say less |",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("rendered doc lacks %q:\n%s", want, got)
		}
	}
	if strings.Index(string(got), "### HTTP") > strings.Index(string(got), "### Output") {
		t.Error("categories are not in the order of their first flag")
	}
	app.Commands[0].Flags = append(app.Commands[0].Flags, &cli.IntFlag{Name: "n", Usage: "no env"})
	if _, err := renderFlagsDoc(app); err == nil || !strings.Contains(err.Error(), "--n has no environment variable") {
		t.Errorf("a flag without EnvVars: got %v, want an error", err)
	}
}

// renderFlagsDoc renders the flag reference of every command of app.
func renderFlagsDoc(app *cli.App) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s flag reference\n\n", app.Name)
	b.WriteString("<!-- Generated from the command line by `go test ./cmd/podseq -run TestFlagsDoc -update`; do not edit. -->\n\n")
	b.WriteString("Every flag can also be set through its environment variable, which helps in a pod spec\n" +
		"(`env:`) and in a postStart hook shared by many containers. A flag given on the command line\n" +
		"wins over the environment, which wins over the default. Durations are Go durations\n" +
		"(`500ms`, `2m`, `1h30m`). Every command also takes `--help`; `podseq --version` prints the version.\n\n" +
		"A repeatable flag (`--header`, `--exec-probe`, `--ready`) takes several values from its\n" +
		"environment variable one a line, never split at commas (URLs and headers hold commas):\n\n" +
		"```yaml\n" +
		"env:\n" +
		"- name: PODSEQ_HEADER\n" +
		"  value: |\n" +
		"    Authorization:Bearer s3cret\n" +
		"    Accept:application/json,text/plain\n" +
		"```\n")
	for _, c := range app.Commands {
		if c.Hidden {
			continue
		}
		fmt.Fprintf(&b, "\n## %s %s\n\n%s\n\n", app.Name, c.Name, cell(c.Usage))
		fmt.Fprintf(&b, "```\n%s %s [flags] %s\n```\n", app.Name, c.Name, c.ArgsUsage)
		// Uncategorised flags first, then each category in the order of
		// its first flag, as --help lists them.
		var order []string
		byCat := map[string][]cli.Flag{}
		for _, f := range c.Flags {
			cat := ""
			if cf, ok := f.(cli.CategorizableFlag); ok {
				cat = cf.GetCategory()
			}
			if _, seen := byCat[cat]; !seen && cat != "" {
				order = append(order, cat)
			}
			byCat[cat] = append(byCat[cat], f)
		}
		if c.SkipFlagParsing {
			fmt.Fprintf(&b, "\nEvery argument goes to `kubectl-podseq %s`, which has the flags: see `kubectl podseq %s --help`.\n", c.Name, c.Name)
			continue
		}
		if len(byCat) == 0 {
			b.WriteString("\nNo flags.\n")
			continue
		}
		for _, cat := range append([]string{""}, order...) {
			flags := byCat[cat]
			if len(flags) == 0 {
				continue
			}
			if cat != "" {
				fmt.Fprintf(&b, "\n### %s\n", cat)
			}
			b.WriteString("\n| Flag | Environment | Default | Description |\n| --- | --- | --- | --- |\n")
			for _, f := range flags {
				row, err := flagRow(f)
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", app.Name, c.Name, err)
				}
				b.WriteString(row)
			}
		}
	}
	return b.Bytes(), nil
}

// flagRow renders one flag as a table row.
func flagRow(f cli.Flag) (string, error) {
	df, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return "", fmt.Errorf("flag %v cannot be documented", f.Names())
	}
	names := f.Names()
	placeholder, usage := unquoteUsage(df.GetUsage())
	var ns []string
	for i, n := range names {
		dash := "--"
		if len(n) == 1 {
			dash = "-"
		}
		name := dash + n
		if i == 0 && df.TakesValue() && placeholder != "" && placeholder != "value" {
			name += " " + placeholder
		}
		ns = append(ns, "`"+name+"`")
	}
	envs := df.GetEnvVars()
	if len(envs) == 0 {
		return "", fmt.Errorf("--%s has no environment variable (use envName)", names[0])
	}
	for i, e := range envs {
		envs[i] = "`" + e + "`"
	}
	def := df.GetDefaultText()
	if def == "" && df.TakesValue() {
		def = df.GetValue()
	}
	// A DefaultText is prose; a value is code, without urfave/cli's quotes.
	if def != "" && !hasDefaultText(f) {
		if u, err := strconv.Unquote(def); err == nil && strings.HasPrefix(def, `"`) {
			def = u
		}
		def = "`" + def + "`"
	}
	return fmt.Sprintf("| %s | %s | %s | %s |\n", strings.Join(ns, ", "), strings.Join(envs, ", "), cell(def), cell(usage)), nil
}

// hasDefaultText reports whether the flag sets DefaultText (prose, such as
// "10ms for loopback ...") rather than showing its value.
func hasDefaultText(f cli.Flag) bool {
	switch f := f.(type) {
	case *cli.DurationFlag:
		return f.DefaultText != ""
	case *cli.StringFlag:
		return f.DefaultText != ""
	case *cli.IntFlag:
		return f.DefaultText != ""
	case *cli.BoolFlag:
		return f.DefaultText != ""
	case *cli.PathFlag:
		return f.DefaultText != ""
	case *cli.StringSliceFlag:
		return f.DefaultText != ""
	case *cli.Float64Flag:
		return f.DefaultText != ""
	case *cli.GenericFlag:
		return f.DefaultText != ""
	}
	return false
}

// unquoteUsage splits a usage string into its `PLACEHOLDER` (the first
// back-quoted word, as urfave/cli shows it in --help) and the usage without
// the back quotes.
func unquoteUsage(usage string) (placeholder, text string) {
	before, rest, ok := strings.Cut(usage, "`")
	if !ok {
		return "", usage
	}
	name, after, ok := strings.Cut(rest, "`")
	if !ok {
		return "", usage
	}
	return name, before + name + after
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

// firstDiff shows the first line where two texts differ.
func firstDiff(want, got string) string {
	n, w, g := testio.FirstDiff(want, got)
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("line %d:\n  docs/flags.md: %q\n  the CLI:       %q", n, w, g)
}
