package entrypoint

import (
	"slices"
	"testing"
	"time"
)

// TestApplySetsOnlyNeededHooks: Apply sets the hooks an Ordering needs and
// leaves the others nil, since a nil hook is a different run: no wait before
// the start, SIGTERM forwarded at once, no verdict.
func TestApplySetsOnlyNeededHooks(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		o    Ordering
		want []string
	}{
		"none":    {Ordering{}, nil},
		"name":    {Ordering{Name: "a"}, []string{"OnEvent", "Finish"}},
		"birth":   {Ordering{Birth: []string{"db"}, BirthTimeout: time.Second}, []string{"BeforeStart", "OnEvent"}},
		"after":   {Ordering{Name: "b", After: []string{"a"}}, []string{"BeforeStart", "Env", "OnEvent", "Finish"}},
		"death":   {Ordering{Death: []string{"app"}}, []string{"OnEvent", "Stop"}},
		"outlive": {Ordering{Outlive: []string{"app"}}, []string{"OnEvent", "BeforeForward"}},
	} {
		o := tc.o
		o.Graveyard = t.TempDir()
		var cfg Config
		if err := o.Apply(&cfg); err != nil {
			t.Fatalf("%s: Apply: %v", name, err)
		}
		var got []string
		for _, h := range []struct {
			name string
			set  bool
		}{
			{"BeforeStart", cfg.BeforeStart != nil}, {"Env", cfg.Env != nil}, {"OnEvent", cfg.OnEvent != nil},
			{"Stop", cfg.Stop != nil}, {"BeforeForward", cfg.BeforeForward != nil}, {"Finish", cfg.Finish != nil},
		} {
			if h.set {
				got = append(got, h.name)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: Apply set %v, want %v", name, got, tc.want)
		}
		if cfg.OnEvent != nil {
			cfg.OnEvent(Event{Kind: Died, Time: time.Now()}) // closes the tombstone
		}
	}
}
