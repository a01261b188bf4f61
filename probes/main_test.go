package probes

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/podseq/podseq/internal/testnet"
)

// helperArg is argv[1] of the test binary when it is re-executed as the
// command of an exec probe: `probes.test podseq-probes-helper NAME ARGS...`.
const helperArg = "podseq-probes-helper"

// TestMain dispatches to a helper when the test binary runs as an exec probe's
// command, and otherwise runs the tests and checks that none leaks a goroutine.
func TestMain(m *testing.M) {
	if len(os.Args) >= 3 && os.Args[1] == helperArg {
		os.Exit(runHelper(os.Args[2], os.Args[3:]))
	}
	// A race-enabled helper sleeps 1s before it exits 0 (the race
	// runtime's atexit_sleep_ms), which would look like a slow command.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	goleak.VerifyTestMain(m)
}

// runHelper is the body of a re-executed helper; it returns the exit code.
func runHelper(name string, args []string) int {
	switch name {
	case "exit": // exit with the code in args[0]
		n, _ := strconv.Atoi(args[0])
		return n
	case "fail-loud": // print args[0] lines of output, then "LAST LINE", exit 3
		n, _ := strconv.Atoi(args[0])
		w := bufio.NewWriter(os.Stdout)
		for i := range n {
			fmt.Fprintf(w, "noise line %d\n", i)
		}
		fmt.Fprintln(w, "LAST LINE")
		w.Flush()
		fmt.Fprintln(os.Stderr, "on stderr")
		return 3
	case "hang": // sleep far longer than any attempt
		time.Sleep(time.Hour)
		return 0
	case "fork-and-hang":
		// Start a grandchild that inherits stdout and hangs, write
		// "CHILDPID GRANDCHILDPID" to the file args[0], then hang too.
		gc := exec.Command(os.Args[0], helperArg, "hang")
		gc.Stdout, gc.Stderr = os.Stdout, os.Stderr
		if err := gc.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 99
		}
		tmp := args[0] + ".tmp"
		if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d", os.Getpid(), gc.Process.Pid), 0o600); err != nil {
			return 98
		}
		if err := os.Rename(tmp, args[0]); err != nil {
			return 97
		}
		time.Sleep(time.Hour)
		return 0
	case "third": // append a byte to the file args[0]; exit 0 from the third run on, 1 before
		f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			fmt.Println(err)
			return 2
		}
		_, werr := f.Write([]byte{'.'})
		fi, serr := f.Stat()
		if err := errors.Join(werr, serr, f.Close()); err != nil {
			fmt.Println(err)
			return 2
		}
		if fi.Size() < 3 {
			fmt.Println("not yet")
			return 1
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper", name)
	return 100
}

// helperCommand is the argv of an exec probe that runs helper name.
func helperCommand(name string, args ...string) []string {
	return append([]string{os.Args[0], helperArg, name}, args...)
}

// mustParse parses a target or fails the test.
func mustParse(t *testing.T, raw string, o Options) *Target {
	t.Helper()
	tg, err := Parse(raw, o)
	if err != nil {
		t.Fatalf("Parse(%q): %v", raw, err)
	}
	t.Cleanup(func() { closeIdle(tg) })
	return tg
}

// closeIdle closes a target's idle keep-alive connections, so that goleak
// sees no transport goroutine left behind.
func closeIdle(tg *Target) {
	switch p := tg.Prober.(type) {
	case *httpProber:
		p.client.HTTPClient.CloseIdleConnections()
	case *grpcProber:
		p.client.CloseIdleConnections()
	}
}

// check runs one Check with a timeout.
func check(t *testing.T, tg *Target, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	return tg.Prober.Check(ctx)
}

// wantErr fails unless err is not nil and contains every want.
func wantErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not contain %q", err, w)
		}
	}
}

// localListener listens on a free loopback TCP port.
func localListener(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// refusedAddr returns a loopback address on which nothing listens.
func refusedAddr(t *testing.T) string {
	t.Helper()
	return testnet.Refused(t)
}

// selfSigned makes a self-signed CA certificate for 127.0.0.1 and ::1, and
// writes its PEM to a file whose path it returns with the certificate.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "podseq test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
}

// waitDeadline runs Wait with an overall timeout and fails the test if Wait
// overstays it by more than a generous margin (it detects a hang, it does not
// measure speed).
func waitDeadline(t *testing.T, timeout time.Duration, s Schedule, targets ...*Target) (Report, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	start := time.Now()
	r, err := Wait(ctx, targets, s, nil, nil)
	if took := time.Since(start); took > timeout+2*time.Second {
		t.Errorf("Wait took %s with a %s deadline", took, timeout)
	}
	return r, err
}

// serve runs handler on a loopback HTTP server that is closed when the test
// ends, and returns its base URL.
func serve(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	return serveStop(t, func(<-chan struct{}) http.HandlerFunc { return handler })
}

// serveStop is serve for a handler that may hang: the handler mk returns
// selects on stop, which is closed before the server is.
func serveStop(t *testing.T, mk func(stop <-chan struct{}) http.HandlerFunc) string {
	t.Helper()
	l := localListener(t)
	stop := make(chan struct{})
	srv := &http.Server{Handler: mk(stop), ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog()}
	go srv.Serve(l) //nolint:errcheck // ends with ErrServerClosed
	t.Cleanup(func() {
		close(stop)
		srv.Close()
	})
	return "http://" + l.Addr().String()
}

// writeFile writes s to path.
func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

// quietLog discards a test server's error log (TLS handshake errors are the
// point of some tests).
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
