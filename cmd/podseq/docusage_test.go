package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// docUsage is one invocation of podseq or kubectl-podseq that the docs show,
// in a code block or in inline code.
type docUsage struct {
	line  int
	text  string   // the line or code span, for the message
	prog  string   // podseq or kubectl-podseq
	words []string // what follows the program, up to -- or the end
}

// podseqBinary matches how the docs name podseq: podseq, /podseq,
// /podseq-bin/podseq, bin/podseq, ./podseq (not ./cmd/podseq, a package).
var podseqProgram = regexp.MustCompile(`^(?:(?:/[\w.-]+)*/|\./|bin/)?podseq$`)

// shellBreak splits a line where one command ends and another may start.
var shellBreak = regexp.MustCompile(`\|\||&&|[|;()` + "`" + `]|\$\(`)

// docUsages finds the invocations in a Markdown text: every line of a fenced
// code block (comments removed, continuation lines joined) and every inline
// code span outside them.
func docUsages(md string) []docUsage {
	var out []docUsage
	lines := strings.Split(md, "\n")
	inFence := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			start := i
			for strings.HasSuffix(l, `\`) && i+1 < len(lines) {
				i++
				l = strings.TrimSuffix(l, `\`) + " " + lines[i]
			}
			out = append(out, lineUsages(start+1, stripComment(l))...)
			continue
		}
		for _, span := range inlineCode(l) {
			out = append(out, lineUsages(i+1, span)...)
		}
	}
	return out
}

// stripComment removes a shell, YAML or Dockerfile comment: from a # at the
// start of the line or after a blank, outside quotes.
func stripComment(l string) string {
	var quote rune
	for i, r := range l {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			return l[:i]
		}
	}
	return l
}

var inlineSpan = regexp.MustCompile("`([^`]+)`")

func inlineCode(l string) []string {
	var spans []string
	for _, m := range inlineSpan.FindAllStringSubmatch(l, -1) {
		spans = append(spans, m[1])
	}
	return spans
}

// commandPrefix matches what may stand before a command in its place: a YAML
// key (command:, args:, a list's -), an environment assignment, a prompt,
// sudo and its kind, a Dockerfile instruction.
var commandPrefix = regexp.MustCompile(`^(?:|-|\$|[\w.-]*:|[A-Z_][A-Z0-9_]*=\S*|sudo|exec|nice|time|env|then|do|!|RUN|ENTRYPOINT|CMD)$`)

// cleanToken strips what JSON and YAML flow sequences put around a word.
func cleanToken(s string) string { return strings.Trim(s, `"'[],{}`) }

// lineUsages finds the invocations in one line of code.
func lineUsages(n int, l string) []docUsage {
	var out []docUsage
	for _, seg := range shellBreak.Split(l, -1) {
		toks := strings.Fields(seg)
		cmdStart := 0
		for i := 0; i < len(toks); i++ {
			tok := cleanToken(toks[i])
			prog, rest := "", 0
			switch {
			case tok == "kubectl" && i+1 < len(toks) && cleanToken(toks[i+1]) == "podseq":
				prog, rest = "kubectl-podseq", i+2
			case tok == "kubectl-podseq" || strings.HasSuffix(tok, "/kubectl-podseq"):
				prog, rest = "kubectl-podseq", i+1
			case podseqProgram.MatchString(tok):
				prog, rest = "podseq", i+1
			default:
				continue
			}
			// Only a program in a command's place runs: not the value of
			// another program's flag (helm's --post-renderer kubectl-podseq),
			// an argument (kubectl create configmap podseq) or prose.
			if slices.ContainsFunc(toks[cmdStart:i], func(w string) bool { return !commandPrefix.MatchString(cleanToken(w)) }) {
				continue
			}
			var words []string
			j := rest
			for ; j < len(toks); j++ {
				w := cleanToken(toks[j])
				if w == "--" || strings.HasPrefix(w, ">") || strings.HasPrefix(w, "2>") {
					break
				}
				if w != "" {
					words = append(words, w)
				}
			}
			out = append(out, docUsage{line: n, text: strings.TrimSpace(l), prog: prog, words: words})
			i, cmdStart = j, j+1 // what follows -- may be a run of its own
		}
	}
	return out
}

// cliIndex answers, through the binaries' --help, which commands and flags
// exist.
type cliIndex struct {
	bins  docBinaries
	cache map[string]*cliCommand
}

type cliCommand struct {
	name        string // as its --help names it: podseq inject is kubectl-podseq inject
	subcommands []string
	flags       []string // without dashes
	err         error
}

func newCLIIndex(b docBinaries) *cliIndex {
	return &cliIndex{bins: b, cache: map[string]*cliCommand{}}
}

var flagName = regexp.MustCompile(`(?:^|, )--?([a-zA-Z][\w-]*)`)

func (x *cliIndex) command(prog string, args []string) *cliCommand {
	key := strings.Join(append([]string{prog}, args...), " ")
	if c, ok := x.cache[key]; ok {
		return c
	}
	c := &cliCommand{}
	x.cache[key] = c
	h, err := x.bins.help(prog, args...)
	if err != nil {
		c.err = err
		return c
	}
	c.name = helpName(h)
	c.subcommands = subcommands(h)
	for _, sec := range []string{"OPTIONS", "GLOBAL OPTIONS"} {
		for _, l := range helpSection(h, sec) {
			left, _, _ := strings.Cut(strings.TrimSpace(l), "  ")
			for _, m := range flagName.FindAllStringSubmatch(left, -1) {
				c.flags = append(c.flags, m[1])
			}
		}
	}
	if !slices.Contains(c.flags, "help") {
		c.flags = append(c.flags, "help", "h")
	}
	return c
}

var commandWord = regexp.MustCompile(`^[a-z][a-z-]*$`)

// check resolves a usage's command through the program's command tree and
// looks up each of its flags in that command's --help.
func (x *cliIndex) check(u docUsage) error {
	var args []string
	prog := u.prog
	cmd := x.command(prog, nil)
	flagSeen := false
	for _, w := range u.words {
		if cmd.err != nil {
			return cmd.err
		}
		if strings.HasPrefix(w, "-") && w != "-" {
			name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
			if !slices.Contains(cmd.flags, name) {
				return fmt.Errorf("%s has no flag %s (its --help lists %s)", strings.Join(append([]string{prog}, args...), " "), w, strings.Join(cmd.flags, ", "))
			}
			flagSeen = true
			continue
		}
		if flagSeen || len(cmd.subcommands) == 0 {
			continue // an argument
		}
		if slices.Contains(cmd.subcommands, w) {
			args = append(args, w)
			cmd = x.command(prog, args)
			// podseq inject and podseq webhook run kubectl-podseq's.
			if other, ok := strings.CutPrefix(cmd.name, "kubectl-podseq "); ok && prog == "podseq" && other == strings.Join(args, " ") {
				prog = "kubectl-podseq"
				cmd = x.command(prog, args)
			}
			continue
		}
		if len(args) == 0 {
			if commandWord.MatchString(w) {
				return fmt.Errorf("%s has no command %q (it has %s)", u.prog, w, strings.Join(cmd.subcommands, ", "))
			}
			return nil // not a run: a log line such as "podseq wait: ready"
		}
	}
	return cmd.err
}

// TestDocUsageScanner checks the scanner on made-up docs: what it finds, and
// that check refuses an unknown command or flag.
func TestDocUsageScanner(t *testing.T) {
	md := "Run `podseq wait --timeout=2m tcp://db:5432`, or `kubectl podseq inject -f x.yaml`.\n" +
		"```sh\n" +
		"kubectl get deploy -o yaml | podseq inject -f - | kubectl apply -f -   # podseq wiat --nope\n" +
		"helm install x --post-renderer kubectl-podseq --post-renderer-args=inject\n" +
		"kubectl -n NS create configmap podseq --from-literal=PODSEQ_DISABLED=true; sudo PODSEQ_QUIET=1 podseq --version\n" +
		"go test ./cmd/podseq -run TestFlagsDoc -update\n" +
		"podseq run --name a \\\n" +
		"  --grace 5s -- podseq wait --quiet\n" +
		"```\n" +
		"```yaml\n" +
		`command: ["/podseq-bin/podseq", "run", "--ready=http://x/ready", "--", "/app", "--serve"]` + "\n" +
		"args: [/podseq, wait, --period=1s]\n" +
		"```\n" +
		"A log line: `podseq wait: ready after 1s`; prose: `format \"v2\", this podseq reads \"v1\" only`.\n"
	var got []string
	for _, u := range docUsages(md) {
		got = append(got, fmt.Sprintf("%d %s %s", u.line, u.prog, strings.Join(u.words, " ")))
	}
	want := []string{
		"1 podseq wait --timeout=2m tcp://db:5432",
		"1 kubectl-podseq inject -f x.yaml",
		"3 podseq inject -f -",
		"5 podseq --version",
		"7 podseq run --name a --grace 5s",
		"7 podseq wait --quiet",
		"11 podseq run --ready=http://x/ready",
		"12 podseq wait --period=1s",
		"14 podseq wait: ready after 1s",
	}
	if !slices.Equal(got, want) {
		t.Errorf("usages:\n got %q\nwant %q", got, want)
	}

	// check, against a made-up command tree.
	x := &cliIndex{cache: map[string]*cliCommand{
		"podseq":               {subcommands: []string{"wait", "webhook"}, flags: []string{"help", "version"}},
		"podseq wait":          {flags: []string{"timeout", "quiet", "q", "help"}},
		"podseq webhook":       {subcommands: []string{"certs"}, flags: []string{"listen", "help"}},
		"podseq webhook certs": {flags: []string{"renew", "help"}},
	}}
	for _, c := range []struct {
		words []string
		err   string
	}{
		{[]string{"wait", "--timeout=2m", "-q", "tcp://x:1"}, ""},
		{[]string{"--version"}, ""},
		{[]string{"wait:", "ready"}, ""},
		{[]string{"webhook", "certs", "--renew"}, ""},
		{[]string{"webhook", "--listen", ":1"}, ""},
		{[]string{"wait", "--timeuot=2m"}, "podseq wait has no flag --timeuot=2m"},
		{[]string{"wiat", "--timeout=2m"}, `podseq has no command "wiat"`},
		{[]string{"webhook", "certs", "--listen", ":1"}, "podseq webhook certs has no flag --listen"},
		{[]string{"--verbose"}, "podseq has no flag --verbose"},
	} {
		err := x.check(docUsage{prog: "podseq", words: c.words})
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("check(podseq %s) = %v, want %q", strings.Join(c.words, " "), err, c.err)
		}
	}
}

// TestDocLinks checks every relative link of README.md, CHANGELOG.md and
// docs/*.md: the file exists, and a #fragment names a heading of it (as
// GitHub makes anchors), so that moving a section cannot leave a link behind.
func TestDocLinks(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"../../README.md", "../../CHANGELOG.md"}, files...)
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	anchorCache := map[string]map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(f, "../../")
		for i, l := range strings.Split(stripFences(string(b)), "\n") {
			for _, m := range link.FindAllStringSubmatch(l, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				p, frag, _ := strings.Cut(target, "#")
				file := f
				if p != "" {
					file = filepath.Join(filepath.Dir(f), p)
				}
				if _, err := os.Stat(file); err != nil {
					t.Errorf("%s:%d: link %s: %v", name, i+1, target, err)
					continue
				}
				if frag == "" || !strings.HasSuffix(file, ".md") {
					continue
				}
				if anchorCache[file] == nil {
					anchorCache[file] = markdownAnchors(t, file)
				}
				if !anchorCache[file][frag] {
					t.Errorf("%s:%d: link %s: %s has no heading #%s", name, i+1, target, strings.TrimPrefix(file, "../../"), frag)
				}
			}
		}
	}
}

// stripFences blanks the lines of fenced code blocks, keeping line numbers.
func stripFences(md string) string {
	lines := strings.Split(md, "\n")
	in := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			in = !in
			lines[i] = ""
		} else if in {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// markdownAnchors returns the anchors GitHub gives a file's headings:
// lower case, punctuation but - and _ dropped, spaces as -.
func markdownAnchors(t *testing.T, file string) map[string]bool {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	heading := regexp.MustCompile(`^#{1,6} (.*)`)
	for _, l := range strings.Split(stripFences(string(b)), "\n") {
		m := heading.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var s strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(m[1])) {
			switch {
			case r == ' ':
				s.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				s.WriteRune(r)
			}
		}
		anchors[s.String()] = true
	}
	return anchors
}
