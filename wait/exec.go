package wait

import (
	"os"
	"syscall"
)

// Exec replaces this process with the command argv once the wait is over:
// the command keeps its pid, its standard streams and its exit code. It
// returns only if the exec failed (see exitcode.ForStart).
func Exec(path string, argv []string) error {
	// Go resets the signals it handles to their defaults across exec, and
	// podseq ignores none, so the command starts with a clean signal state.
	return syscall.Exec(path, argv, os.Environ())
}
