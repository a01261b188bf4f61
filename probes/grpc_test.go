package probes

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpcHealthServer runs grpc-go's own health server on loopback, over TLS when
// cert is not nil, and returns its address and health status table.
func grpcHealthServer(t *testing.T, cert *tls.Certificate, opts ...grpc.ServerOption) (string, *health.Server) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{*cert}})))
	}
	srv := grpc.NewServer(opts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l) //nolint:errcheck // ends when stopped
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return l.Addr().String(), hs
}

func TestGRPCHealth(t *testing.T) {
	t.Parallel()
	addr, hs := grpcHealthServer(t, nil)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("app.Ready", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("app.Down", healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus("app.Odd", healthpb.HealthCheckResponse_SERVICE_UNKNOWN)
	// A long service name makes a length varint of two bytes.
	long := "app." + strings.Repeat("x", 200)
	hs.SetServingStatus(long, healthpb.HealthCheckResponse_SERVING)
	tests := []struct {
		path, wantErr string
	}{
		{"", ""},
		{"/", ""},
		{"/app.Ready", ""},
		{"/" + long, ""},
		{"/app.Down", "NOT_SERVING"},
		{"/app.Odd", "SERVICE_UNKNOWN"},
		{"/app.Missing", "grpc status NotFound: unknown service"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			tg := mustParse(t, "grpc://"+addr+tt.path, Options{})
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

func TestGRPCTurnsServing(t *testing.T) {
	t.Parallel()
	// The service turns SERVING once it has answered 3 checks: the one
	// below and two of Wait's.
	var calls atomic.Int32
	var server atomic.Pointer[health.Server]
	count := grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if calls.Add(1) == 3 {
			server.Load().SetServingStatus("app", healthpb.HealthCheckResponse_SERVING)
		}
		return resp, err
	})
	addr, hs := grpcHealthServer(t, nil, count)
	server.Store(hs)
	hs.SetServingStatus("app", healthpb.HealthCheckResponse_NOT_SERVING)
	tg := mustParse(t, "grpc://"+addr+"/app", Options{})
	wantErr(t, check(t, tg, 5*time.Second), "NOT_SERVING")
	r, err := waitDeadline(t, 30*time.Second, Schedule{}, tg)
	if err != nil {
		t.Fatalf("Wait: %v (%s)", err, r.Pending())
	}
	if st := r.Targets[0]; st.Attempts != 3 || st.LastErr == nil || !strings.Contains(st.LastErr.Error(), "NOT_SERVING") {
		t.Errorf("status %+v, want 3 attempts, the last failure NOT_SERVING", st)
	}
	// Shutdown: every service turns NOT_SERVING.
	hs.Shutdown()
	wantErr(t, check(t, tg, 5*time.Second), "NOT_SERVING")
}

func TestGRPCS(t *testing.T) {
	t.Parallel()
	cert, caFile := selfSigned(t)
	_, otherCA := selfSigned(t)
	addr, hs := grpcHealthServer(t, &cert)
	hs.SetServingStatus("app", healthpb.HealthCheckResponse_SERVING)
	if err := check(t, mustParse(t, "grpcs://"+addr+"/app", Options{CAFile: caFile}), 5*time.Second); err != nil {
		t.Errorf("grpcs with --ca-file: %v", err)
	}
	if err := check(t, mustParse(t, "grpcs://"+addr, Options{InsecureSkipVerify: true}), 5*time.Second); err != nil {
		t.Errorf("grpcs with --insecure-skip-verify: %v", err)
	}
	wantErr(t, check(t, mustParse(t, "grpcs://"+addr, Options{}), 5*time.Second), "certificate")
	wantErr(t, check(t, mustParse(t, "grpcs://"+addr, Options{CAFile: otherCA}), 5*time.Second), "certificate")
	// grpc:// (cleartext) to a TLS server fails, and says something.
	if err := check(t, mustParse(t, "grpc://"+addr, Options{}), 2*time.Second); err == nil {
		t.Error("grpc:// (cleartext) to a TLS server succeeded")
	}
}

// A plain HTTP server is not a gRPC server.
func TestGRPCAgainstHTTP(t *testing.T) {
	t.Parallel()
	cert, caFile := selfSigned(t)
	url := h2Server(t, cert) // answers 200 with an empty body
	tg := mustParse(t, "grpcs://"+strings.TrimPrefix(url, "https://"), Options{CAFile: caFile})
	err := check(t, tg, 5*time.Second)
	if err == nil {
		t.Fatal("an HTTP server passed a gRPC health check")
	}
	t.Logf("grpcs:// to a plain HTTPS server: %v", err)
}

// An unknown field of wire type 1 (fixed64) or 5 (fixed32) is valid
// protobuf that every decoder skips, and so does parseHealthResponse
// (probes/grpc.go). It once rejected the response ("unexpected protobuf"), so
// a health server whose HealthCheckResponse grew such a field would never
// have been SERVING; FuzzParseHealthResponse found that in a second.
func TestParseHealthResponseUnknownFields(t *testing.T) {
	t.Parallel()
	for _, msg := range [][]byte{
		{0x08, 0x01, 0x11, 1, 2, 3, 4, 5, 6, 7, 8}, // SERVING, then field 2 fixed64
		{0x15, 1, 2, 3, 4, 0x08, 0x01},             // field 2 fixed32, then SERVING
	} {
		status, err := parseHealthResponse(frame(msg))
		if err != nil || status != 1 {
			t.Errorf("parseHealthResponse(%x) = %d, %v; want 1 (SERVING)", msg, status, err)
		}
	}
}

// grpc:// to an HTTP/1 server (its HTTP port, say) says that it is not a
// gRPC server, not "http2: frame too large"; grpcs:// to an HTTPS server
// without HTTP/2 likewise.
func TestGRPCAgainstHTTP1(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	tg := mustParse(t, "grpc://"+strings.TrimPrefix(srv.URL, "http://"), Options{})
	// The server answers 400 and closes: an attempt can also lose the race
	// and see only its own write fail ("broken pipe"). Most attempts read the
	// answer; one of 20 must.
	var seen []string
	for range 20 {
		err := check(t, tg, 5*time.Second)
		if err == nil {
			t.Fatal("an HTTP/1 server passed a gRPC health check")
		}
		if strings.Contains(err.Error(), "not a gRPC server: it does not speak HTTP/2, as an HTTP/1 server (is this its HTTP port?)") {
			seen = nil
			break
		}
		seen = append(seen, err.Error())
	}
	if seen != nil {
		t.Errorf("20 attempts, none said it is not a gRPC server: %q", seen)
	}

	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // it refuses h2 and would log each handshake
	tlsSrv.StartTLS()                                   // HTTP/1.1 only: EnableHTTP2 is false
	defer tlsSrv.Close()
	tg = mustParse(t, "grpcs://"+strings.TrimPrefix(tlsSrv.URL, "https://"), Options{InsecureSkipVerify: true})
	wantErr(t, check(t, tg, 5*time.Second), "not a gRPC server")
}
