package probes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// execProber runs a command, directly and never through a shell, and wants it
// to exit 0. An attempt that outlives its timeout is killed with its whole
// process group, and the command is always waited for, so no zombie is left.
type execProber struct {
	argv []string
}

// NewExec returns the exec target of `podseq wait --exec-probe 'COMMAND [ARG...]'`
// (argv as SplitCommand returns it).
func NewExec(argv []string) (*Target, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, fmt.Errorf("%w: empty command", ErrBadTarget)
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return nil, fmt.Errorf("%w: command %q: %v", ErrBadTarget, argv[0], errors.Unwrap(err))
	}
	return &Target{
		Kind:   "exec",
		Name:   "exec " + strings.Join(argv, " "),
		Local:  true,
		Prober: &execProber{argv: argv},
	}, nil
}

// execOutputTail is how much of a failed command's output goes in its error.
const execOutputTail = 200

func (p *execProber) Check(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, p.argv[0], p.argv[1:]...)
	ownProcessGroup(cmd)
	cmd.WaitDelay = 100 * time.Millisecond // stop waiting for pipes a grandchild holds
	var out bytes.Buffer
	cmd.Stdout = &tailWriter{buf: &out}
	cmd.Stderr = cmd.Stdout
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return shortError{attemptTimedOut + " (command killed)", ctx.Err()}
	}
	msg := strings.Join(strings.Fields(out.String()), " ")
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = fmt.Errorf("%s", ee.ProcessState)
	}
	if msg != "" {
		return fmt.Errorf("%v: %s", err, msg)
	}
	return err
}

// tailWriter keeps the last execOutputTail bytes written to it.
type tailWriter struct{ buf *bytes.Buffer }

func (w *tailWriter) Write(b []byte) (int, error) {
	n := len(b)
	w.buf.Write(b)
	if over := w.buf.Len() - execOutputTail; over > 0 {
		w.buf.Next(over)
	}
	return n, nil
}
