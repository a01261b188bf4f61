package entrypoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// forwardedSignals are the signals podseq catches and passes on to the child:
// every catchable one a process manager is sent, never SIGCHLD (podseq's own
// business) nor SIGURG (the Go runtime's preemption signal).
var forwardedSignals = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
	syscall.SIGTERM, syscall.SIGWINCH, syscall.SIGALRM,
}

// stopSignals are the signals that may stop a child, by name.
var stopSignals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "ABRT": syscall.SIGABRT,
	"KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "ALRM": syscall.SIGALRM,
	"TERM": syscall.SIGTERM, "WINCH": syscall.SIGWINCH, "PWR": syscall.SIGPWR,
}

// ParseSignal parses a stop signal: SIGTERM, TERM, sigterm or 15. Only
// signals that can stop a process are accepted.
func ParseSignal(s string) (syscall.Signal, error) {
	name := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG")
	if sig, ok := stopSignals[name]; ok {
		return sig, nil
	}
	if n, err := strconv.Atoi(name); err == nil {
		for _, sig := range stopSignals {
			if int(sig) == n {
				return sig, nil
			}
		}
	}
	return 0, fmt.Errorf("unknown signal %q: use one of SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM, SIGPWR, SIGABRT, SIGKILL", s)
}

// SignalName names a signal the way people write it: SIGTERM.
func SignalName(sig syscall.Signal) string {
	for name, s := range stopSignals {
		if s == sig {
			return "SIG" + name
		}
	}
	switch sig {
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	case syscall.SIGCHLD:
		return "SIGCHLD"
	case syscall.SIGBUS:
		return "SIGBUS"
	case syscall.SIGFPE:
		return "SIGFPE"
	case syscall.SIGILL:
		return "SIGILL"
	}
	return fmt.Sprintf("signal %d", int(sig))
}
