// Package loopback picks loopback ports for the demo, the benchmarks and the
// e2e harness.
package loopback

import "net"

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now. It
// is free only at this instant: whatever binds it later may find it taken, so
// callers that start a server on it should check that the server listened.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
