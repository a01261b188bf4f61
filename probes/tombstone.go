package probes

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/podseq/podseq/tombstone"
)

// tombstoneHold is the longest one Check blocks on the graveyard. Each Check
// returns where the container stands at least this often, so that the reason
// a wait fails with is never older than this.
const tombstoneHold = time.Second

// tombstoneMargin is how long before the overall deadline a Check returns, so
// that the loop counts its reason rather than a cut-short attempt.
const tombstoneMargin = 20 * time.Millisecond

// tombstoneProber waits on a sibling container's tombstone in the graveyard:
// tombstone://NAME is ready when NAME's child is ready (its podseq run alive),
// tombstone://NAME?state=died when NAME's child has died. It is event-driven:
// Check blocks on the graveyard's inotify events (Holding), so a wait is
// released as soon as the tombstone is written.
type tombstoneProber struct {
	dir  string
	name string
	died bool
}

func newTombstone(u *url.URL, o *Options) (Prober, error) {
	switch {
	case u.User != nil:
		return nil, errors.New("user info is not used by this kind")
	case u.Fragment != "":
		return nil, errors.New("a fragment is not used by this kind")
	case u.Host == "" && u.Path != "":
		return nil, fmt.Errorf("no name: write tombstone://NAME, not tombstone://%s", u.Path)
	}
	if err := tombstone.ValidName(u.Host + u.Path); err != nil {
		return nil, err
	}
	p := &tombstoneProber{dir: o.Graveyard, name: u.Host}
	if p.dir == "" {
		p.dir = tombstone.DefaultGraveyard
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	for k, vs := range q {
		if k != "state" || len(vs) != 1 {
			return nil, fmt.Errorf("query %q: the only parameter is state=ready or state=died", u.RawQuery)
		}
		switch vs[0] {
		case "ready":
		case "died":
			p.died = true
		default:
			return nil, fmt.Errorf("state=%s: want state=ready or state=died", vs[0])
		}
	}
	// The graveyard is a volume that is there before the container starts:
	// missing, it is a mistake in the pod spec, not something to wait for.
	w, err := tombstone.Watch(p.dir, 0)
	if err != nil {
		return nil, &GraveyardError{Dir: p.dir, Err: err}
	}
	w.Close()
	return p, nil
}

// GraveyardError is a graveyard (Options.Graveyard) that tombstone://
// targets cannot read: missing, or not a directory. Parse returns it
// wrapped, and a command line adds the name of its flag.
type GraveyardError struct {
	Dir string
	Err error
}

func (e *GraveyardError) Error() string { return e.Err.Error() }

func (e *GraveyardError) Unwrap() error { return e.Err }

// Hold is negative: Check blocks until the state is reached or the deadline.
func (p *tombstoneProber) Hold() time.Duration { return -1 }

// Check blocks until the tombstone says what p waits for (nil), for at most
// tombstoneHold, and otherwise returns where the container stands. A cycle of
// birth deps through the awaited container is returned at once as a
// *tombstone.CycleError.
func (p *tombstoneProber) Check(ctx context.Context) error {
	hold := tombstoneHold
	if dl, ok := ctx.Deadline(); ok {
		hold = min(hold, time.Until(dl)-tombstoneMargin)
	}
	w, err := tombstone.Watch(p.dir, 0)
	if err != nil {
		return err
	}
	defer w.Close()
	hctx, cancel := context.WithTimeout(ctx, max(hold, 0))
	defer cancel()
	var result error
	_ = w.Until(hctx, func(get func(string) tombstone.Status) bool {
		s := get(p.name)
		if p.died {
			if s.IsDead() {
				result = nil
				return true
			}
			result = errors.New(aliveReason(s))
			return false
		}
		if s.IsReady() {
			result = nil
			return true
		}
		if s.Tombstone != nil && s.Tombstone.Born.IsZero() {
			if c := tombstone.FindCycle(get, p.name); c != nil {
				result = c
				return true
			}
		}
		result = errors.New(s.Reason())
		return false
	})
	return result
}

// aliveReason says why a container is not dead yet.
func aliveReason(s tombstone.Status) string {
	if s.Tombstone == nil {
		return s.Reason()
	}
	return "alive, " + s.Reason()
}
