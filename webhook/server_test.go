package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// servedSerial opens a new TLS connection and returns the serial of the
// certificate the server presents.
func servedSerial(t *testing.T, ts *testServer) string {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ts.ca.Cert)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(ts.url, "https://"), &tls.Config{RootCAs: pool, ServerName: testNames[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func serialOf(t *testing.T, p PEM) string {
	t.Helper()
	b, _ := pem.Decode(p.Cert)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

// TestCertificateRotation: new files in the directory are served from the
// next handshake after the check interval, with no restart; a pair that
// does not match leaves the previous certificate in service; reviews go on
// throughout.
func TestCertificateRotation(t *testing.T) {
	ts := startServer(t, Config{CertCheck: 50 * time.Millisecond})
	first := servedSerial(t, ts)
	next := writeServing(t, ts.dir, ts.ca)
	deadline := time.Now().Add(5 * time.Second)
	for servedSerial(t, ts) != serialOf(t, next) {
		if time.Now().After(deadline) {
			t.Fatalf("still serving %s, 5 s after the files changed", first)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A key of another certificate: the loaded one stays.
	other, err := MakeServing(ts.ca, testNames, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts.dir, KeyFile), other.Key, 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := servedSerial(t, ts); got != serialOf(t, next) {
		t.Errorf("a mismatched pair: serving %s, want %s kept", got, serialOf(t, next))
	}
	if r := ts.mutate(t, PathMutate, "after-rotation", webPod); len(r.Patch) == 0 {
		t.Error("no patch after the rotation")
	}
}

func TestNewWithoutCertificate(t *testing.T) {
	_, err := New(Config{CertDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "load the certificate") || !strings.Contains(err.Error(), "tls.crt") {
		t.Errorf("got %v", err)
	}
}

// TestDrain: once Serve's context ends, /readyz answers 503 while reviews
// are still served; a review in flight when the listener closes gets its
// answer; Serve returns nil.
func TestDrain(t *testing.T) {
	dir := t.TempDir()
	ca := writeCerts(t, dir)
	s, err := New(Config{CertDir: dir, ShutdownDelay: 500 * time.Millisecond, ShutdownTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	client := trustingClient(t, ca)
	url := "https://" + ln.Addr().String()

	// A review whose body is still coming when the shutdown starts.
	pr, pw := io.Pipe()
	type answer struct {
		code int
		body string
		err  error
	}
	inflight := make(chan answer, 1)
	go func() {
		resp, err := client.Post(url+PathMutate, "application/json", pr)
		if err != nil {
			inflight <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- answer{code: resp.StatusCode, body: string(b)}
	}()
	body := reviewOf("in-flight", webPod)
	if _, err := pw.Write(body[:100]); err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(400 * time.Millisecond)
	for !s.isDraining() {
		if time.Now().After(deadline) {
			t.Fatal("not draining")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := client.Get(url + PathReadyz)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining: %d", resp.StatusCode)
	}
	time.Sleep(time.Second) // past the delay: the listener is closed
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("the listener still accepts after the delay")
	}
	if _, err := pw.Write(body[100:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	a := <-inflight
	if a.err != nil || a.code != 200 || !strings.Contains(a.body, `"uid":"in-flight"`) {
		t.Errorf("the review in flight: %d %q %v", a.code, a.body, a.err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// isDraining reports whether Serve is shutting down.
func (s *Server) isDraining() bool { return s.draining.Load() }
