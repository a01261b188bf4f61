package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI is an API server on loopback with the Secrets of one namespace
// and one MutatingWebhookConfiguration, checking the bearer token.
type fakeAPI struct {
	mu      sync.Mutex
	secrets map[string]*secret
	config  map[string]any
	calls   []string
	version int
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	if r.Header.Get("Authorization") != "Bearer tok" {
		http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	const secrets = "/api/v1/namespaces/podseq-system/secrets"
	switch {
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, secrets+"/"):
		s := f.secrets[strings.TrimPrefix(r.URL.Path, secrets+"/")]
		if s == nil {
			http.Error(w, `{"message":"not found"}`, 404)
			return
		}
		_ = json.NewEncoder(w).Encode(s)
	case r.Method == "POST" && r.URL.Path == secrets, r.Method == "PUT" && strings.HasPrefix(r.URL.Path, secrets+"/"):
		var s secret
		if err := json.Unmarshal(body, &s); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		old := f.secrets[s.Metadata.Name]
		if r.Method == "POST" && old != nil {
			http.Error(w, `{"message":"already exists"}`, http.StatusConflict)
			return
		}
		if r.Method == "PUT" && (old == nil || old.Metadata.ResourceVersion != s.Metadata.ResourceVersion) {
			http.Error(w, `{"message":"conflict"}`, http.StatusConflict)
			return
		}
		f.version++
		s.Metadata.ResourceVersion = string(rune('a' + f.version))
		f.secrets[s.Metadata.Name] = &s
		_ = json.NewEncoder(w).Encode(s)
	case r.URL.Path == webhookConfigPath+"podseq" && r.Method == "GET":
		_ = json.NewEncoder(w).Encode(f.config)
	case r.URL.Path == webhookConfigPath+"podseq" && r.Method == "PATCH":
		if r.Header.Get("Content-Type") != "application/json-patch+json" {
			http.Error(w, "content type", http.StatusUnsupportedMediaType)
			return
		}
		doc, _ := json.Marshal(f.config)
		var tb testing.T
		out := applyPatch(&tb, doc, body)
		_ = json.Unmarshal(out, &f.config)
		w.Write(out)
	default:
		http.Error(w, `{"message":"not found"}`, 404)
	}
}

func TestEnsureCerts(t *testing.T) {
	api := &fakeAPI{secrets: map[string]*secret{}, config: map[string]any{"webhooks": []any{
		map[string]any{"name": "a.podseq.dev", "clientConfig": map[string]any{}},
		map[string]any{"name": "b.podseq.dev", "clientConfig": map[string]any{"caBundle": "b2xk"}},
	}}}
	srv := httptest.NewTLSServer(api)
	defer srv.Close()
	k := &Kube{Base: srv.URL, Client: srv.Client(), Token: func() (string, error) { return "tok", nil }}
	c := CertsConfig{Namespace: "podseq-system", Service: "podseq-webhook", CASecret: "ca", TLSSecret: "tls", WebhookConfig: "podseq", RenewBefore: 30 * 24 * time.Hour}
	now := time.Now()
	ctx := context.Background()
	if err := EnsureCerts(ctx, k, c, now); err != nil {
		t.Fatal(err)
	}
	ca := PEM{Cert: api.secrets["ca"].Data["tls.crt"], Key: api.secrets["ca"].Data["tls.key"]}
	serving := PEM{Cert: api.secrets["tls"].Data["tls.crt"], Key: api.secrets["tls"].Data["tls.key"]}
	if why := servingNeedsRenewal(serving, ca, ServiceNames("podseq-webhook", "podseq-system"), now, time.Hour); why != "" {
		t.Fatalf("the serving certificate: %s", why)
	}
	if string(api.secrets["tls"].Data["ca.crt"]) != string(ca.Cert) {
		t.Error("the serving Secret's ca.crt is not the CA")
	}
	for _, w := range api.config["webhooks"].([]any) {
		b := w.(map[string]any)["clientConfig"].(map[string]any)["caBundle"]
		if got, _ := b.(string); got == "" || got == "b2xk" {
			t.Errorf("caBundle of %v not set", w)
		}
	}
	// Again: nothing changes.
	api.calls = nil
	serial := serialOf(t, serving)
	if err := EnsureCerts(ctx, k, c, now); err != nil {
		t.Fatal(err)
	}
	for _, call := range api.calls {
		if !strings.HasPrefix(call, "GET ") {
			t.Errorf("a second run wrote: %v", api.calls)
			break
		}
	}
	// Renewal: asked, or near the end; the CA stays.
	c.Renew = true
	if err := EnsureCerts(ctx, k, c, now); err != nil {
		t.Fatal(err)
	}
	renewed := PEM{Cert: api.secrets["tls"].Data["tls.crt"]}
	if serialOf(t, renewed) == serial || string(api.secrets["ca"].Data["tls.crt"]) != string(ca.Cert) {
		t.Error("Renew: the serving certificate is the same, or the CA changed")
	}
	c.Renew = false
	serial = serialOf(t, renewed)
	if err := EnsureCerts(ctx, k, c, now.Add(ServingValidity-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if serialOf(t, PEM{Cert: api.secrets["tls"].Data["tls.crt"]}) == serial {
		t.Error("a certificate a day from its end was not renewed")
	}
	// A bad token: one error naming the call.
	k.Token = func() (string, error) { return "bad", nil }
	if err := EnsureCerts(ctx, k, c, now); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("bad token: %v", err)
	}
}
