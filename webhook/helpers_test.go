package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testNames are the serving certificate's names in tests.
var testNames = ServiceNames("podseq-webhook", "podseq-system")

// writeCerts makes a CA and a serving certificate into dir, and returns
// the CA.
func writeCerts(t testing.TB, dir string) PEM {
	t.Helper()
	ca, err := MakeCA("test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	writeServing(t, dir, ca)
	return ca
}

func writeServing(t testing.TB, dir string, ca PEM) PEM {
	t.Helper()
	srv, err := MakeServing(ca, testNames, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// As a Secret volume does: new files, then both names swapped.
	tmp := t.TempDir()
	for name, b := range map[string][]byte{CertFile: srv.Cert, KeyFile: srv.Key} {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

// testServer is a webhook serving on loopback with a client that trusts it.
type testServer struct {
	s      *Server
	url    string
	client *http.Client
	ca     PEM
	dir    string
	cancel context.CancelFunc
	done   chan error
}

func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	dir := t.TempDir()
	ca := writeCerts(t, dir)
	cfg.CertDir = dir
	if cfg.Inject.Image == "" {
		cfg.Inject.Image = "podseq:test"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{s: s, url: "https://" + ln.Addr().String(), ca: ca, dir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ctx, ln) }()
	ts.client = trustingClient(t, ca)
	t.Cleanup(func() {
		cancel()
		select {
		case <-ts.done:
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return 30 s after its context ended")
		}
	})
	return ts
}

func trustingClient(t testing.TB, ca PEM) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.Cert) {
		t.Fatal("CA")
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, ServerName: testNames[0]},
		MaxIdleConnsPerHost: 64,
	}}
}

// reviewOf wraps a pod into an AdmissionReview of its creation.
func reviewOf(uid string, pod string) []byte {
	return []byte(fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":%q,
"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},
"requestKind":{"group":"","version":"v1","kind":"Pod"},"namespace":"shop","operation":"CREATE",
"userInfo":{"username":"system:serviceaccount:kube-system:replicaset-controller"},"object":%s,"oldObject":null,"dryRun":false,
"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}}}`, uid, pod))
}

// post sends body to path and returns the status and the body.
func (ts *testServer) post(t testing.TB, path, contentType string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := ts.client.Post(ts.url+path, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// mutate reviews a pod and returns the answer.
func (ts *testServer) mutate(t testing.TB, path, uid, pod string) *AdmissionResponse {
	t.Helper()
	code, b := ts.post(t, path, "application/json", reviewOf(uid, pod))
	if code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, code, b)
	}
	var r AdmissionReview
	if err := json.Unmarshal(b, &r); err != nil || r.Response == nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	if r.APIVersion != ReviewAPIVersion || r.Kind != ReviewKind || r.Response.UID != uid {
		t.Fatalf("answer %s: want %s %s with uid %s", b, ReviewAPIVersion, ReviewKind, uid)
	}
	return r.Response
}

// applyPatch applies a JSONPatch (add, remove, replace, test) to a JSON
// document, as the API server does.
func applyPatch(t testing.TB, doc []byte, patch []byte) []byte {
	t.Helper()
	obj, err := decodeObject(doc)
	if err != nil {
		t.Fatal(err)
	}
	var ops []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(patch, &ops); err != nil {
		t.Fatalf("patch %s: %v", patch, err)
	}
	var root any = obj
	for _, op := range ops {
		var v any
		if op.Op != "remove" {
			dec := json.NewDecoder(bytes.NewReader(op.Value))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("op %+v: value: %v", op, err)
			}
		}
		keys := strings.Split(op.Path, "/")[1:]
		for i, k := range keys {
			keys[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(k)
		}
		root = applyOp(t, root, keys, op.Op, v)
	}
	out, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func applyOp(t testing.TB, at any, keys []string, op string, v any) any {
	t.Helper()
	if len(keys) == 0 {
		switch op {
		case "replace", "add":
			return v
		case "test":
			a, _ := json.Marshal(at)
			b, _ := json.Marshal(v)
			if !bytes.Equal(a, b) {
				t.Fatalf("test op failed: %s != %s", a, b)
			}
			return at
		}
		t.Fatalf("op %s at the root", op)
	}
	k := keys[0]
	switch n := at.(type) {
	case map[string]any:
		if len(keys) == 1 && op == "remove" {
			if _, ok := n[k]; !ok {
				t.Fatalf("remove %s: no such key", k)
			}
			delete(n, k)
			return n
		}
		if len(keys) == 1 && op == "replace" {
			if _, ok := n[k]; !ok {
				t.Fatalf("replace %s: no such key", k)
			}
		}
		child, ok := n[k]
		if !ok && len(keys) > 1 {
			t.Fatalf("path through a missing key %s", k)
		}
		n[k] = applyOp(t, child, keys[1:], op, v)
		return n
	case []any:
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= len(n) {
			t.Fatalf("index %s of %d items", k, len(n))
		}
		n[i] = applyOp(t, n[i], keys[1:], op, v)
		return n
	}
	t.Fatalf("path through a scalar at %s", k)
	return nil
}
