// Package proc is the harness's plumbing that the node, the cluster and
// the scenarios share: daemons started and stopped by PID, polling, files
// written atomically and the progress log.
package proc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// WriteFileAtomic writes a temporary file beside path and renames it over path.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}

// StartDaemon starts bin with args (and env, nil for the harness's) in its
// own process group, its output appended to logPath, and reaps it; the
// channel is closed when it has exited.
func StartDaemon(logPath, bin string, env []string, args ...string) (*exec.Cmd, <-chan struct{}, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	logFile.Close() // the child has its own copy
	if err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	return cmd, exited, nil
}

// Alive reports whether pid is running the binary named base.
func Alive(pid int, base string) bool {
	if pid <= 0 {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		// a zombie (our own exited child not yet reaped) is not running
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return false
		}
	}
	return filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == base
}

// StopPID sends SIGTERM, then SIGKILL after grace.
func StopPID(pid int, base string, grace time.Duration) error {
	if !Alive(pid, base) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !Alive(pid, base) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	if Alive(pid, base) {
		return fmt.Errorf("%s (pid %d) survived SIGKILL", base, pid)
	}
	return nil
}

// Tail returns the last n lines of a file.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error() + "\n"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// Poll calls f every interval until it returns nil, ctx ends or limit passes;
// the error names f's last failure. An error f wraps in GiveUp ends the poll
// at once, and Poll returns it as it was.
func Poll(ctx context.Context, limit, interval time.Duration, f func() error) error {
	return PollUntil(ctx, limit, interval, nil, f)
}

// giveUpError is an error that no further attempt of a poll can mend.
type giveUpError struct{ err error }

func (g giveUpError) Error() string { return g.err.Error() }

// GiveUp wraps err so that Poll and PollUntil return it at once.
func GiveUp(err error) error { return giveUpError{err} }

// PollUntil is Poll that also calls f at once when wake is ready (a closed
// channel: each interval), so that f can see what wake says and give up.
func PollUntil(ctx context.Context, limit, interval time.Duration, wake <-chan struct{}, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if g, ok := err.(giveUpError); ok {
			return g.err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", limit, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-wake:
		case <-time.After(interval):
		}
	}
}

// Logf prints one progress line on standard output, after the time of day
// (15:04:05.000).
func Logf(format string, args ...any) {
	fmt.Printf("%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}
