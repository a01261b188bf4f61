//go:build unix

package tombstone

import (
	"os"
	"syscall"
)

// The locks a tombstone's writer and readers take, never blocking: the
// writer's exclusive lock says its podseq run is alive.
const (
	lockExclusive = syscall.LOCK_EX | syscall.LOCK_NB
	lockShared    = syscall.LOCK_SH | syscall.LOCK_NB
	lockRelease   = syscall.LOCK_UN
)

// openDirFlags open a directory to fsync it.
const openDirFlags = syscall.O_DIRECTORY | syscall.O_NONBLOCK

// flock takes or releases a lock on f; syscall.EWOULDBLOCK when another
// process holds it.
func flock(f *os.File, how int) error { return syscall.Flock(int(f.Fd()), how) }

// canWrite reports, as access(2) with W_OK does, whether this process may
// write in dir.
func canWrite(dir string) error { return syscall.Access(dir, 2 /* W_OK */) }
