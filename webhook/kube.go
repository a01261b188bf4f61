package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Kube is the little of the Kubernetes API that the certificate maker
// needs: Secrets of one namespace and one MutatingWebhookConfiguration.
type Kube struct {
	// Base is the API server's URL.
	Base string
	// Client carries the TLS configuration trusting the API server.
	Client *http.Client
	// Token returns the bearer token ("" for none); read again each call,
	// as the kubelet rotates a projected token.
	Token func() (string, error)
}

// ServiceAccountDir is where the kubelet mounts a pod's API credentials.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// InCluster is the API as a pod sees it: KUBERNETES_SERVICE_HOST and
// _PORT, and the service account's token and CA under dir.
func InCluster(dir string) (*Kube, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("not in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("the API server's CA: %w (does the pod mount its service account token?)", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("the API server's CA %s: no PEM certificate", filepath.Join(dir, "ca.crt"))
	}
	return &Kube{
		Base:   "https://" + net.JoinHostPort(host, port),
		Client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}},
		Token: func() (string, error) {
			b, err := os.ReadFile(filepath.Join(dir, "token"))
			return strings.TrimSpace(string(b)), err
		},
	}, nil
}

// APIError is an answer of the API server other than success.
type APIError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Message)
}

// do sends a request and decodes a success into out (if not nil).
func (k *Kube) do(ctx context.Context, method, path, contentType string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.Base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if k.Token != nil {
		tok, err := k.Token()
		if err != nil {
			return fmt.Errorf("the service account token: %w", err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	resp, err := k.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var st Status
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &st) == nil && st.Message != "" {
			msg = st.Message
		}
		return &APIError{Method: method, Path: path, Status: resp.StatusCode, Message: msg}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
		}
	}
	return nil
}

// secret is the part of a Secret the certificate maker uses.
type secret struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   secretMeta        `json:"metadata"`
	Type       string            `json:"type,omitempty"`
	Data       map[string][]byte `json:"data"`
}

type secretMeta struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
}

