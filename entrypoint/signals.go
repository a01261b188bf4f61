package entrypoint

import (
	"os"
	"syscall"

	"github.com/podseq/podseq/internal/signals"
)

// forwardedSignals are the signals podseq catches and passes on to the child:
// every catchable one a process manager is sent, never SIGCHLD (podseq's own
// business) nor SIGURG (the Go runtime's preemption signal).
var forwardedSignals = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
	syscall.SIGTERM, syscall.SIGWINCH, syscall.SIGALRM,
}

// SignalName names a signal the way people write it: SIGTERM (signals.Name).
func SignalName(sig syscall.Signal) string { return signals.Name(sig) }
