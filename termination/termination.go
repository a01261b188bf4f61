// Package termination writes a container's termination message: the file
// kubelet reads when the container stops (its terminationMessagePath, by
// default /dev/termination-log, which kubelet creates for every container)
// and shows as lastState.terminated.message. It is the one place where
// `kubectl describe pod` prints what a container said about its end (Last
// State: Terminated, Message:); it does not print a waiting message.
package termination

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// DefaultPath is where kubelet reads a container's termination message
// (terminationMessagePath's default).
const DefaultPath = "/dev/termination-log"

// MaxMessage is the most Write writes. Kubelet keeps at most 4 KiB per
// container and 12 KiB per pod, shared among its containers: 512 bytes
// leaves room for 24 of them.
const MaxMessage = 512

// ErrNoLog is returned by Write for the default path when it does not
// exist: the process is not in a Kubernetes container.
var ErrNoLog = errors.New("no termination log")

// ErrKept is returned by Write when the termination log holds a message
// already (the container's command, or an earlier podseq, wrote it): the
// first message is the one that says why, and Write leaves it.
var ErrKept = errors.New("the termination log holds a message already")

// Write writes msg, cut to MaxMessage bytes, and a newline to the
// termination log at path. The file must exist unless create is set (a path
// given explicitly); a log that is not empty is left as it is (ErrKept).
func Write(path, msg string, create bool) error {
	if len(msg) > MaxMessage {
		msg = strings.ToValidUTF8(msg[:MaxMessage-3], "") + "..."
	}
	flags := os.O_WRONLY
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, os.ErrNotExist) && !create {
		return ErrNoLog
	}
	if err != nil {
		return fmt.Errorf("termination log: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() > 0 {
		f.Close()
		return ErrKept
	}
	if err == nil {
		_, err = f.WriteString(msg + "\n")
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("termination log %s: %w", path, err)
	}
	return nil
}

// Record writes msg as Write does, where path is what a --termination-log
// flag gives ("" for none) and create says that it was given explicitly.
// Nothing to write to is no error: no path, or the default path missing
// outside a container. ErrKept and I/O errors are the caller's to report.
func Record(path, msg string, create bool) error {
	if path == "" {
		return nil
	}
	if err := Write(path, msg, create); !errors.Is(err, ErrNoLog) {
		return err
	}
	return nil
}
