package signals

import (
	"context"
	"errors"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"SIGTERM": "SIGTERM", "term": "SIGTERM", "15": "SIGTERM", " sigquit ": "SIGQUIT",
		"USR1": "SIGUSR1", "9": "SIGKILL", "SIGPWR": "SIGPWR"} {
		sig, err := Parse(in)
		if err != nil || Name(sig) != want {
			t.Errorf("Parse(%q) = %v, %v; want %s", in, sig, err, want)
		}
	}
	for _, in := range []string{"", "SIGFOO", "0", "17", "SIGCHLD", "SIGSTOP", "-15", "99"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}

func TestName(t *testing.T) {
	t.Parallel()
	for sig, want := range map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM",
		syscall.SIGKILL: "SIGKILL", syscall.SIGSEGV: "SIGSEGV", syscall.SIGPIPE: "SIGPIPE", syscall.Signal(31): "signal 31"} {
		if got := Name(sig); got != want {
			t.Errorf("Name(%d) = %q, want %q", int(sig), got, want)
		}
	}
}

func TestInterrupted(t *testing.T) {
	t.Parallel()
	for sig, want := range map[syscall.Signal]struct {
		line string
		code int
	}{syscall.SIGINT: {"interrupted by SIGINT", 130}, syscall.SIGTERM: {"interrupted by SIGTERM", 143}} {
		e := Interrupted{Signal: sig}
		if e.Error() != want.line || e.ExitCode() != want.code {
			t.Errorf("Interrupted{%d} = %q, %d; want %q, %d", int(sig), e.Error(), e.ExitCode(), want.line, want.code)
		}
	}
}

func TestCancelOnSignal(t *testing.T) {
	ctx, stop := CancelOnSignal(context.Background())
	defer stop()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	var in Interrupted
	if !errors.As(context.Cause(ctx), &in) || in.Signal != syscall.SIGINT {
		t.Errorf("cause %v, want interrupted by SIGINT", context.Cause(ctx))
	}
}
