package testnet

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

func TestRefused(t *testing.T) {
	addr := Refused(t)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("dial %s: connected, want refused", addr)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
}

func TestReserve(t *testing.T) {
	addr := Reserve(t)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("dial %s before Listen: connected, want refused", addr)
	}
	// An ordinary listener (as every other test opens) cannot take the port.
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Fatalf("net.Listen took the reserved %s", addr)
	} else if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("net.Listen %s: %v, want address in use", addr, err)
	}
	l, err := Listen(addr)
	if err != nil {
		t.Fatalf("Listen on the reserved %s: %v", addr, err)
	}
	defer l.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s after Listen: %v", addr, err)
	}
	c.Close()
	if err := <-accepted; err != nil {
		t.Fatalf("accept: %v", err)
	}
}
