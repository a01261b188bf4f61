// Package probes checks whether a target is ready and waits until targets are.
//
// Each kind of target (http, tcp, unix, file, grpc, exec, ...) lives in its own
// file and implements Prober. A Prober checks once and returns; it never sleeps
// or retries. The loop in loop.go owns every interval, per-attempt timeout,
// threshold and deadline, and is shared by `podseq wait` (Wait) and by the
// readiness of `podseq run` (Monitor).
package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Prober checks a target once. Check returns nil when the target is ready, or
// an error that says why it is not, short enough for a one-line message. It
// must return promptly once ctx is done.
type Prober interface {
	Check(ctx context.Context) error
}

// Holder is implemented by probers whose target can hold a request open until
// it turns ready (a podseq admin endpoint: push release; a tombstone). The
// loop gives a held attempt the hold plus one attempt timeout instead of one
// attempt timeout, and starts the next one at once when a hold runs out.
type Holder interface {
	// Hold is how long the target may hold the next attempt: zero when it
	// does not hold, negative when it holds until the deadline.
	Hold() time.Duration
}

// RetryAfterer is implemented by probers whose target can ask for a longer
// pause between attempts (HTTP Retry-After on 429 and 503). The loop never
// waits longer than the period, whatever the target asks.
type RetryAfterer interface {
	LastResponse() *http.Response
}

// Target is one parsed target: what to check and how to name it in messages.
type Target struct {
	// Kind is the target's scheme: "http", "https", "tcp", "unix", "file",
	// "grpc", "grpcs", "exec", ...
	Kind string
	// Name is the target as the user wrote it, with any password redacted.
	Name string
	// Local reports whether the target is on this machine or in this pod
	// (a loopback address, a unix socket, a file, a command). Local targets
	// are polled fast by default; remote ones are polled gently.
	Local bool
	// Prober checks the target.
	Prober Prober

	// owner lets one attempt at a time run on Prober, across waits: a wait
	// on a target whose earlier wait abandoned a stuck attempt starts its
	// own attempts only once that one returned.
	owner slot
}

// String returns the target's name, as used in messages and metric labels.
func (t *Target) String() string { return t.Name }

// Options are the settings that probers share, taken from the command line.
type Options struct {
	// Status is the set of accepted HTTP status codes. Empty means 200-399,
	// as kubelet's httpGet probe.
	Status StatusSet
	// Header is sent with every HTTP request. Values are never logged.
	Header http.Header
	// BodyContains, when not empty, must appear in the first MaxBodyBytes of
	// an HTTP response body.
	BodyContains string
	// BodyRegex, when not nil, must match the first MaxBodyBytes of an HTTP
	// response body.
	BodyRegex *regexp.Regexp
	// InsecureSkipVerify disables TLS certificate verification (https, grpcs).
	InsecureSkipVerify bool
	// CAFile is a PEM bundle of CAs to trust for https and grpcs instead of
	// the system's.
	CAFile string
	// Graveyard is the directory of tombstones for tombstone:// targets.
	Graveyard string
}

// MaxBodyBytes caps how much of an HTTP response body is read, as kubelet does.
const MaxBodyBytes = 10 << 10

// MaxHeaderBytes caps the status line and headers of one HTTP or gRPC
// response an attempt reads (all of them, for a redirect chain's each hop):
// a target that streams headers or garbage costs at most this, not net/http's
// default 10 MiB. Real ones are a few hundred bytes; servers commonly refuse
// requests with more than 8-64 KiB of headers.
const MaxHeaderBytes = 64 << 10

// maxRedirects caps the redirects an HTTP probe follows.
const maxRedirects = 10

// newFunc builds a Prober for a parsed URL. It validates everything it can, so
// that a bad target is rejected before the first attempt.
type newFunc func(u *url.URL, o *Options) (Prober, error)

// kinds is the registry of target kinds: one line a kind.
var kinds = map[string]newFunc{
	"http":      newHTTP,
	"https":     newHTTP,
	"tcp":       newTCP,
	"unix":      newUnix,
	"file":      newFile,
	"grpc":      newGRPC,
	"grpcs":     newGRPC,
	"tombstone": newTombstone,
}

