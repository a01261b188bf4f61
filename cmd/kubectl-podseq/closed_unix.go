//go:build unix

package main

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// outputClosed reports whether w is a standard output that was closed when
// the process started: the Go runtime then opens /dev/null read-write in
// its place, so writes succeed and the output is lost. A shell's
// >/dev/null opens it write-only and is not taken for closed.
func outputClosed(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return true
	}
	null, err := os.Stat(os.DevNull)
	if err != nil || !os.SameFile(fi, null) {
		return false
	}
	fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	return err == nil && fl&unix.O_ACCMODE == unix.O_RDWR
}
