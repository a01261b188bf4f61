package probes

import (
	"sync"

	"github.com/podseq/podseq/tombstone"
)

// DiedHeader is the response header by which podseq run's /ready says that
// its command has died and podseq run is exiting; its value says how
// ("command exited with code 3"). Held long polls are answered with it the
// instant the command dies.
const DiedHeader = "Podseq-Died"

// InstanceHeader is the response header naming the podseq run that answers
// /ready: its instance id, as in its tombstone (tombstone.NewInstance).
const InstanceHeader = "Podseq-Instance"

// DiedError is the error of an attempt on a podseq run endpoint whose command
// has died.
type DiedError struct {
	// Reason is how the command died, as podseq run says it.
	Reason string
	// Here reports that the podseq run that answered is the main process of
	// the container this process runs in: a postStart hook in the sidecar's
	// own container, which is about to die with it. A wait there is over.
	// Elsewhere (the app's own gate on the sidecar) the sidecar may be
	// restarted, and the wait goes on.
	Here bool
}

// Error says that the sidecar died, and how.
func (e *DiedError) Error() string { return "the sidecar died: " + e.Reason }

// mainInstance is the instance id that the container's main process (PID 1
// here) would have as a podseq run, read once.
var mainInstance = sync.OnceValue(func() string { return tombstone.InstanceOf(1) })
