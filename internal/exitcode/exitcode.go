// Package exitcode is the one table of the exit codes of podseq and
// kubectl-podseq: every command returns these, each --help lists them, and
// docs/exit-codes.md is generated from those.
package exitcode

import (
	"errors"
	"io/fs"
	"os/exec"
	"syscall"
)

// The exit codes, as the commands return them.
const (
	// OK: ready (wait), the child exited 0 (run), or the command did its work.
	OK = 0
	// NotReady: a target was not ready by the deadline (wait, run's birth
	// deps).
	NotReady = 1
	// Usage: a malformed flag, target or argument, or a Config that cannot
	// run.
	Usage = 2
	// TimedOut: run's COMMAND ran past --step-timeout, as timeout(1)'s.
	TimedOut = 124
	// Skipped: run's COMMAND never ran, since a step it runs after
	// (--after) did not succeed, as git bisect run's "skip".
	Skipped = 125
	// CannotExec: a COMMAND (run's, or wait's -- COMMAND) was found but
	// could not be executed, as a shell's.
	CannotExec = 126
	// NotFound: a COMMAND was not found, as a shell's.
	NotFound = 127
	// SignalBase + N: podseq was stopped by signal N (130 for SIGINT, 143
	// for SIGTERM), or run's child died of signal N, as a shell reports it.
	SignalBase = 128
)

// The exit codes of kubectl-podseq's commands, besides OK and Usage.
const (
	// InjectFailed: inject's output could not be written (bad input is
	// Usage).
	InjectFailed = 1
	// WebhookFailed: the webhook could not serve (the address, the
	// certificate), or the certificates could not be made.
	WebhookFailed = 1
	// Unordered: `unordered` found pods that asked for an order and do not
	// have it.
	Unordered = 3
)

// Signal is the exit code of death by sig: SignalBase + N.
func Signal(sig syscall.Signal) int { return SignalBase + int(sig) }

// ForStart is the exit code of a command that could not be started, as a
// shell's: NotFound when it does not exist (exec.ErrNotFound,
// fs.ErrNotExist) or was found only relative to the current directory
// (exec.ErrDot, which exec.LookPath refuses), CannotExec otherwise.
func ForStart(err error) int {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, exec.ErrDot) {
		return NotFound
	}
	return CannotExec
}
