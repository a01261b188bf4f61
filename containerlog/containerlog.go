// Package containerlog writes to the log of the container a process was
// exec'd into: the standard error of the container's main process, which the
// container runtime collects for `kubectl logs`. A postStart hook's own
// output reaches no log while it runs (kubelet keeps it only when the hook
// fails), so `podseq wait` in a hook copies its lines there.
//
// It works where the hook can reopen the main process's standard error
// through /proc/1/fd/2: the hook runs in the container's PID and mount
// namespaces (not shareProcessNamespace, not hostPID), as a user that may
// open it (the main process's user, to whom containerd's runc shim gives the
// container's stdio pipes, or root), and the main process is dumpable (not
// started setuid or with file capabilities). Open says why when it cannot.
package containerlog

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// ErrMain is returned by Open when this process is the container's main
// process: its standard error is the container's log already.
var ErrMain = errors.New("this process is the container's main process")

// ErrSame is returned by Open when this process's standard error is the main
// process's: what it writes reaches the container's log already.
var ErrSame = errors.New("standard error is the container's log already")

// Writer writes to the main process's standard error without ever blocking:
// a line that does not fit in the pipe now is dropped. Lines up to PIPE_BUF
// (4096 bytes) are written whole, never mixed with the main process's.
type Writer struct {
	fd   int
	path string
}

// Open opens the standard error of process main (1: the container's main
// process) as seen in the proc file system at proc ("/proc"), unless this
// process is main, or its standard error is the same file, or main is in
// another mount namespace (then PID 1 is not this container's: a shared PID
// namespace). Every error says which.
func Open(proc string, main int) (*Writer, error) {
	if os.Getpid() == main {
		return nil, ErrMain
	}
	mainDir := proc + "/" + strconv.Itoa(main)
	ours, err := os.Readlink(proc + "/self/ns/mnt")
	if err != nil {
		return nil, fmt.Errorf("reading our mount namespace: %w", err)
	}
	theirs, err := os.Readlink(mainDir + "/ns/mnt")
	if err != nil {
		return nil, fmt.Errorf("reading the mount namespace of process %d: %w", main, err)
	}
	if ours != theirs {
		return nil, fmt.Errorf("process %d is in another mount namespace (%s, ours %s): not this container's main process (shareProcessNamespace or hostPID)", main, theirs, ours)
	}
	target := mainDir + "/fd/2"
	var st, self syscall.Stat_t
	if err := syscall.Stat(target, &st); err != nil {
		return nil, fmt.Errorf("standard error of process %d: %w", main, pathErr(target, err))
	}
	if err := syscall.Fstat(2, &self); err == nil && self.Dev == st.Dev && self.Ino == st.Ino {
		return nil, ErrSame
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFIFO, syscall.S_IFREG, syscall.S_IFCHR:
	default:
		return nil, fmt.Errorf("standard error of process %d is neither a pipe, a file nor a terminal", main)
	}
	// O_APPEND: a file is written at its end, not over what is there.
	// O_NONBLOCK: a pipe nobody reads never holds the wait up.
	fd, err := syscall.Open(target, syscall.O_WRONLY|syscall.O_APPEND|syscall.O_NONBLOCK|syscall.O_CLOEXEC|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the standard error of process %d: %w", main, pathErr(target, err))
	}
	return &Writer{fd: fd, path: target}, nil
}

// pathErr names the path in a syscall error.
func pathErr(path string, err error) error { return &os.PathError{Op: "open", Path: path, Err: err} }

// Write writes p at once or not at all when the pipe is full
// (syscall.EAGAIN).
func (w *Writer) Write(p []byte) (int, error) {
	for {
		n, err := syscall.Write(w.fd, p)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return max(n, 0), &os.PathError{Op: "write", Path: w.path, Err: err}
		}
		if n < len(p) {
			return n, &os.PathError{Op: "write", Path: w.path, Err: syscall.EAGAIN}
		}
		return n, nil
	}
}

// Close closes the descriptor.
func (w *Writer) Close() error { return syscall.Close(w.fd) }
