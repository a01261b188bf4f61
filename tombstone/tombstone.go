// Package tombstone records the life of a pod's containers in files of a
// shared directory, the graveyard (an emptyDir mounted in every container),
// and watches them. It is how podseq orders births and deaths across a pod's
// containers without any permission on the Kubernetes API.
//
// A tombstone is the file GRAVEYARD/NAME, written by `podseq run --name NAME`
// each time its child changes state: waiting (for its birth deps and the
// steps it runs after), born, ready, died, or skipped (a step it runs after
// failed, so its command never started). It is plain text, readable with cat:
//
//	podseq-tombstone v1
//	name: app
//	state: died
//	instance: 8f3c2a1e-1-71042
//	pid: 7
//	waiting: 2026-05-04T10:00:00.1Z
//	born: 2026-05-04T10:00:00.2Z
//	ready: 2026-05-04T10:00:01.5Z
//	died: 2026-05-04T10:03:00Z
//	exit-code: 0
//	birth-deps: db,cache
//	restarts: 0
//
// The first line names the format and its version. Every other line is
// "key: value"; readers of v1 ignore keys they do not know, so fields can be
// added without a new version. Steps added the state skipped and the keys
// after, skipped, failed-step, failed-exit-code, on-error and timed-out; a
// tombstone without them reads as before. Files are replaced atomically (a temporary
// file, fsync, rename), so a reader sees the old or the new content, never a
// mix. The writer also holds an flock on GRAVEYARD/.NAME.lock for as long as it
// lives, so a reader can tell a tombstone whose writer was killed (SIGKILL,
// OOM: it never wrote "died") from a living one: see Status.Gone.
package tombstone

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Header is the first line of every tombstone of this format version.
const Header = "podseq-tombstone v1"

// headerPrefix is what every version's first line starts with.
const headerPrefix = "podseq-tombstone "

// MaxSize is the largest tombstone Read accepts: a real one is a few hundred
// bytes.
const MaxSize = 4096

// DefaultGraveyard is the graveyard when none is given, as kubexit's.
const DefaultGraveyard = "/graveyard"

// State is where a container's child stands.
type State string

// The states, in the order a child goes through them. A child that turns not
// ready again goes back to Born.
const (
	// Waiting: podseq run started and waits for its birth deps; the child has
	// not started.
	Waiting State = "waiting"
	// Born: the child started and is not ready (or no longer ready).
	Born State = "born"
	// Ready: the child's readiness turned true.
	Ready State = "ready"
	// Died: the child exited (or podseq run gave up before starting it).
	Died State = "died"
	// Skipped: a step this one runs after (--after) did not succeed, so the
	// child never started. FailedStep says which step failed.
	Skipped State = "skipped"
)

func (s State) valid() bool {
	switch s {
	case Waiting, Born, Ready, Died, Skipped:
		return true
	}
	return false
}

// Final reports whether the state is the last one an instance writes: Died
// or Skipped.
func (s State) Final() bool { return s == Died || s == Skipped }

// OnErrorContinue is the value of the on-error field of a step whose failure
// does not skip the steps after it.
const OnErrorContinue = "continue"

// Tombstone is the content of one tombstone file.
type Tombstone struct {
	// Name is the container's name, the file's name in the graveyard.
	Name string
	// State is where the child stands.
	State State
	// Instance tells one run of the container apart from the previous ones
	// (after a restart): the node's boot id, podseq's pid and its start time.
	Instance string
	// PID is the child's process id, zero before it is born.
	PID int
	// Waiting, Born, Ready and Died are when the child last entered each
	// state; zero if it never did. Ready stays set when the child turns not
	// ready again (State goes back to Born).
	Waiting, Born, Ready, Died time.Time
	// ExitCode is the child's exit code (128+N for death by signal N),
	// podseq's own when the child never started (the code a skipped step
	// exits with), or 124 when the step ran past its time limit (TimedOut).
	// Meaningful only in a final state (Died, Skipped).
	ExitCode int
	// BirthDeps are the containers this one waits for before its child
	// starts. Readers follow them to detect a cycle.
	BirthDeps []string
	// Restarts counts the previous instances whose tombstone this one
	// replaced.
	Restarts int

	// After are the steps that must have exited 0 before this one's child
	// starts (podseq run --after). Readers follow them to detect a cycle.
	After []string
	// Skipped is when the step was skipped (State Skipped).
	Skipped time.Time
	// FailedStep is the step whose failure skipped this one (State
	// Skipped): the first one that failed, followed through the skipped
	// steps between. FailedExitCode is its exit code, -1 when it has none
	// (killed with its podseq run before it recorded one: SIGKILL, OOM).
	FailedStep     string
	FailedExitCode int
	// OnError is OnErrorContinue for a step whose failure does not skip the
	// steps after it; empty otherwise.
	OnError string
	// TimedOut is the time limit the child ran past before it was stopped
	// (State Died, ExitCode 124); zero if it did not.
	TimedOut time.Duration
	// InstanceLock says that the writer's liveness is the flock of a lock
	// file of its own instance, GRAVEYARD/.NAME.INSTANCE.lock, rather than
	// NAME's lock, which a successor takes before it writes its first
	// tombstone ("lock: instance" in the file).
	InstanceLock bool
}

