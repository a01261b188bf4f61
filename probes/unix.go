package probes

import (
	"context"
	"errors"
	"net"
	"net/url"
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
	return dialAndClose(ctx, &p.dialer, "unix", p.path)
}