// Kinds returns the schemes Parse accepts, for help texts.
func Kinds() []string {
	return []string{"http", "https", "tcp", "unix", "file", "grpc", "grpcs", "tombstone"}
}

// ErrBadTarget is wrapped by every error Parse returns for malformed input.
var ErrBadTarget = errors.New("bad target")

// Parse parses a target URL such as http://localhost:15021/ready,
// tcp://db:5432, unix:///run/app.sock, file:///tmp/ready or grpc://host:port/service.
func Parse(raw string, o Options) (*Target, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w %q: %s", ErrBadTarget, clip(Redact(raw), maxShown), fmt.Sprintf(format, a...))
	}
	if strings.TrimSpace(raw) == "" {
		return nil, bad("empty")
	}
	if strings.ContainsAny(raw, " \t\r\n") {
		return nil, bad("contains white space")
	}
	i := strings.Index(raw, "://")
	if i <= 0 {
		if scheme, rest, ok := strings.Cut(raw, ":"); ok && kinds[strings.ToLower(scheme)] != nil {
			return nil, bad("%s", missingSlashes(strings.ToLower(scheme), rest))
		}
		return nil, bad("no scheme: write it as a URL, one of %s://", strings.Join(Kinds(), ", "))
	}
	scheme := strings.ToLower(raw[:i])
	newProber, ok := kinds[scheme]
	if !ok {
		return nil, bad("unknown scheme %q: use one of %s", scheme, strings.Join(Kinds(), ", "))
	}
	if err := checkHost(scheme, authority(raw[i+3:]), ""); err != nil {
		return nil, bad("%v", err) // before net/url, which says "invalid port"
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, bad("%v", err)
	}
	u.Scheme = scheme
	p, err := newProber(u, &o)
	if err != nil {
		// %w keeps a typed error (*GraveyardError) for the caller.
		return nil, fmt.Errorf("%w %q: %w", ErrBadTarget, clip(Redact(raw), maxShown), err)
	}
	return &Target{Kind: scheme, Name: Redact(raw), Local: isLocal(u), Prober: p}, nil
}

// missingSlashes explains a target of a known kind written without "//".
func missingSlashes(scheme, rest string) string {
	switch scheme {
	case "file", "unix":
		path := strings.TrimLeft(rest, "/")
		return fmt.Sprintf("write %s:// and an absolute path, as in %s:///%s (a relative path means nothing to a hook: it runs in the container's working directory, whatever that is)", scheme, scheme, path)
	case "tombstone":
		return "write tombstone://NAME, with two slashes"
	}
	return fmt.Sprintf("write %s://HOST:PORT, with two slashes", scheme)
}

// maxShown is how much of a malformed target a message repeats.
const maxShown = 200

// clip shortens s to n bytes and "..." for a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Redact hides the password of a URL's user info, for messages and logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// isLocal reports whether u names something on this machine or in this pod.
func isLocal(u *url.URL) bool {
	switch u.Scheme {
	case "unix", "file", "tombstone":
		return true
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) // 0.0.0.0 reaches this host
}

// hostPort validates u's host and port and returns them joined. A port is
// required unless def is not empty.
func hostPort(u *url.URL, def string) (string, error) {
	host := u.Hostname()
	if host == "" {
		return "", errors.New("missing host")
	}
	if err := checkHost(u.Scheme, u.Host, host); err != nil {
		return "", err
	}
	port := u.Port()
	if port == "" {
		if strings.HasSuffix(u.Host, ":") {
			return "", errors.New("empty port")
		}
		if def == "" {
			return "", errors.New("missing port")
		}
		port = def
	}
	if err := checkPort(port); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, port), nil
}

// Limits of a DNS host name (RFC 1123, 2.1; RFC 1035, 2.3.4).
const (
	maxHostName = 253
	maxLabel    = 63
)