// ValidName returns nil when name can name a tombstone: a container name, that
// is a DNS label (lowercase letters, digits and '-', starting and ending with a
// letter or digit, at most 63 characters). Anything else, notably a slash, ".",
// ".." or an empty name, would escape or confuse the graveyard.
func ValidName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case len(name) > 63:
		return fmt.Errorf("name %q is longer than 63 characters", name)
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("name %q contains a slash: use the container's name", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(name)-1:
		default:
			return fmt.Errorf("name %q: a container name has only lowercase letters, digits and inner '-'", name)
		}
	}
	return nil
}

// Marshal returns the tombstone in its file format. Times are written in UTC
// with nanoseconds; fields that do not apply are left out.
func (t *Tombstone) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(Header + "\n")
	line := func(k, v string) { b.WriteString(k + ": " + v + "\n") }
	tm := func(k string, v time.Time) {
		if !v.IsZero() {
			line(k, v.UTC().Format(time.RFC3339Nano))
		}
	}
	line("name", t.Name)
	line("state", string(t.State))
	if t.Instance != "" {
		line("instance", t.Instance)
	}
	if t.PID != 0 {
		line("pid", strconv.Itoa(t.PID))
	}
	tm("waiting", t.Waiting)
	tm("born", t.Born)
	tm("ready", t.Ready)
	tm("died", t.Died)
	tm("skipped", t.Skipped)
	if t.State.Final() {
		line("exit-code", strconv.Itoa(t.ExitCode))
	}
	if len(t.BirthDeps) > 0 {
		line("birth-deps", strings.Join(t.BirthDeps, ","))
	}
	line("restarts", strconv.Itoa(t.Restarts))
	// The fields of steps come after the ones every v1 reader knows.
	if len(t.After) > 0 {
		line("after", strings.Join(t.After, ","))
	}
	if t.OnError != "" {
		line("on-error", t.OnError)
	}
	if t.State == Skipped {
		line("failed-step", t.FailedStep)
		if t.FailedExitCode >= 0 {
			line("failed-exit-code", strconv.Itoa(t.FailedExitCode))
		}
	}
	if t.State == Died && t.TimedOut > 0 {
		line("timed-out", t.TimedOut.String())
	}
	if t.InstanceLock {
		line("lock", "instance")
	}
	return b.Bytes()
}

// Parse parses a tombstone. It rejects anything a writer of this format would
// not have written, including a file cut short, and says on which line.
func Parse(data []byte) (*Tombstone, error) {
	if len(data) == 0 {
		return nil, errors.New("empty file (a writer that is not podseq, or a copy cut short)")
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%d bytes, more than a tombstone's %d", len(data), MaxSize)
	}
	if data[len(data)-1] != '\n' {
		return nil, errors.New("cut short: the last line has no newline")
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	if lines[0] != Header {
		if v, ok := strings.CutPrefix(lines[0], headerPrefix); ok {
			return nil, fmt.Errorf("line 1: format %q, this podseq reads %q only", v, strings.TrimPrefix(Header, headerPrefix))
		}
		return nil, fmt.Errorf("line 1: %q is not %q: not a podseq tombstone", clip(lines[0]), Header)
	}
	t := &Tombstone{FailedExitCode: -1}
	seen := map[string]bool{}
	for i, l := range lines[1:] {
		n := i + 2
		k, v, ok := strings.Cut(l, ": ")
		if !ok || k == "" {
			return nil, fmt.Errorf("line %d: %q is not \"key: value\"", n, clip(l))
		}
		if seen[k] {
			return nil, fmt.Errorf("line %d: %s given twice", n, k)
		}
		seen[k] = true
		if err := t.set(k, v); err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", n, k, err)
		}
	}
	if err := t.check(seen); err != nil {
		return nil, err
	}
	return t, nil
}

