// Package signals is the one home of signal names for podseq: how a signal
// is written in messages (SIGTERM), which names --stop-signal accepts, and
// the error a context canceled by a signal carries.
package signals

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/podseq/podseq/internal/exitcode"
)

// stop are the signals that may stop a child, by name.
var stop = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "ABRT": syscall.SIGABRT,
	"KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "ALRM": syscall.SIGALRM,
	"TERM": syscall.SIGTERM, "WINCH": syscall.SIGWINCH, "PWR": syscall.SIGPWR,
}

// other names the signals a child may die of that are not stop signals.
var other = map[syscall.Signal]string{
	syscall.SIGSEGV: "SIGSEGV", syscall.SIGPIPE: "SIGPIPE", syscall.SIGCHLD: "SIGCHLD",
	syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGILL: "SIGILL",
}

// Parse parses a stop signal: SIGTERM, TERM, sigterm or 15. Only signals
// that can stop a process are accepted.
func Parse(s string) (syscall.Signal, error) {
	name := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG")
	if sig, ok := stop[name]; ok {
		return sig, nil
	}
	if n, err := strconv.Atoi(name); err == nil {
		for _, sig := range stop {
			if int(sig) == n {
				return sig, nil
			}
		}
	}
	return 0, fmt.Errorf("unknown signal %q: use one of SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM, SIGPWR, SIGABRT, SIGKILL", s)
}

// Name names a signal the way people write it: SIGTERM, or "signal 31" for
// one without a name here.
func Name(sig syscall.Signal) string {
	for name, s := range stop {
		if s == sig {
			return "SIG" + name
		}
	}
	if name, ok := other[sig]; ok {
		return name
	}
	return fmt.Sprintf("signal %d", int(sig))
}

// Interrupted is the cause of a context canceled by a signal.
type Interrupted struct{ Signal syscall.Signal }

func (e Interrupted) Error() string { return "interrupted by " + Name(e.Signal) }

// ExitCode is 128+N, as a shell reports death by signal N.
func (e Interrupted) ExitCode() int { return exitcode.Signal(e.Signal) }

// CancelOnSignal returns a context canceled, with an Interrupted as its
// cause, when SIGINT or SIGTERM arrives, and the function that stops
// catching them (after which they are the process's defaults again); it may
// be called more than once.
func CancelOnSignal(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(Interrupted{Signal: s.(syscall.Signal)})
		case <-done:
		}
	}()
	return ctx, sync.OnceFunc(func() {
		signal.Stop(ch)
		close(done)
		cancel(context.Canceled)
	})
}