// checkHost rejects a host that cannot be reached, before the first attempt:
// an IPv6 address without brackets (net/url reads tcp://fe80::1 as host
// "fe80:" and port 1), and a name that DNS cannot hold. hostport is the
// URL's host[:port], host its host name.
func checkHost(scheme, hostport, host string) error {
	if !strings.HasPrefix(hostport, "[") && strings.Count(hostport, ":") > 1 {
		return fmt.Errorf("an IPv6 address needs brackets around it, as in %s://[::1]:8080", scheme)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if strings.HasPrefix(hostport, "[") {
		return fmt.Errorf("%q in brackets is not an IPv6 address", host)
	}
	return checkHostName(host)
}

// authority is the host[:port] of what follows a URL's "//": up to the
// path, query or fragment, without user info.
func authority(rest string) string {
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	return rest
}

// checkHostName checks a DNS name: at most 253 characters (a final dot
// aside), labels of 1 to 63 letters, digits, hyphens and underscores, none
// starting or ending with a hyphen.
func checkHostName(name string) error {
	short := clip(name, 40)
	trimmed := strings.TrimSuffix(name, ".")
	if len(trimmed) > maxHostName {
		return fmt.Errorf("host name %q is %d characters long, longer than DNS allows (%d)", short, len(trimmed), maxHostName)
	}
	for _, label := range strings.Split(trimmed, ".") {
		switch {
		case label == "":
			return fmt.Errorf("host name %q has an empty label", short)
		case len(label) > maxLabel:
			return fmt.Errorf("host name %q has a label of %d characters, longer than DNS allows (%d)", short, len(label), maxLabel)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Errorf("host name %q has a label that starts or ends with a hyphen", short)
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("host name %q holds %q, which no host name holds", short, c)
			}
		}
	}
	return nil
}

func checkPort(port string) error {
	n := 0
	for _, c := range port {
		if c < '0' || c > '9' {
			return fmt.Errorf("bad port %q", port)
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return fmt.Errorf("port %s out of range 1-65535", port)
		}
	}
	if n == 0 {
		return fmt.Errorf("port %s out of range 1-65535", port)
	}
	return nil
}

// noExtras rejects the URL parts a kind does not use, so that a typo is not
// silently ignored.
func noExtras(u *url.URL, path bool) error {
	switch {
	case u.User != nil:
		return errors.New("user info is not used by this kind")
	case u.RawQuery != "" || u.ForceQuery:
		return errors.New("a query is not used by this kind")
	case u.Fragment != "":
		return errors.New("a fragment is not used by this kind")
	case path && u.Path != "" && u.Path != "/":
		return fmt.Errorf("a path (%s) is not used by this kind", u.Path)
	}
	return nil
}

// shortErr makes common network errors short and readable: it drops the
// "dial tcp 127.0.0.1:8080:" noise that the target name already carries.
func shortErr(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return shortError{attemptTimedOut, err}
	case errors.Is(err, context.Canceled):
		return shortError{"canceled", err}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		msg := op.Err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "connect") {
			msg = msg[i+2:]
		}
		return shortError{msg, err} // errors.Is still sees ECONNREFUSED
	}
	return err
}

// shortError is an error in fewer words (a network error, an attempt cut
// short by its context), with the original kept for errors.Is and errors.As,
// so that the loop can tell a context's end from a reason the target gave.
type shortError struct {
	msg string
	err error
}

func (e shortError) Error() string { return e.msg }
func (e shortError) Unwrap() error { return e.err }

// MayNeedPodIP reports whether a target's failure can come from a local
// sidecar that waits for the pod's IP, which kubelet does not publish while a
// postStart hook runs: a loopback network target whose last attempt was
// refused or timed out, or that never finished one.
func MayNeedPodIP(st Status) bool {
	if st.Ready || !st.Target.Local {
		return false
	}
	switch st.Target.Kind {
	case "http", "https", "tcp", "grpc", "grpcs":
	default:
		return false
	}
	return st.LastErr == nil || errors.Is(st.LastErr, syscall.ECONNREFUSED) || isContextError(st.LastErr) || errors.Is(st.LastErr, os.ErrDeadlineExceeded)
}

// isContextError reports whether err only says that a context ended.
func isContextError(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
