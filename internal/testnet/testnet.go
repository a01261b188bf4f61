// Package testnet holds loopback helpers for the tests of several packages.
package testnet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// Refused returns a loopback address that refuses connections: a socket
// bound to it that never listens, held until the test ends, so that no other
// test can take its port meanwhile.
func Refused(t testing.TB) string {
	t.Helper()
	return boundLoopback(t, false)
}

// Reserve returns a loopback address for a server that a test's child
// process will start later. Picking a free port by listening and closing
// races with every other test that listens meanwhile: another listener can
// take the port, and the probe under test then talks to the wrong server.
// Reserve instead holds a socket bound to the port with SO_REUSEPORT and
// without SO_REUSEADDR until the test ends: no other socket can bind the port,
// except one bound by Listen (SO_REUSEPORT, same user), and connections are
// refused until that one listens.
func Reserve(t testing.TB) string {
	t.Helper()
	return boundLoopback(t, true)
}

// boundLoopback binds a TCP socket to a free port of 127.0.0.1, with
// SO_REUSEPORT if reusePort, never listens on it, and closes it when the
// test ends. It returns the socket's address.
func boundLoopback(t testing.TB, reusePort bool) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if reusePort {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, soReusePort, 1); err != nil {
			t.Fatalf("SO_REUSEPORT: %v", err)
		}
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

// Listen listens on an address from Reserve (or any other), with
// SO_REUSEPORT so that it may share the reserved port.
func Listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp", addr)
}

// soReusePort is SO_REUSEPORT from <asm-generic/socket.h>, which the
// syscall package does not export on every architecture.
const soReusePort = 0xf

// ServeAfter is the body of a test's child process that stands in for a
// server turning ready: it waits delay (a time.Duration string), then
// answers every request on addr (from Reserve) with 200 "ok", until SIGTERM.
// It returns the process's exit code: 0 after SIGTERM, 3 if it cannot listen.
func ServeAfter(delay, addr string) int {
	d, _ := time.ParseDuration(delay)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return 0
	}
	l, err := Listen(addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "server: %v\n", err)
		return 3
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})}
	go func() { _ = srv.Serve(l) }()
	<-ctx.Done()
	_ = srv.Close()
	return 0
}
