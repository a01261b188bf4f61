package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Files of the certificate directory, as a kubernetes.io/tls Secret and
// cert-manager name them.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// certLoader serves the certificate of a directory and loads it again when
// its files change: a Secret volume swaps both at once, and a pair that
// does not load (a key of another certificate, half written) leaves the
// previous one in service until the next check.
type certLoader struct {
	dir   string
	every time.Duration
	log   *slog.Logger
	m     *metrics

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // the files' identity when cert was loaded
	checked time.Time
}

func newCertLoader(dir string, every time.Duration, log *slog.Logger, m *metrics) (*certLoader, error) {
	c := &certLoader{dir: dir, every: every, log: log, m: m}
	stamp, err := c.stampFiles()
	if err == nil {
		err = c.load(stamp)
	}
	if err != nil {
		return nil, fmt.Errorf("load the certificate: %w", err)
	}
	c.checked = time.Now()
	return c, nil
}

// stampFiles identifies the files' contents: device, inode, size and time
// of each, the symbolic links of a Secret volume followed.
func (c *certLoader) stampFiles() (string, error) {
	var stamp string
	for _, f := range []string{CertFile, KeyFile} {
		fi, err := os.Stat(filepath.Join(c.dir, f))
		if err != nil {
			return "", err
		}
		dev, ino := fileID(fi)
		stamp += fmt.Sprintf("%d:%d:%d:%d;", dev, ino, fi.Size(), fi.ModTime().UnixNano())
	}
	return stamp, nil
}

func (c *certLoader) load(stamp string) error {
	cert, err := tls.LoadX509KeyPair(filepath.Join(c.dir, CertFile), filepath.Join(c.dir, KeyFile))
	c.m.certLoads[err == nil].Inc()
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return err
	}
	cert.Leaf = leaf
	c.cert, c.stamp = &cert, stamp
	c.m.certExpiry.Set(float64(leaf.NotAfter.Unix()))
	c.log.Info("serving certificate loaded", "dir", c.dir, "serial", leaf.SerialNumber.String(), "notAfter", leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// get is tls.Config.GetCertificate: the current certificate, checked
// again when the last check is older than every.
func (c *certLoader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= c.every {
		c.checked = now
		stamp, err := c.stampFiles()
		switch {
		case err != nil:
			c.log.Warn("certificate files unreadable: serving the loaded one", "dir", c.dir, "err", err)
		case stamp != c.stamp:
			if err := c.load(stamp); err != nil {
				c.log.Warn("certificate files changed but do not load: serving the loaded one", "dir", c.dir, "err", err)
			}
		}
	}
	return c.cert, nil
}
