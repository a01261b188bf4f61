package probes

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// AdminPort is the port of podseq run's admin server unless its --listen
// says otherwise, and the first port podseq inject gives one: uncommon
// enough not to clash with an application port in a pod's shared network
// namespace (Istio's admin ports are 15000-15090; 15780 is not one).
const AdminPort = 15780

// QuitPath is the admin endpoint of a podseq run that stops its command.
const QuitPath = "/quitquitquit"

// IsPodseqRun reports whether t is the admin endpoint of a podseq run: an
// http(s) target that answered with HoldHeader.
func (t *Target) IsPodseqRun() bool {
	p, ok := t.Prober.(*httpProber)
	return ok && p.Hold() > 0
}

// StopPodseqRun asks the podseq run whose admin endpoint t is to stop its
// command: POST /quitquitquit on t's host, with t's TLS settings.
// It fails for a target that is not one (see IsPodseqRun).
func StopPodseqRun(ctx context.Context, t *Target) error {
	p, ok := t.Prober.(*httpProber)
	if !ok || p.Hold() <= 0 {
		return fmt.Errorf("%s is not a podseq run admin endpoint", t.Name)
	}
	u, err := url.Parse(p.url)
	if err != nil {
		return err
	}
	u.Path, u.RawPath, u.RawQuery, u.User = QuitPath, "", "", nil
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "podseq")
	resp, err := p.client.HTTPClient.Do(req)
	if err != nil {
		return shortErr(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBodyBytes))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s", QuitPath, resp.Status)
	}
	return nil
}
