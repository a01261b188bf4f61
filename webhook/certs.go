package webhook

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// Lifetimes of the certificates MakeCA and MakeServing make.
const (
	// CAValidity: the CA signs every serving certificate; its bundle is in
	// the webhook configuration.
	CAValidity = 10 * 365 * 24 * time.Hour
	// ServingValidity: the webhook's certificate.
	ServingValidity = 365 * 24 * time.Hour
)

// PEM is a certificate and its private key, PEM-encoded.
type PEM struct {
	Cert, Key []byte
}

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// MakeCA makes a self-signed CA (ECDSA P-256) valid from now.
func MakeCA(commonName string, now time.Time) (PEM, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PEM{}, err
	}
	serial, err := newSerial()
	if err != nil {
		return PEM{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return PEM{}, err
	}
	return encodePEM(der, key)
}

// MakeServing makes a serving certificate for dnsNames signed by ca, valid
// from now for validity.
func MakeServing(ca PEM, dnsNames []string, now time.Time, validity time.Duration) (PEM, error) {
	caCert, caKey, err := parsePEM(ca)
	if err != nil {
		return PEM{}, fmt.Errorf("the CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PEM{}, err
	}
	serial, err := newSerial()
	if err != nil {
		return PEM{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: dnsNames[0]},
		DNSNames:     dnsNames,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return PEM{}, err
	}
	return encodePEM(der, key)
}

func encodePEM(der []byte, key *ecdsa.PrivateKey) (PEM, error) {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return PEM{}, err
	}
	return PEM{
		Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
	}, nil
}

func parsePEM(p PEM) (*x509.Certificate, any, error) {
	cb, _ := pem.Decode(p.Cert)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	kb, _ := pem.Decode(p.Key)
	if kb == nil {
		return nil, nil, errors.New("no PEM key")
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		k, err2 := x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err2 != nil {
			return nil, nil, err
		}
		return cert, k, nil
	}
	return cert, key, nil
}

// servingNeedsRenewal says why serving must be made again ("" if not): it
// does not parse, is not signed by ca, lacks one of dnsNames, or expires
// within renewBefore.
func servingNeedsRenewal(serving, ca PEM, dnsNames []string, now time.Time, renewBefore time.Duration) string {
	cert, _, err := parsePEM(serving)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	caCert, _, err := parsePEM(ca)
	if err != nil {
		return "the CA is unreadable: " + err.Error()
	}
	if err := cert.CheckSignatureFrom(caCert); err != nil {
		return "not signed by the CA"
	}
	for _, n := range dnsNames {
		if !slices.Contains(cert.DNSNames, n) {
			return "not valid for " + n
		}
	}
	if now.Add(renewBefore).After(cert.NotAfter) {
		return "expires at " + cert.NotAfter.UTC().Format(time.RFC3339)
	}
	return ""
}

// ServiceNames are the DNS names of a Service, as the API server calls a
// webhook behind it.
func ServiceNames(service, namespace string) []string {
	return []string{service + "." + namespace + ".svc", service + "." + namespace + ".svc.cluster.local", service + "." + namespace, service}
}