func secretPath(ns, name string) string {
	p := "/api/v1/namespaces/" + url.PathEscape(ns) + "/secrets"
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// getSecret returns the Secret, or nil if there is none.
func (k *Kube) getSecret(ctx context.Context, ns, name string) (*secret, error) {
	var s secret
	err := k.do(ctx, http.MethodGet, secretPath(ns, name), "", nil, &s)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// putSecret creates the Secret, or replaces old (nil: none yet).
func (k *Kube) putSecret(ctx context.Context, old *secret, ns, name, typ string, data map[string][]byte) error {
	s := secret{APIVersion: "v1", Kind: "Secret", Type: typ, Data: data,
		Metadata: secretMeta{Name: name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/part-of": "podseq"}}}
	if old == nil {
		return k.do(ctx, http.MethodPost, secretPath(ns, ""), "application/json", s, nil)
	}
	s.Metadata.ResourceVersion = old.Metadata.ResourceVersion
	return k.do(ctx, http.MethodPut, secretPath(ns, name), "application/json", s, nil)
}

// webhookConfig is the part of a MutatingWebhookConfiguration read here.
type webhookConfig struct {
	Webhooks []struct {
		Name         string `json:"name"`
		ClientConfig struct {
			CABundle []byte `json:"caBundle,omitempty"`
		} `json:"clientConfig"`
	} `json:"webhooks"`
}

const webhookConfigPath = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/"

// setCABundle sets every webhook's caBundle of the configuration to ca,
// and reports how many it changed.
func (k *Kube) setCABundle(ctx context.Context, name string, ca []byte) (int, error) {
	var wc webhookConfig
	if err := k.do(ctx, http.MethodGet, webhookConfigPath+url.PathEscape(name), "", nil, &wc); err != nil {
		return 0, err
	}
	var ops []Op
	for i, w := range wc.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, ca) {
			// A test of the webhook's name first: the patch fails, rather
			// than set another webhook's bundle, if the list changed since.
			ops = append(ops, Op{Op: "test", Path: fmt.Sprintf("/webhooks/%d/name", i), Value: w.Name},
				Op{Op: "add", Path: fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), Value: ca})
		}
	}
	if len(ops) == 0 {
		return 0, nil
	}
	if err := k.do(ctx, http.MethodPatch, webhookConfigPath+url.PathEscape(name), "application/json-patch+json", ops, nil); err != nil {
		return 0, err
	}
	return len(ops) / 2, nil
}

// CertsConfig says where the certificates go.
type CertsConfig struct {
	// Namespace of the Secrets and the Service.
	Namespace string
	// Service is the webhook's Service: the serving certificate's names.
	Service string
	// CASecret holds the CA (tls.crt, tls.key); only this command reads it.
	CASecret string
	// TLSSecret holds the serving certificate (tls.crt, tls.key, ca.crt),
	// which the webhook mounts.
	TLSSecret string
	// WebhookConfig is the MutatingWebhookConfiguration whose caBundles
	// are set to the CA.
	WebhookConfig string
	// RenewBefore: a serving certificate expiring sooner is made again.
	RenewBefore time.Duration
	// Renew makes the serving certificate again whatever its state.
	Renew bool
	// Logger receives one line per change; nil discards them.
	Logger *slog.Logger
}

// EnsureCerts makes what is missing: the CA, a serving certificate signed
// by it (again when it nears its end, is for other names or Renew is set),
// and the CA bundle of every webhook of the configuration. Running it again
// changes nothing that is right.
func EnsureCerts(ctx context.Context, k *Kube, c CertsConfig, now time.Time) error {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	caSec, err := k.getSecret(ctx, c.Namespace, c.CASecret)
	if err != nil {
		return fmt.Errorf("read the CA: %w", err)
	}
	var ca PEM
	if caSec != nil {
		ca = PEM{Cert: caSec.Data["tls.crt"], Key: caSec.Data["tls.key"]}
		if _, _, err := parsePEM(ca); err != nil {
			return fmt.Errorf("the CA in Secret %s/%s: %w (delete the Secret to make a new CA)", c.Namespace, c.CASecret, err)
		}
	} else {
		if ca, err = MakeCA("podseq webhook CA", now); err != nil {
			return fmt.Errorf("make the CA: %w", err)
		}
		if err := k.putSecret(ctx, nil, c.Namespace, c.CASecret, "kubernetes.io/tls", map[string][]byte{"tls.crt": ca.Cert, "tls.key": ca.Key}); err != nil {
			return fmt.Errorf("store the CA: %w", err)
		}
		log.Info("made the CA", "secret", c.Namespace+"/"+c.CASecret)
	}
	names := ServiceNames(c.Service, c.Namespace)
	tlsSec, err := k.getSecret(ctx, c.Namespace, c.TLSSecret)
	if err != nil {
		return fmt.Errorf("read the serving certificate: %w", err)
	}
	why := "none yet"
	if tlsSec != nil {
		why = servingNeedsRenewal(PEM{Cert: tlsSec.Data["tls.crt"], Key: tlsSec.Data["tls.key"]}, ca, names, now, c.RenewBefore)
		if why == "" && c.Renew {
			why = "renewal asked"
		}
	}
	if why != "" {
		srv, err := MakeServing(ca, names, now, ServingValidity)
		if err != nil {
			return fmt.Errorf("make the serving certificate: %w", err)
		}
		if err := k.putSecret(ctx, tlsSec, c.Namespace, c.TLSSecret, "kubernetes.io/tls", map[string][]byte{"tls.crt": srv.Cert, "tls.key": srv.Key, "ca.crt": ca.Cert}); err != nil {
			return fmt.Errorf("store the serving certificate: %w", err)
		}
		log.Info("made the serving certificate", "secret", c.Namespace+"/"+c.TLSSecret, "why", why, "names", strings.Join(names, ","))
	}
	n, err := k.setCABundle(ctx, c.WebhookConfig, ca.Cert)
	if err != nil {
		return fmt.Errorf("set the CA bundle of MutatingWebhookConfiguration %s: %w", c.WebhookConfig, err)
	}
	if n > 0 {
		log.Info("set the CA bundle", "mutatingwebhookconfiguration", c.WebhookConfig, "webhooks", n)
	}
	return nil
}
