package proc

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPollGiveUp(t *testing.T) {
	t.Parallel()
	final := errors.New("restarted")
	calls := 0
	err := Poll(t.Context(), time.Minute, time.Millisecond, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return GiveUp(final)
	})
	if err != final || calls != 3 {
		t.Errorf("poll = %v after %d calls, want the given-up error itself after 3", err, calls)
	}
	err = Poll(t.Context(), 5*time.Millisecond, time.Millisecond, func() error { return errors.New("not yet") })
	if err == nil || !strings.HasPrefix(err.Error(), "after 5ms: not yet") {
		t.Errorf("poll = %v, want the last failure after the limit", err)
	}
}
