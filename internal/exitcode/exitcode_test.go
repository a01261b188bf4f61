package exitcode

import (
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"syscall"
	"testing"
)

// TestCodes pins each code: scripts, kubelet's restart policy and the docs
// read them, so none may change.
func TestCodes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want int
	}{
		{"OK", OK, 0},
		{"NotReady", NotReady, 1},
		{"Usage", Usage, 2},
		{"TimedOut", TimedOut, 124},
		{"Skipped", Skipped, 125},
		{"CannotExec", CannotExec, 126},
		{"NotFound", NotFound, 127},
		{"SignalBase", SignalBase, 128},
		{"InjectFailed", InjectFailed, 1},
		{"WebhookFailed", WebhookFailed, 1},
		{"Unordered", Unordered, 3},
		{"Signal(SIGINT)", Signal(syscall.SIGINT), 130},
		{"Signal(SIGTERM)", Signal(syscall.SIGTERM), 143},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

func TestForStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"not in PATH", &exec.Error{Name: "nope", Err: exec.ErrNotFound}, NotFound},
		{"no such file", &fs.PathError{Op: "stat", Path: "/nope", Err: fs.ErrNotExist}, NotFound},
		{"ENOENT from exec", syscall.ENOENT, NotFound},
		{"found in the current directory only", &exec.Error{Name: "app", Err: exec.ErrDot}, NotFound},
		{"wrapped", fmt.Errorf("start: %w", &exec.Error{Name: "app", Err: exec.ErrDot}), NotFound},
		{"not executable", &fs.PathError{Op: "fork/exec", Path: "/etc/passwd", Err: syscall.EACCES}, CannotExec},
		{"exec format error", syscall.ENOEXEC, CannotExec},
		{"anything else", errors.New("boom"), CannotExec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ForStart(tc.err); got != tc.want {
				t.Errorf("ForStart(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}
