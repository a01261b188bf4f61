package probes

import (
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// The pace of a target that is not ready yet. With no --period, the period
// grows with the time already waited: it is the default period of the
// target's kind until that is less than 1/PeriodGrowth of the wait so far,
// and that share of the wait after, up to MaxGrownPeriod. A target that turns
// ready is then seen within max(5 ms, 1 % of the wait) on loopback, while the
// requests over a long wait grow with the logarithm of its length: about 100
// in the first half second, 280 over 3 s and 510 over 30 s, where a fixed 5 ms
// period makes 6,000.
const (
	// PeriodGrowth is the share of the time already waited that a default
	// period grows to: the wait so far divided by PeriodGrowth (1 %).
	PeriodGrowth = 100
	// MaxGrownPeriod is the longest a default period grows to: a local
	// target is never probed less often than a remote one.
	MaxGrownPeriod = DefaultRemotePeriod
)

// Requester is implemented by probers whose one attempt can send more than
// one request (an HTTP attempt follows redirects). Every request counts
// against the pace: the next attempt waits as many intervals as the latest
// one sent requests.
type Requester interface {
	// Requests is how many requests the latest attempt sent.
	Requests() int
}

// pace is how often one target that is not ready is probed.
type pace struct {
	// base is the period at the start of the wait.
	base time.Duration
	// ceiling is the longest the period grows to; base when it is fixed.
	ceiling time.Duration
}

// pace returns the pace of t: a fixed period when the schedule sets one,
// else the default of t's kind, growing with the wait.
func (s Schedule) pace(t *Target) pace {
	base := s.period(t)
	if s.Period > 0 {
		return pace{base: base, ceiling: base}
	}
	return pace{base: base, ceiling: max(base, MaxGrownPeriod)}
}

// period is the longest interval between the starts of two attempts once
// waited has passed since the target was first (or, in Monitor, last) not
// ready: never more than max(base, waited/PeriodGrowth), so that a target
// that turns ready after waited is seen within that.
func (p pace) period(waited time.Duration) time.Duration {
	return min(max(p.base, waited/PeriodGrowth), p.ceiling)
}

// interval is the time from the start of a failed attempt, waited into the
// wait, to the start of the next: the ramp (FirstInterval doubling with each
// failure, or what a 429/503 Retry-After in resp asks for) never past the
// period, once per request the attempt sent. ramp counts the failures before
// this one.
func (p pace) interval(waited time.Duration, ramp, requests int, resp *http.Response) time.Duration {
	per := p.period(waited)
	next := min(retryablehttp.DefaultBackoff(FirstInterval, per, ramp, resp), per)
	n := time.Duration(max(requests, 1))
	if next > maxDuration/n {
		return maxDuration
	}
	return next * n
}

// maxDuration is the longest time.Duration.
const maxDuration = time.Duration(1<<63 - 1)

// requests is how many requests the latest attempt of p sent: one unless p
// says otherwise.
func requests(p Prober) int {
	if r, ok := p.(Requester); ok {
		return max(r.Requests(), 1)
	}
	return 1
}
