package install

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
)

// ExecError is returned by Install when the copy is in place but cannot be
// executed from its directory, the way every container that mounts it
// would execute it: a volume mounted noexec (KEP-5855's noexec mounts, a
// node that mounts emptyDirs noexec), or a security module that forbids it.
type ExecError struct {
	// Path is the installed copy.
	Path string
	// Err is what the exec failed with (permission denied, for noexec).
	Err error
	// NoExec: Path's file system is mounted noexec.
	NoExec bool
}

func (e *ExecError) Error() string {
	why := e.Err.Error()
	if e.NoExec {
		why += fmt.Sprintf(" (%s is mounted noexec)", filepath.Dir(e.Path))
	}
	return fmt.Sprintf("install %s: the copy cannot be executed: %s", e.Path, why)
}

func (e *ExecError) Unwrap() error { return e.Err }

// checkExec runs the copy at path with args, its output discarded. An exit
// code of its own, whatever it is, proves that it could be executed.
func checkExec(path string, args []string) error {
	err := exec.Command(path, args...).Run()
	var exit *exec.ExitError
	if err == nil || errors.As(err, &exit) {
		return nil
	}
	return &ExecError{Path: path, Err: plainErr(err), NoExec: noexec(filepath.Dir(path))}
}
