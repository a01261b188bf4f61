package inject

import (
	"slices"
	"testing"

	"github.com/podseq/podseq/probes"
)

// TestShellQuote: what inject writes for an exec probe, podseq wait
// --exec-probe splits back into the probe's words.
func TestShellQuote(t *testing.T) {
	t.Parallel()
	for _, words := range [][]string{
		{"cat", "/tmp/ready"},
		{"cat", "/tmp/it's ready"},
		{"sh", "-c", `test -f "/tmp/a b" && echo \ok`},
		{"/bin/check", "", "--flag=a'b\"c"},
		{`C:\path`, "tab\there"},
	} {
		q := probes.QuoteCommand(words)
		got, err := probes.SplitCommand(q)
		if err != nil {
			if slices.ContainsFunc(words, func(w string) bool { return slices.Contains([]byte(w), '\t') }) {
				continue // a control character: podseq refuses it, and so does the probe's author
			}
			t.Errorf("%q: SplitCommand(%q): %v", words, q, err)
			continue
		}
		if !slices.Equal(got, words) {
			t.Errorf("%q: quoted %q, split back %q", words, q, got)
		}
	}
}
