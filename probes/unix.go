package probes

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
)

// unixProber checks that a connection to a unix socket is accepted.
type unixProber struct {
	path   string
	dialer net.Dialer
}

func newUnix(u *url.URL, _ *Options) (Prober, error) {
	if err := noExtras(u, false); err != nil {
		return nil, err
	}
	if u.Host != "" {
		return nil, errors.New("unix sockets have no host: write unix:///absolute/path")
	}
	if u.Path == "" || u.Path == "/" {
		return nil, errors.New("missing socket path")
	}
	return &unixProber{path: u.Path}, nil
}

func (p *unixProber) Check(ctx context.Context) error {
	err := dialAndClose(ctx, &p.dialer, "unix", p.path)
	if err != nil {
		// connect(2) says "connection refused" for a file that is not a
		// socket: say what is really wrong.
		if fi, serr := os.Stat(p.path); serr == nil && fi.Mode()&os.ModeSocket == 0 {
			return errors.New("not a socket")
		}
	}
	return err
}
