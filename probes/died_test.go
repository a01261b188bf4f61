package probes

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/podseq/podseq/tombstone"
)

// TestDiedEndpoint: a podseq run endpoint that says its command died gives a
// *DiedError, Here only when the podseq run that answered is this
// container's main process; a plain endpoint's header means nothing.
func TestDiedEndpoint(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		hold, instance string
		want           *DiedError
	}{
		"this container's":    {"5m0s", tombstone.InstanceOf(1), &DiedError{Reason: "command exited with code 3", Here: true}},
		"another container's": {"5m0s", "0badc0de-1-4242", &DiedError{Reason: "command exited with code 3"}},
		"no instance":         {"5m0s", "", &DiedError{Reason: "command exited with code 3"}},
		"not podseq run":      {"", tombstone.InstanceOf(1), nil},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.hold != "" {
					w.Header().Set(HoldHeader, tc.hold)
				}
				if tc.instance != "" {
					w.Header().Set(InstanceHeader, tc.instance)
				}
				w.Header().Set(DiedHeader, "command exited with code 3")
				http.Error(w, "not ready: command exited with code 3", http.StatusServiceUnavailable)
			}))
			defer srv.Close()
			tg := mustParse(t, srv.URL+"/ready", Options{})
			err := tg.Prober.Check(context.Background())
			var de *DiedError
			switch {
			case tc.want == nil && errors.As(err, &de):
				t.Errorf("Check = %v, want a plain 503", err)
			case tc.want == nil:
			case !errors.As(err, &de):
				t.Errorf("Check = %v, want a DiedError", err)
			case *de != *tc.want:
				t.Errorf("Check = %+v, want %+v", *de, *tc.want)
			case de.Error() != "the sidecar died: command exited with code 3":
				t.Errorf("message %q", de.Error())
			}
		})
	}
}
