package probes

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHTTPStatus(t *testing.T) {
	t.Parallel()
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		var code int
		fmt.Sscan(strings.TrimPrefix(r.URL.Path, "/"), &code)
		w.WriteHeader(code)
	})
	teapot, err := ParseStatusSet("418,200-204")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		code    int
		status  StatusSet
		wantErr string // empty: success
	}{
		{200, StatusSet{}, ""},
		{204, StatusSet{}, ""},
		{399, StatusSet{}, ""},
		{400, StatusSet{}, "400 Bad Request"},
		{503, StatusSet{}, "503 Service Unavailable"},
		{500, StatusSet{}, "500 Internal Server Error"},
		{418, teapot, ""},
		{204, teapot, ""},
		{205, teapot, "205 Reset Content"},
		{302, teapot, "302 Found"}, // a redirect without Location is a response
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d in %s", tt.code, tt.status), func(t *testing.T) {
			t.Parallel()
			tg := mustParse(t, fmt.Sprintf("%s/%d", url, tt.code), Options{Status: tt.status})
			err := check(t, tg, 5*time.Second)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			wantErr(t, err, tt.wantErr)
		})
	}
}

func TestHTTPBody(t *testing.T) {
	t.Parallel()
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			fmt.Fprint(w, `{"status":"UP"}`)
		case "/late": // the needle just inside, then just outside, the first 10 KiB
			n := MaxBodyBytes - len("NEEDLE")
			if r.URL.Query().Has("outside") {
				n++
			}
			w.Write([]byte(strings.Repeat("a", n) + "NEEDLE" + strings.Repeat("b", 100)))
		}
	})
	tests := []struct {
		path    string
		opts    Options
		wantErr string
	}{
		{"/ok", Options{BodyContains: `"UP"`}, ""},
		{"/ok", Options{BodyContains: "DOWN"}, `200 OK but body lacks "DOWN"`},
		{"/ok", Options{BodyRegex: regexp.MustCompile(`"status":\s*"UP"`)}, ""},
		{"/ok", Options{BodyRegex: regexp.MustCompile(`^DOWN$`)}, "200 OK but body does not match /^DOWN$/"},
		{"/late", Options{BodyContains: "NEEDLE"}, ""},
		{"/late?outside", Options{BodyContains: "NEEDLE"}, "body lacks"},
		{"/late?outside", Options{BodyRegex: regexp.MustCompile("NEEDLE")}, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.wantErr, func(t *testing.T) {
			t.Parallel()
			tg := mustParse(t, url+tt.path, tt.opts)
			err := check(t, tg, 5*time.Second)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			wantErr(t, err, tt.wantErr)
		})
	}
}

func TestHTTPHeadersAndKeepAlive(t *testing.T) {
	t.Parallel()
	var conns, requests atomic.Int32
	var bad atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		switch {
		case r.Header.Get("Authorization") != "Bearer t0ken":
			bad.Store("Authorization: " + r.Header.Get("Authorization"))
		case strings.Join(r.Header.Values("X-Multi"), ",") != "a,b":
			bad.Store("X-Multi: " + strings.Join(r.Header.Values("X-Multi"), ","))
		case r.Host != "app.example":
			bad.Store("Host: " + r.Host)
		case r.Header.Get("User-Agent") != "podseq":
			bad.Store("User-Agent: " + r.Header.Get("User-Agent"))
		case r.Method != http.MethodGet:
			bad.Store("method " + r.Method)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	h := http.Header{}
	h.Set("Authorization", "Bearer t0ken")
	h.Add("X-Multi", "a")
	h.Add("X-Multi", "b")
	h.Set("Host", "app.example")
	tg := mustParse(t, srv.URL+"/ready", Options{Header: h})
	for range 20 {
		if err := check(t, tg, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if b := bad.Load(); b != nil {
		t.Fatalf("the server got a bad request: %s", b)
	}
	if requests.Load() != 20 || conns.Load() != 1 {
		t.Errorf("20 checks made %d requests on %d connections, want 20 on 1 (keep-alive)", requests.Load(), conns.Load())
	}
}

func TestHTTPConnectionRefused(t *testing.T) {
	t.Parallel()
	tg := mustParse(t, "http://"+refusedAddr(t)+"/ready", Options{})
	err := check(t, tg, 5*time.Second)
	if err == nil || err.Error() != "connection refused" {
		t.Fatalf("got %v, want exactly \"connection refused\"", err)
	}
}

// tlsServer serves 200 over TLS with cert.
func tlsServer(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = quietLog()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestHTTPS(t *testing.T) {
	t.Parallel()
	cert, caFile := selfSigned(t)
	url := tlsServer(t, cert)
	_, otherCA := selfSigned(t)

	if err := check(t, mustParse(t, url+"/", Options{CAFile: caFile}), 5*time.Second); err != nil {
		t.Errorf("--ca-file with the server's CA: %v", err)
	}
	if err := check(t, mustParse(t, url+"/", Options{InsecureSkipVerify: true}), 5*time.Second); err != nil {
		t.Errorf("--insecure-skip-verify: %v", err)
	}
	err := check(t, mustParse(t, url+"/", Options{}), 5*time.Second)
	wantErr(t, err, "certificate")
	err = check(t, mustParse(t, url+"/", Options{CAFile: otherCA}), 5*time.Second)
	wantErr(t, err, "certificate")
	// The name must match too: localhost is in the certificate, 127.0.0.2 is not.
	if err := check(t, mustParse(t, strings.Replace(url, "127.0.0.1", "localhost", 1), Options{CAFile: caFile}), 5*time.Second); err != nil {
		t.Errorf("https://localhost with the server's CA: %v", err)
	}
}

func TestHTTPSCAFileWithManyCerts(t *testing.T) {
	t.Parallel()
	cert, caFile := selfSigned(t)
	_, other := selfSigned(t)
	url := tlsServer(t, cert)
	a, _ := os.ReadFile(other)
	b, _ := os.ReadFile(caFile)
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	if err := writeFile(bundle, string(a)+"\n"+string(b)); err != nil {
		t.Fatal(err)
	}
	if blk, _ := pem.Decode(a); blk == nil {
		t.Fatal("bad test PEM")
	}
	if err := check(t, mustParse(t, url+"/", Options{CAFile: bundle}), 5*time.Second); err != nil {
		t.Errorf("a bundle holding the server's CA second: %v", err)
	}
}