// set sets the field of key k from its text v.
func (t *Tombstone) set(k, v string) error {
	if v == "" || strings.TrimSpace(v) != v {
		return fmt.Errorf("empty or padded value %q", clip(v))
	}
	var err error
	switch k {
	case "name":
		t.Name = v
		err = ValidName(v)
	case "state":
		t.State = State(v)
		if !t.State.valid() {
			err = fmt.Errorf("unknown state %q (want waiting, born, ready, died or skipped)", clip(v))
		}
	case "instance":
		t.Instance = v
		if strings.ContainsAny(v, " \t\r") {
			err = errors.New("contains white space")
		}
	case "pid":
		t.PID, err = atoi(v, 1, 1<<22)
	case "waiting":
		t.Waiting, err = parseTime(v)
	case "born":
		t.Born, err = parseTime(v)
	case "ready":
		t.Ready, err = parseTime(v)
	case "died":
		t.Died, err = parseTime(v)
	case "exit-code":
		t.ExitCode, err = atoi(v, 0, 255)
	case "birth-deps":
		t.BirthDeps, err = names(v)
	case "restarts":
		t.Restarts, err = atoi(v, 0, 1<<31-1)
	case "after":
		t.After, err = names(v)
	case "skipped":
		t.Skipped, err = parseTime(v)
	case "failed-step":
		t.FailedStep = v
		err = ValidName(v)
	case "failed-exit-code":
		t.FailedExitCode, err = atoi(v, 0, 255)
	case "on-error":
		t.OnError = v
		if v != OnErrorContinue {
			err = fmt.Errorf("%q: the only value is %s", clip(v), OnErrorContinue)
		}
	case "timed-out":
		t.TimedOut, err = time.ParseDuration(v)
		if err != nil || t.TimedOut <= 0 || t.TimedOut.String() != v {
			err = fmt.Errorf("%q is not a positive duration as Go writes it (5s, 1m30s)", clip(v))
		}
	case "lock":
		t.InstanceLock = v == "instance"
		if !t.InstanceLock {
			err = fmt.Errorf("%q: want instance", clip(v))
		}
	default:
		// A later minor version's field: ignored, as the format promises.
	}
	return err
}

// check rejects a tombstone whose fields contradict its state: a file cut
// short at a line boundary lands here.
func (t *Tombstone) check(seen map[string]bool) error {
	need := func(keys ...string) error {
		for _, k := range keys {
			if !seen[k] {
				return fmt.Errorf("no %s line (cut short?)", k)
			}
		}
		return nil
	}
	if err := need("name", "state", "restarts"); err != nil {
		return err
	}
	var err error
	switch t.State {
	case Waiting:
		err = need("waiting")
	case Born:
		err = need("born", "pid")
	case Ready:
		err = need("born", "ready", "pid")
	case Died:
		err = need("died", "exit-code")
	case Skipped:
		err = need("skipped", "exit-code", "failed-step")
	}
	// Fields that only some states have.
	for _, f := range []struct {
		key string
		ok  bool
	}{
		{"exit-code", t.State.Final()},
		{"failed-step", t.State == Skipped},
		{"failed-exit-code", t.State == Skipped},
		{"timed-out", t.State == Died},
	} {
		if err == nil && seen[f.key] && !f.ok {
			err = fmt.Errorf("%s given in state %s", f.key, t.State)
		}
	}
	if err == nil && t.InstanceLock && !safeInstance(t.Instance) {
		err = fmt.Errorf("lock: instance needs an instance of letters, digits and '-', not %q", clip(t.Instance))
	}
	return err
}

// names parses a comma-separated list of container names.
func names(v string) ([]string, error) {
	ns := strings.Split(v, ",")
	for _, n := range ns {
		if err := ValidName(n); err != nil {
			return nil, err
		}
	}
	return ns, nil
}

// safeInstance reports whether an instance id can be part of a file name.
func safeInstance(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func parseTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", clip(v))
	}
	return t.UTC(), nil
}

func atoi(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi || strconv.Itoa(n) != v {
		return 0, fmt.Errorf("%q is not a number from %d to %d", clip(v), lo, hi)
	}
	return n, nil
}

// clip shortens a quoted piece of a bad file for a one-line message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// ErrNoTombstone is wrapped by Read when the graveyard has no tombstone of
// that name (yet).
var ErrNoTombstone = errors.New("no tombstone yet")

// Read reads and parses the tombstone GRAVEYARD/NAME. A missing tombstone is
// an error wrapping ErrNoTombstone; a corrupt one is an error naming the file.
func Read(dir, name string) (*Tombstone, error) {
	path := Path(dir, name)
	f, err := openRegular(path, os.O_RDONLY)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoTombstone
	}
	if err != nil {
		return nil, fmt.Errorf("tombstone %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	buf := make([]byte, MaxSize+1)
	n, err := io.ReadFull(f, buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("tombstone %s: %w", path, unwrapPath(err))
	}
	t, err := Parse(buf[:n])
	if err != nil {
		return nil, fmt.Errorf("tombstone %s: %w", path, err)
	}
	if t.Name != name {
		return nil, fmt.Errorf("tombstone %s: names %q, not %q", path, t.Name, name)
	}
	return t, nil
}

// Path is the file of NAME's tombstone in the graveyard dir.
func Path(dir, name string) string { return dir + "/" + name }

// lockPath is the file whose flock only one live writer of NAME holds, and
// that tells readers of tombstones without "lock: instance" whether it lives.
func lockPath(dir, name string) string { return dir + "/." + name + ".lock" }

// instanceLockPath is the file whose flock tells that the instance of NAME's
// writer lives.
func instanceLockPath(dir, name, instance string) string {
	return dir + "/." + name + "." + instance + ".lock"
}

// unwrapPath drops the path of an *os.PathError that the message already has.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
