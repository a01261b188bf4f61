package probes

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// grpcProber calls grpc.health.v1.Health/Check and wants SERVING.
//
// It speaks the few bytes of gRPC this needs over net/http's HTTP/2 (cleartext
// for grpc://, TLS for grpcs://) instead of linking grpc-go, which would add
// megabytes to a binary that is copied into every pod. The tests check it
// against grpc-go's own health server.
type grpcProber struct {
	url     string
	service string
	client  *http.Client
	req     []byte // the framed HealthCheckRequest, built once
}

// gRPC health serving status values (grpc/health/v1/health.proto).
var healthStatus = map[uint64]string{0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}

func newGRPC(u *url.URL, o *Options) (Prober, error) {
	if err := noExtras(u, false); err != nil {
		return nil, err
	}
	addr, err := hostPort(u, "")
	if err != nil {
		return nil, err
	}
	service := strings.Trim(u.Path, "/")
	if strings.Contains(service, "/") {
		return nil, fmt.Errorf("service %q: a gRPC service name has no slash", service)
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{KeepAlive: -1}).DialContext,
		MaxResponseHeaderBytes: MaxHeaderBytes,
	}
	scheme := "http"
	protocols := new(http.Protocols)
	if u.Scheme == "grpcs" {
		scheme = "https"
		if transport.TLSClientConfig, err = tlsConfig(o); err != nil {
			return nil, err
		}
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	transport.Protocols = protocols
	// HealthCheckRequest{service}: field 1, wire type 2 (length-delimited).
	msg := []byte{}
	if service != "" {
		msg = append([]byte{0x0a}, binary.AppendUvarint(nil, uint64(len(service)))...)
		msg = append(msg, service...)
	}
	framed := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(framed[1:], uint32(len(msg)))
	framed = append(framed, msg...)
	return &grpcProber{
		url:     scheme + "://" + addr + "/grpc.health.v1.Health/Check",
		service: service,
		client:  &http.Client{Transport: transport},
		req:     framed,
	}, nil
}

func (p *grpcProber) Check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(p.req))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	req.Header.Set("User-Agent", "podseq")
	if dl, ok := ctx.Deadline(); ok {
		req.Header.Set("Grpc-Timeout", fmt.Sprintf("%dm", max(time.Until(dl).Milliseconds(), 1)))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if notHTTP2(err) {
			return fmt.Errorf("not a gRPC server: it does not speak HTTP/2, as an HTTP/1 server (is this its HTTP port?): %w", err)
		}
		return shortErr(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s, not gRPC", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes))
	if err != nil {
		return fmt.Errorf("reading response: %w", shortErr(err))
	}
	// A gRPC error comes in the trailers, or in the headers of a
	// trailers-only response.
	code, msg := resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message")
	if code == "" {
		code, msg = resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message")
	}
	if code == "" {
		return errors.New("not a gRPC server: no grpc-status in its answer")
	}
	if code != "0" {
		if m, err := url.PathUnescape(msg); err == nil {
			msg = m
		}
		return fmt.Errorf("grpc status %s: %s", grpcCodeName(code), msg)
	}
	status, err := parseHealthResponse(body)
	if err != nil {
		return err
	}
	if status != 1 {
		name, ok := healthStatus[status]
		if !ok {
			name = fmt.Sprintf("status %d", status)
		}
		return errors.New(name)
	}
	return nil
}

// notHTTP2 reports whether err says the server answered in something other
// than HTTP/2: an HTTP/1 answer read as an HTTP/2 frame header is a frame of
// several megabytes ("HTTP/1.1 400" starts with 0x485454), and over TLS the
// server offers no h2 in ALPN; the HTTP/2 handshake then fails. net/http and crypto/tls export no error
// values for these.
func notHTTP2(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "http2: frame too large") || strings.Contains(msg, "unexpected ALPN protocol") ||
		strings.Contains(msg, "tls: no application protocol") ||
		strings.Contains(msg, "http2: client conn could not be established") // the same HTTP/1 answer, seen by another goroutine first
}

// parseHealthResponse reads the status of a framed HealthCheckResponse.
func parseHealthResponse(b []byte) (uint64, error) {
	if len(b) < 5 {
		return 0, errors.New("short gRPC response")
	}
	if b[0] != 0 {
		return 0, errors.New("compressed gRPC response")
	}
	n := binary.BigEndian.Uint32(b[1:5])
	msg := b[5:]
	if uint32(len(msg)) < n {
		return 0, errors.New("truncated gRPC response")
	}
	msg = msg[:n]
	var status uint64 // field 1 absent means UNKNOWN (0)
	for len(msg) > 0 {
		key, k := binary.Uvarint(msg)
		if k <= 0 {
			return 0, errBadProtobuf
		}
		msg = msg[k:]
		if key>>3 == 1 && key&7 == 0 {
			v, k := binary.Uvarint(msg)
			if k <= 0 {
				return 0, errBadProtobuf
			}
			msg, status = msg[k:], v
			continue
		}
		var err error
		if msg, err = skipField(msg, key, 0); err != nil {
			return 0, err
		}
	}
	return status, nil
}

var errBadProtobuf = errors.New("bad protobuf in gRPC response")

// skipField skips the value of a field whose key was just read: unknown
// fields of any wire type, as a newer HealthCheckResponse may carry.
func skipField(msg []byte, key uint64, depth int) ([]byte, error) {
	switch key & 7 {
	case 0: // varint
		if _, k := binary.Uvarint(msg); k > 0 {
			return msg[k:], nil
		}
	case 1: // fixed64
		if len(msg) >= 8 {
			return msg[8:], nil
		}
	case 2: // length-delimited
		if l, k := binary.Uvarint(msg); k > 0 && uint64(len(msg)-k) >= l {
			return msg[k+int(l):], nil
		}
	case 5: // fixed32
		if len(msg) >= 4 {
			return msg[4:], nil
		}
	case 3: // start group: skip fields up to the matching end group
		if depth >= 32 {
			break
		}
		for len(msg) > 0 {
			inner, k := binary.Uvarint(msg)
			if k <= 0 {
				break
			}
			msg = msg[k:]
			if inner&7 == 4 {
				if inner>>3 == key>>3 {
					return msg, nil
				}
				break
			}
			var err error
			if msg, err = skipField(msg, inner, depth+1); err != nil {
				return nil, err
			}
		}
	}
	return nil, errBadProtobuf
}

// grpcCodeName names the gRPC status codes a health check may meet.
func grpcCodeName(code string) string {
	names := map[string]string{
		"1": "Canceled", "2": "Unknown", "4": "DeadlineExceeded", "5": "NotFound",
		"7": "PermissionDenied", "12": "Unimplemented", "13": "Internal",
		"14": "Unavailable", "16": "Unauthenticated",
	}
	if n, ok := names[code]; ok {
		return n
	}
	if code == "" {
		return "missing"
	}
	return code
}
