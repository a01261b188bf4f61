//go:build !unix

package tombstone

import (
	"errors"
	"os"
)

// Tombstones need flock(2), which pods (linux) have. Elsewhere the package
// builds, so that kubectl-podseq (inject, which parses targets naming
// tombstones) runs on every workstation, and every lock fails.
const (
	lockExclusive = iota
	lockShared
	lockRelease
)

// openDirFlags open a directory to fsync it.
const openDirFlags = 0

// errNoFlock is every lock's error where there is no flock(2).
var errNoFlock = errors.New("tombstones need flock(2): linux or another unix")

func flock(*os.File, int) error { return errNoFlock }

func canWrite(string) error { return nil }
