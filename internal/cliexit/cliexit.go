// Package cliexit turns the error a command line returned into its exit code
// and one line on stderr, the same way for every podseq command.
package cliexit

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// Report writes err's message to stderr as one line, starting with prefix
// (added if the message does not start with it), and returns the exit code:
// a cli.ExitCoder's, else fallback. A nil err is exit 0 and no line.
func Report(err error, stderr io.Writer, prefix string, fallback int) int {
	if err == nil {
		return 0
	}
	code := fallback
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	if msg := err.Error(); msg != "" {
		if !strings.HasPrefix(msg, prefix) {
			msg = prefix + ": " + msg
		}
		fmt.Fprintln(stderr, OneLine(msg))
	}
	return code
}

// OneLine folds a message onto one line.
func OneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}
