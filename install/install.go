// Package install copies an executable into a directory atomically: the
// logic behind `podseq install DIR`, which an init container runs to put
// podseq into an emptyDir that any other container of the pod mounts.
//
// The copy goes to a temporary file in DIR, is synced, made 0755 and only
// then renamed over the target, so another container never sees a
// half-written executable, a failed copy leaves nothing behind, and an
// existing target that is running (ETXTBSY for an in-place write) is
// replaced all the same.
package install

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// DefaultName is the file name given to the copy when Options.Name is empty.
const DefaultName = "podseq"

// Mode is the permission of the installed file: executable by every user,
// since the containers that run it rarely share the installer's user.
const Mode fs.FileMode = 0o755

// UsageError is an error caused by the arguments (a missing directory, a
// target that is a directory, a malformed name) rather than by I/O.
type UsageError struct {
	Msg string
	// Err is the typed error behind Msg, if any: a *NameError.
	Err error
}

func (e *UsageError) Error() string { return e.Msg }

// Unwrap returns the typed error behind the message, if any.
func (e *UsageError) Unwrap() error { return e.Err }

// NameError is an Options.Name that cannot be used, as *strconv.NumError
// carries its input: not a file name, or (Path set) a directory is at
// Dir/Name. It names no flag; a command line adds its own.
type NameError struct {
	Name string
	// Path is the directory that is in the way, "" if the name is bad.
	Path string
}

func (e *NameError) Error() string {
	if e.Path != "" {
		return e.Path + " is a directory: remove it or choose another name"
	}
	return fmt.Sprintf("name %q: want a file name, without a slash", e.Name)
}

// nameErr returns a *UsageError for a *NameError.
func nameErr(e *NameError) error { return &UsageError{Msg: e.Error(), Err: e} }

// usageErr returns a *UsageError.
func usageErr(format string, a ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, a...)}
}

// Options says what to install where.
type Options struct {
	// Src is the executable to copy, usually os.Executable().
	Src string
	// Dir is the directory to install into; it must exist.
	Dir string
	// Name is the installed file's name in Dir (DefaultName when empty).
	Name string
	// Check, when not nil, are arguments to run the installed copy with,
	// its output discarded, to prove it can be executed from Dir; an
	// *ExecError says why not.
	Check []string
}

// Result describes a finished installation.
type Result struct {
	// Path is the installed file.
	Path string
	// Size is its size in bytes.
	Size int64
}

// Install copies o.Src to o.Dir/o.Name atomically. A *UsageError is about
// the caller's arguments; the others are I/O failures. On failure the
// target is left as it was and no temporary file remains. With Check, an
// *ExecError says that the copy, in place, cannot be executed.
func Install(o Options) (Result, error) {
	return install(o, nil)
}

// install is Install with a seam: wrap, when set, wraps the writer of the
// temporary file (tests inject a failing disk with it).
func install(o Options, wrap func(io.Writer) io.Writer) (Result, error) {
	name := o.Name
	if name == "" {
		name = DefaultName
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return Result{}, nameErr(&NameError{Name: name})
	}
	if o.Dir == "" {
		return Result{}, usageErr("DIR is empty")
	}
	fi, err := os.Stat(o.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Result{}, usageErr("%s: no such directory (mount a volume there, such as an emptyDir)", o.Dir)
	case err != nil:
		return Result{}, fmt.Errorf("%s: %w", o.Dir, plainErr(err))
	case !fi.IsDir():
		return Result{}, usageErr("%s: not a directory", o.Dir)
	}
	dst := filepath.Join(o.Dir, name)
	if fi, err := os.Lstat(dst); err == nil && fi.IsDir() {
		return Result{}, nameErr(&NameError{Name: name, Path: dst})
	}

	src, err := os.Open(o.Src)
	if err != nil {
		return Result{}, fmt.Errorf("open the executable %s: %w", o.Src, plainErr(err))
	}
	defer src.Close()
	if sfi, err := src.Stat(); err != nil {
		return Result{}, fmt.Errorf("open the executable %s: %w", o.Src, plainErr(err))
	} else if !sfi.Mode().IsRegular() {
		return Result{}, fmt.Errorf("the executable %s is not a regular file", o.Src)
	}

	tmp, err := os.CreateTemp(o.Dir, "."+name+".tmp-*")
	if err != nil {
		return Result{}, fmt.Errorf("install %s: create a temporary file: %w", dst, plainErr(err))
	}
	installed := false
	defer func() {
		if !installed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var w io.Writer = tmp
	if wrap != nil {
		w = wrap(w)
	}
	n, err := io.Copy(w, src)
	if err != nil {
		return Result{}, fmt.Errorf("install %s: copy %s: %w", dst, o.Src, plainErr(err))
	}
	// The file is complete on disk before anyone can see it under its name.
	if err := tmp.Sync(); err != nil {
		return Result{}, fmt.Errorf("install %s: sync: %w", dst, plainErr(err))
	}
	// Chmod after writing: the umask cannot take bits away from it.
	if err := tmp.Chmod(Mode); err != nil {
		return Result{}, fmt.Errorf("install %s: chmod: %w", dst, plainErr(err))
	}
	if err := tmp.Close(); err != nil {
		return Result{}, fmt.Errorf("install %s: close: %w", dst, plainErr(err))
	}
	// rename(2) replaces the target's directory entry, not its content: a
	// running old copy keeps its inode and nothing sees a partial file.
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return Result{}, fmt.Errorf("install %s: rename: %w", dst, plainErr(err))
	}
	installed = true
	if err := syncDir(o.Dir); err != nil {
		return Result{Path: dst, Size: n}, fmt.Errorf("install %s: sync the directory: %w", dst, plainErr(err))
	}
	if o.Check != nil {
		if err := checkExec(dst, o.Check); err != nil {
			return Result{Path: dst, Size: n}, err
		}
	}
	return Result{Path: dst, Size: n}, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err // EINVAL: the file system cannot sync directories
	}
	return nil
}

// plainErr drops the path of a *fs.PathError (the temporary file's random
// name is noise in a message that names the target already).
func plainErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
