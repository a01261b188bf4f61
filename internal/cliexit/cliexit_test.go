package cliexit

import (
	"bytes"
	"errors"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestReport(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
		line string
	}{
		{"nil", nil, 0, ""},
		{"exit coder", cli.Exit("podseq wait: bad", 7), 7, "podseq wait: bad\n"},
		{"wrapped exit coder", errors.Join(errors.New("x"), cli.Exit("y", 3)), 3, "podseq: x y\n"},
		{"plain error", errors.New("flag provided but not defined"), 2, "podseq: flag provided but not defined\n"},
		{"silent exit", cli.Exit("", 1), 1, ""},
		{"multi-line", errors.New("a\n  b"), 2, "podseq: a b\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if code := Report(tc.err, &b, "podseq", 2); code != tc.code || b.String() != tc.line {
				t.Errorf("Report = %d, %q; want %d, %q", code, b.String(), tc.code, tc.line)
			}
		})
	}
}
