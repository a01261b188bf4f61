package probes

import (
	"context"
	"net"
	"net/url"
)

// tcpProber checks that a TCP connection to host:port is accepted.
type tcpProber struct {
	addr   string
	dialer net.Dialer
}

func newTCP(u *url.URL, _ *Options) (Prober, error) {
	if err := noExtras(u, true); err != nil {
		return nil, err
	}
	addr, err := hostPort(u, "")
	if err != nil {
		return nil, err
	}
	return &tcpProber{addr: addr, dialer: net.Dialer{KeepAlive: -1}}, nil
}

func (p *tcpProber) Check(ctx context.Context) error {
	return dialAndClose(ctx, &p.dialer, "tcp", p.addr)
}

// dialAndClose connects and hangs up at once: tcp and unix share it.
func dialAndClose(ctx context.Context, d *net.Dialer, network, addr string) error {
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return shortErr(err)
	}
	return c.Close()
}
