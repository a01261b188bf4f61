package entrypoint

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// podseq run shares its container's memory limit with its child. Under a
// burst of waiters its admin server must stay within a small share of it:
// the Go runtime is told the limit (a soft one, so that it collects harder
// before the kernel kills anything), the number of held long polls is
// capped by what the limit affords, and memory is given back to the system
// once a burst has drained.

// HeldPollBytes is what one held long poll costs the admin server, with
// margin: its goroutine's stack, the connection's buffers and its share of
// the runtime (measured by BenchmarkHeldPollsAtCap).
const HeldPollBytes = 16 << 10

// MinWaiters is the smallest cap on held long polls, however low the limit.
const MinWaiters = 64

// burstWaiters is how many held long polls make a burst: once they have all
// been answered, the memory they used is returned to the system.
const burstWaiters = 256

// MemoryFit is how podseq run fits the memory limit of its container.
type MemoryFit struct {
	// Limit is the container's memory limit in bytes, 0 when there is none.
	Limit int64
	// SoftLimit is the Go runtime's soft memory limit podseq set, 0 when it
	// left it alone (no limit, or GOMEMLIMIT given).
	SoftLimit int64
	// MaxWaiters caps the long polls held at once (Config.MaxWaiters).
	MaxWaiters int
}

// FitMemory reads the memory limit of the container podseq runs in (cgroup
// v2 memory.max, or v1 memory.limit_in_bytes) and, unless GOMEMLIMIT is
// set, gives 90% of it to the Go runtime as its soft memory limit. It
// returns what it found and the cap on held long polls that fits.
func FitMemory() MemoryFit { return fitMemory("/", os.Getenv) }

// fitMemory is FitMemory with the cgroup files read under root.
func fitMemory(root string, getenv func(string) string) MemoryFit {
	limit := containerMemoryLimit(root)
	fit := MemoryFit{Limit: limit, MaxWaiters: WaitersFor(limit)}
	if limit > 0 && getenv("GOMEMLIMIT") == "" {
		fit.SoftLimit = limit / 10 * 9
		debug.SetMemoryLimit(fit.SoftLimit)
	}
	return fit
}

// WaitersFor is the cap on held long polls under a memory limit of limit
// bytes (0: none): a quarter of the limit, at HeldPollBytes each, between
// MinWaiters and MaxWaiters. A 64 MiB limit allows 1,024.
func WaitersFor(limit int64) int {
	if limit <= 0 {
		return MaxWaiters
	}
	return int(min(max(limit/4/HeldPollBytes, MinWaiters), MaxWaiters))
}

// containerMemoryLimit returns the memory limit of this process's cgroup, in
// bytes, read from the files under root (/ but in tests); 0 when there is
// none or it cannot be read.
func containerMemoryLimit(root string) int64 {
	raw, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return 0
	}
	fsRoot := filepath.Join(root, "sys/fs/cgroup")
	var v1 string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		// hierarchy-ID:controllers:path; cgroup v2 is "0::path".
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			if n, ok := limitIn(fsRoot, parts[2], "memory.max"); ok {
				return n
			}
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				v1 = parts[2]
			}
		}
	}
	if v1 != "" {
		if n, ok := limitIn(filepath.Join(fsRoot, "memory"), v1, "memory.limit_in_bytes"); ok {
			return n
		}
	}
	return 0
}

// limitIn reads the limit file of cgroup path under the hierarchy mounted at
// mount, or at the mount's root (a container sees its own cgroup there). ok
// is false when neither file can be read.
func limitIn(mount, path, file string) (limit int64, ok bool) {
	for _, p := range []string{filepath.Join(mount, path, file), filepath.Join(mount, file)} {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(raw))
		n, err := strconv.ParseInt(s, 10, 64)
		if s == "max" || err != nil || n <= 0 || n >= 1<<60 { // v1 says "no limit" with a huge number
			return 0, true
		}
		return n, true
	}
	return 0, false
}

// hold counts one more held long poll, unless max are held already, and
// reports whether it did.
func (r *readiness) hold(max int) bool {
	n := r.waiters.Add(1)
	if n > int64(max) {
		r.waiters.Add(-1)
		return false
	}
	if n >= burstWaiters {
		r.burst.Store(true)
	}
	return true
}

// unhold counts one held long poll less. When the last one of a burst is
// answered, the memory the burst used (goroutine stacks, buffers) is given
// back to the system, a moment later: once the goroutines that held the polls
// are gone, and only if no long poll is held then (a collection while
// releasing waiters would delay them).
func (r *readiness) unhold() {
	if r.waiters.Add(-1) == 0 && r.burst.CompareAndSwap(true, false) {
		time.AfterFunc(freeAfter, func() {
			if r.waiters.Load() == 0 {
				// The first collection frees the dead goroutines' stacks,
				// the second returns them with the rest.
				debug.FreeOSMemory()
				debug.FreeOSMemory()
			}
		})
	}
}

// freeAfter is how long after a burst drained its memory is returned.
const freeAfter = 500 * time.Millisecond
