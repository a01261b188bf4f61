package probes

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// SplitCommand splits as sh does, for every input without expansions: sh
// itself is the oracle.
func TestSplitCommandAgreesWithSh(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("this test needs sh: %v", err)
	}
	for _, line := range []string{
		`/bin/check --quick`,
		`  a   b  `,
		`a	b`,
		`'a b' c`,
		`"a b" c`,
		`a'b c'd`,
		`"a \" b"`,
		`"a \\ b"`,
		`"a \x b"`,
		`a\ b`,
		`a\'b`,
		`'it'\''s'`,
		`''`,
		`"" x`,
		`'"'`,
		`"'"`,
		`sh -c 'test -e /tmp/ready && echo yes'`,
	} {
		got, err := SplitCommand(line)
		if err != nil {
			t.Errorf("SplitCommand(%q): %v", line, err)
			continue
		}
		out, err := exec.Command(sh, "-c", "set -- "+line+`; for a in "$@"; do printf '[%s]' "$a"; done`).Output()
		if err != nil {
			t.Fatalf("sh on %q: %v", line, err)
		}
		var b strings.Builder
		for _, w := range got {
			b.WriteString("[" + w + "]")
		}
		if b.String() != string(out) {
			t.Errorf("SplitCommand(%q) = %s, sh says %s", line, b.String(), out)
		}
	}
}

func TestSplitCommandErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ line, want string }{
		{"", "empty command"},
		{"   ", "empty command"},
		{`'a`, "unterminated ' quote"},
		{`"a`, `unterminated " quote`},
		{`a\`, "ends with a backslash"},
		{"a\nb", "control character"},
		{"'a\nb'", "control character"},
		{"\"a\x01b\"", "control character"},
	} {
		if _, err := SplitCommand(tt.line); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("SplitCommand(%q) = %v, want %q", tt.line, err, tt.want)
		}
	}
}

// FuzzSplitCommand checks that SplitCommand never panics, that what it
// accepts holds no control character, and that QuoteCommand is its inverse
// both ways: quoting the words gives a line that splits to them again, and
// any argv (the input cut at NUL bytes) survives QuoteCommand then
// SplitCommand.
func FuzzSplitCommand(f *testing.F) {
	for _, seed := range []string{
		`/bin/check --quick`,       // the common case
		`sh -c 'pg_isready -h db'`, // a shell script, quoted
		`"a \" b" 'c'\''d'`,        // every quote and escape
		`a\ b\\c`,                  // backslashes outside quotes
		"a\x00b\x00'c",             // NUL-separated argv for the second check
		// argvs as podseq inject quotes them from exec probes:
		"cat\x00/tmp/it's ready",
		"sh\x00-c\x00test -f \"/tmp/a b\" && echo \\ok",
		"/bin/check\x00\x00--flag=a'b\"c",
		"C:\\path\x00tab\there",
		`'unterminated`, // an error
		"two\nlines",    // a newline: an error
		"",              // empty
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := SplitCommand(line)
		if err == nil {
			if len(words) == 0 {
				t.Fatalf("SplitCommand(%q) accepted no words", line)
			}
			for _, w := range words {
				if strings.ContainsFunc(w, isControl) {
					t.Fatalf("SplitCommand(%q) word %q holds a control character", line, w)
				}
			}
			again, err := SplitCommand(QuoteCommand(words))
			if err != nil || !slices.Equal(again, words) {
				t.Fatalf("SplitCommand(%q) = %q, quoted %q splits to %q, %v", line, words, QuoteCommand(words), again, err)
			}
		} else if strings.ContainsAny(err.Error(), "\r\n") {
			t.Fatalf("SplitCommand(%q) error is not one line: %q", line, err)
		}
		argv := strings.Split(line, "\x00")
		if slices.ContainsFunc(argv, func(a string) bool { return strings.ContainsFunc(a, isControl) }) {
			return
		}
		got, err := SplitCommand(QuoteCommand(argv))
		if err != nil || !slices.Equal(got, argv) {
			t.Fatalf("argv %q quoted %q splits to %q, %v", argv, QuoteCommand(argv), got, err)
		}
	})
}
