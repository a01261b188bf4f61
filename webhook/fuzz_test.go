package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzReview: any body is answered with one of the documented statuses,
// never a panic or a hang; a 200 is an AdmissionReview with the request's
// uid, and its patch applies to the pod.
func FuzzReview(f *testing.F) {
	dir := f.TempDir()
	writeCerts(f, dir)
	s, err := New(Config{CertDir: dir, MaxBodyBytes: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Add(reviewOf("u", webPod))
	f.Add(reviewOf("u", strings.Replace(webPod, `:"proxy"`, `:"proxy,app"`, 1)))
	f.Add(reviewOf("u", strings.Replace(webPod, `"restartPolicy":"Always"`, `"restartPolicy":"Never"`, 1)))
	f.Add(reviewOf("u", `{"kind":"Pod","metadata":{"annotations":{"after.podseq.dev/a":"b","podseq.dev/mode":"native"}},"spec":{"containers":[{"name":"a"},{"name":"b","startupProbe":{"exec":{"command":["x"]}}}]}}`))
	f.Add(reviewOf("u", `{"kind":"Pod","metadata":{"annotations":{"podseq.dev/undo":"{"}}}`))
	f.Add(reviewOf("u", `[]`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","object":null}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, PathMutate, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 400, 413:
			if !strings.HasPrefix(rec.Body.String(), "podseq: ") || strings.Count(rec.Body.String(), "\n") != 1 {
				t.Fatalf("%d: not one line: %q", rec.Code, rec.Body.String())
			}
			return
		case 200:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		rv, err := DecodeReview(body)
		if err != nil {
			t.Fatalf("answered 200 a request it cannot decode: %v", err)
		}
		var out AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil || out.Response.UID != rv.Request.UID {
			t.Fatalf("answer %s: %v", rec.Body.String(), err)
		}
		if len(out.Response.Patch) > 0 {
			applyPatch(t, rv.Request.Object, out.Response.Patch)
		}
	})
}
