package tombstone

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// The graveyard is a volume that every container of the pod can write, so
// what sits at a tombstone's or a lock's name may be anything: a named pipe
// whose open(2) waits for a writer forever, a device, a directory. podseq
// only ever opens regular files there, and never in a way that can block.

// NotRegularError says that a name in the graveyard is not a regular file.
// Its message leaves the name out, for the caller's context to give it.
type NotRegularError struct {
	// Path is the name in the graveyard.
	Path string
	// Mode is the file's type.
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("is %s, not a regular file", describeType(e.Mode))
}

// describeType names a file type in a few words.
func describeType(m fs.FileMode) string {
	switch t := m.Type(); {
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeCharDevice != 0:
		return "a character device"
	case t&fs.ModeDevice != 0:
		return "a block device"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	case t&fs.ModeIrregular != 0:
		return "a file of unknown type"
	}
	return "a regular file"
}

// checkRegular returns a *NotRegularError when fi is not a regular file.
func checkRegular(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return &NotRegularError{Path: path, Mode: fi.Mode()}
	}
	return nil
}

// openRegular opens path with flag (O_RDONLY, maybe O_CREATE) without ever
// blocking, and only if it is a regular file: a symbolic link is followed,
// then what it names is checked before the open (so that no device is ever
// opened) and again on the open descriptor (in case the name was swapped in
// between). O_NONBLOCK makes the open of a named pipe return at once instead
// of waiting for a writer; it changes nothing for a regular file.
func openRegular(path string, flag int) (*os.File, error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil:
		if err := checkRegular(path, fi); err != nil {
			return nil, err
		}
	case flag&os.O_CREATE == 0 || !os.IsNotExist(err):
		return nil, err
	}
	f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	if fi, err = f.Stat(); err == nil {
		err = checkRegular(path, fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
