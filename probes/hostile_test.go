package probes

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Hostile targets: whatever a target does, a wait ends by its deadline (plus a
// margin that only detects a hang) and says what went wrong.

// hostileDeadline is the overall deadline of the hostile waits.
const hostileDeadline = 1500 * time.Millisecond

// silentListener accepts connections and never writes a byte.
func silentListener(t *testing.T) string {
	t.Helper()
	l := localListener(t)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// resettingListener accepts connections and resets them at once (SO_LINGER 0).
func resettingListener(t *testing.T) string {
	t.Helper()
	l := localListener(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetLinger(0)
			// Wait for the request, so that the reset hits a read.
			c.SetReadDeadline(time.Now().Add(time.Second))
			c.Read(make([]byte, 1))
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

func TestHostileHTTP(t *testing.T) {
	t.Parallel()
	silent := silentListener(t)
	reset := resettingListener(t)
	cert, _ := selfSigned(t)
	badCert := tlsServer(t, cert)
	var redirects atomic.Int32
	url := serveStop(t, func(stop <-chan struct{}) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/trickle": // headers at once, then one byte every 20ms forever
				w.WriteHeader(http.StatusOK)
				for {
					if _, err := w.Write([]byte("x")); err != nil {
						return
					}
					w.(http.Flusher).Flush()
					select {
					case <-stop:
						return
					case <-r.Context().Done():
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			case "/redirect": // to itself, forever
				redirects.Add(1)
				http.Redirect(w, r, "/redirect", http.StatusFound)
			case "/huge": // an endless body
				buf := []byte(strings.Repeat("z", 64<<10))
				for {
					if _, err := w.Write(buf); err != nil {
						return
					}
					select {
					case <-stop:
						return
					default:
					}
				}
			case "/slow-headers": // never answers the request
				select {
				case <-stop:
				case <-r.Context().Done():
				}
			}
		}
	})
	tests := []struct {
		name, target string
		opts         Options
		want         string
		// answers: the target answers each attempt in its own way, which
		// is what the case checks; the attempt timeout must not cut it
		// first, however slow a busy machine makes the attempt.
		answers bool
	}{
		{"accepts and never answers", "http://" + silent + "/", Options{}, "attempt timed out", false},
		{"handler never answers", url + "/slow-headers", Options{}, "attempt timed out", false},
		{"trickles its body", url + "/trickle", Options{}, "reading body: attempt timed out", false},
		{"redirects forever", url + "/redirect", Options{}, "stopped after 10 redirects", true},
		{"resets connections", "http://" + reset + "/", Options{}, "connection reset by peer", true},
		{"bad certificate", badCert + "/", Options{}, "certificate", true},
		{"huge body", url + "/huge", Options{BodyContains: "needle"}, `200 OK but body lacks "needle"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := mustParse(t, tt.target, tt.opts)
			// A short attempt timeout so that several attempts fit in
			// the deadline; the deadline must hold regardless.
			s := Schedule{AttemptTimeout: 300 * time.Millisecond}
			if tt.answers {
				s.AttemptTimeout = hostileDeadline
			}
			r, err := waitDeadline(t, hostileDeadline, s, tg)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait = %v, want the deadline", err)
			}
			wantPending(t, r, tt.target, tt.want)
			n := r.Targets[0].Attempts
			if n < 1 {
				t.Errorf("%d attempts, want at least 1", n)
			}
			if tt.name == "redirects forever" {
				// Each attempt stops at the 10th redirect (10 requests, as
				// net/http's default policy); the deadline may cut one
				// more attempt short, and no attempt timeout cuts any
				// other.
				if got := int(redirects.Load()); got < 10*n || got > 10*(n+1) {
					t.Errorf("%d attempts made %d requests, want 10 each", n, got)
				}
			}
		})
	}
}

// wantPending checks that a report's one pending target is name, with an
// error that matches the regular expression want, and an attempt count.
func wantPending(t *testing.T, r Report, name, want string) {
	t.Helper()
	p := r.Pending()
	if !strings.HasPrefix(p, name+": ") || !regexp.MustCompile(want).MatchString(p) || !regexp.MustCompile(` \(\d+ attempts?\)$`).MatchString(p) {
		t.Errorf("Pending() = %q, want %q: ...%s... (N attempts)", p, name, want)
	}
}

// The deadline holds even when one attempt may last longer than the whole
// wait.
func TestHostileAttemptLongerThanDeadline(t *testing.T) {
	t.Parallel()
	silent := silentListener(t)
	tg := mustParse(t, "http://"+silent+"/", Options{})
	r, err := waitDeadline(t, 500*time.Millisecond, Schedule{AttemptTimeout: time.Minute}, tg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the deadline", err)
	}
	if got, want := r.Pending(), "http://"+silent+"/: no attempt finished before the deadline (0 attempts)"; got != want {
		t.Errorf("Pending() = %q, want %q", got, want)
	}
}

func TestHostileGRPC(t *testing.T) {
	t.Parallel()
	silent := silentListener(t)
	reset := resettingListener(t)
	cert, _ := selfSigned(t)
	badCert := h2Server(t, cert)
	tests := []struct {
		name, target, want string
		answers            bool // as in TestHostileHTTP
	}{
		{"accepts and never answers", "grpc://" + silent, "attempt timed out", false},
		// The HTTP/2 transport reports a reset during its preface as
		// "client conn could not be established".
		{"resets connections", "grpc://" + reset, "connection reset by peer|could not be established", true},
		{"bad certificate", "grpcs://" + strings.TrimPrefix(badCert, "https://"), "certificate", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := mustParse(t, tt.target, Options{})
			s := Schedule{AttemptTimeout: 300 * time.Millisecond}
			if tt.answers {
				s.AttemptTimeout = hostileDeadline
			}
			r, err := waitDeadline(t, hostileDeadline, s, tg)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait = %v, want the deadline", err)
			}
			wantPending(t, r, tt.target, tt.want)
		})
	}
}

func TestHostileTCPAndExec(t *testing.T) {
	t.Parallel()
	refused := refusedAddr(t)
	tcp := mustParse(t, "tcp://"+refused, Options{})
	hang, err := NewExec(helperCommand("hang"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := waitDeadline(t, hostileDeadline, Schedule{AttemptTimeout: 300 * time.Millisecond}, tcp, hang)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the deadline", err)
	}
	p := r.Pending()
	wantErr(t, errors.New(p), "tcp://"+refused+": connection refused (", hang.Name+": attempt timed out after 300ms (command killed) (")
}

// A server that turns ready later releases the wait soon after, without the
// deadline.
func TestReadyLater(t *testing.T) {
	t.Parallel()
	readyAt := time.Now().Add(300 * time.Millisecond)
	var after atomic.Int64 // nanoseconds from readyAt to the first 200
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if time.Now().Before(readyAt) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		after.CompareAndSwap(0, int64(time.Since(readyAt)))
	})
	tg := mustParse(t, url+"/", Options{})
	start := time.Now()
	r, err := waitDeadline(t, 30*time.Second, Schedule{}, tg)
	if err != nil {
		t.Fatalf("Wait: %v (%s)", err, r.Pending())
	}
	if time.Now().Before(readyAt) {
		t.Fatal("Wait returned before the target was ready")
	}
	if !r.Targets[0].Ready || r.Targets[0].Attempts < 2 || r.Targets[0].LastErr == nil {
		t.Errorf("status %+v, want ready after several attempts", r.Targets[0])
	}
	if r.Pending() != "" {
		t.Errorf("Pending() = %q on a ready report", r.Pending())
	}
	t.Logf("released %s after the target turned ready, %s in all", time.Duration(after.Load()), time.Since(start))
}

// h2Server serves 200 over TLS with cert, and offers HTTP/2 as gRPC needs.
func h2Server(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = quietLog()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}
