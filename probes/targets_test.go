package probes

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTCP(t *testing.T) {
	t.Parallel()
	l := localListener(t)
	tg := mustParse(t, "tcp://"+l.Addr().String(), Options{})
	if err := check(t, tg, 5*time.Second); err != nil {
		t.Errorf("Check on a listening port: %v", err)
	}
	tg = mustParse(t, "tcp://"+refusedAddr(t), Options{})
	if err := check(t, tg, 5*time.Second); err == nil || err.Error() != "connection refused" {
		t.Errorf("Check on a closed port = %v, want exactly \"connection refused\"", err)
	}
}

func TestTCPIPv6Loopback(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("this test needs ::1: %v", err)
	}
	defer l.Close()
	tg := mustParse(t, "tcp://"+l.Addr().String(), Options{})
	if !tg.Local {
		t.Error("[::1] is not Local")
	}
	if err := check(t, tg, 5*time.Second); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestUnix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.sock")
	tg := mustParse(t, "unix://"+path, Options{})
	wantErr(t, check(t, tg, 5*time.Second), "no such file or directory")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := check(t, tg, 5*time.Second); err != nil {
		t.Errorf("Check on a listening socket: %v", err)
	}
	// A socket file left behind by a dead server refuses connections.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	wantErr(t, check(t, tg, 5*time.Second), "connection refused")
	// A regular file is not a socket, and the error says so.
	plain := filepath.Join(dir, "plain")
	if err := writeFile(plain, ""); err != nil {
		t.Fatal(err)
	}
	wantErr(t, check(t, mustParse(t, "unix://"+plain, Options{}), 5*time.Second), "not a socket")
}

func TestFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "ready")
	tg := mustParse(t, "file://"+path, Options{})
	if err := check(t, tg, 5*time.Second); err == nil || err.Error() != "no such file" {
		t.Errorf("Check on a missing file = %v, want exactly \"no such file\"", err)
	}
	if err := writeFile(path, ""); err != nil {
		t.Fatal(err)
	}
	if err := check(t, tg, 5*time.Second); err != nil {
		t.Errorf("Check on an existing file: %v", err)
	}
	// A directory exists too.
	if err := check(t, mustParse(t, "file://"+dir, Options{}), 5*time.Second); err != nil {
		t.Errorf("Check on a directory: %v", err)
	}
	// A path through a regular file is an error other than "missing".
	wantErr(t, check(t, mustParse(t, "file://"+path+"/below", Options{}), 5*time.Second), "not a directory")
	// Percent-escapes are decoded.
	spaced := filepath.Join(dir, "a b")
	if err := writeFile(spaced, ""); err != nil {
		t.Fatal(err)
	}
	if err := check(t, mustParse(t, "file://"+filepath.ToSlash(dir)+"/a%20b", Options{}), 5*time.Second); err != nil {
		t.Errorf("Check on %q: %v", spaced, err)
	}
	if _, err := os.Stat(spaced); err != nil {
		t.Fatal(err)
	}
}
