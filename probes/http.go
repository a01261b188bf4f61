package probes

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-retryablehttp"
)

// HoldHeader is the response header by which a podseq admin endpoint (podseq
// run's /ready) says it can hold a request until it is ready. Its value is the
// longest hold the endpoint grants, as a Go duration. A prober that sees it
// switches to long polls: `GET /ready?wait=DURATION`.
const HoldHeader = "Podseq-Hold"

// HoldParam is the query parameter of a long poll.
const HoldParam = "wait"

// httpProber checks that a GET answers an accepted status (and body).
type httpProber struct {
	url    string
	client *retryablehttp.Client
	opts   *Options
	// hold is the longest hold the target grants (a time.Duration), once it
	// said it is a podseq admin endpoint; zero before. Atomic: IsPodseqRun
	// and StopPodseqRun read it after a wait, beside an attempt the wait may
	// have abandoned.
	hold atomic.Int64
	last *http.Response // headers of the latest response, body closed
	body []byte         // reused body buffer
	// sent counts the requests of the latest attempt, redirects included.
	sent int
	// died is how the command of the podseq run answering here died, as it
	// said in its last answer; "" unless it did.
	died string
}

func newHTTP(u *url.URL, o *Options) (Prober, error) {
	def := "80"
	if u.Scheme == "https" {
		def = "443"
	}
	if _, err := hostPort(u, def); err != nil {
		return nil, err
	}
	if u.Fragment != "" {
		return nil, errors.New("a fragment is never sent to the server")
	}
	tlsConf, err := tlsConfig(o)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{KeepAlive: -1}
	transport := &http.Transport{
		Proxy:               nil, // probes go straight to their target, as kubelet's
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tlsConf,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
		IdleConnTimeout:     90 * time.Second,
		// An attempt reads at most this much status line and headers:
		// net/http's default is 10 MiB.
		MaxResponseHeaderBytes: MaxHeaderBytes,
	}
	var p *httpProber
	client := &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			p.sent++ // the redirect is followed: one more request
			return nil
		},
	}
	p = &httpProber{
		url:  u.String(),
		opts: o,
		client: &retryablehttp.Client{
			HTTPClient: client,
			RetryMax:   0, // the loop in loop.go retries, never the client
			CheckRetry: func(context.Context, *http.Response, error) (bool, error) { return false, nil },
			Backoff:    retryablehttp.DefaultBackoff,
			// Pass the response or error through as it is, for the failure line.
			ErrorHandler: retryablehttp.PassthroughErrorHandler,
		},
		body: make([]byte, MaxBodyBytes),
	}
	return p, nil
}

// tlsConfig builds the TLS settings of https and grpcs targets.
func tlsConfig(o *Options) (*tls.Config, error) {
	c := &tls.Config{InsecureSkipVerify: o.InsecureSkipVerify} //nolint:gosec // the user asked for it
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, &CAFileError{Path: o.CAFile, Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &CAFileError{Path: o.CAFile, Err: ErrNoPEM}
		}
		c.RootCAs = pool
	}
	return c, nil
}

// ErrNoPEM is the error of a CA file with no PEM certificate in it.
var ErrNoPEM = errors.New("no PEM certificate in it")

// CAFileError says what is wrong with Options.CAFile: it cannot be read
// (Err wraps the *fs.PathError, which names the file), or it holds no
// certificate (ErrNoPEM).
type CAFileError struct {
	Path string
	Err  error
}

// Error names the file, once.
func (e *CAFileError) Error() string {
	if errors.Is(e.Err, ErrNoPEM) {
		return "CA file " + e.Path + ": " + e.Err.Error()
	}
	return "CA file: " + e.Err.Error()
}

// Unwrap returns what is wrong.
func (e *CAFileError) Unwrap() error { return e.Err }

// Hold is the hold the target grants, once it said it is a podseq admin
// endpoint; zero before.
func (p *httpProber) Hold() time.Duration { return time.Duration(p.hold.Load()) }

// Requests is how many requests the latest attempt sent: one, plus one per
// redirect it followed.
func (p *httpProber) Requests() int { return p.sent }

// LastResponse returns the latest response (headers only), for Retry-After.
func (p *httpProber) LastResponse() *http.Response { return p.last }

func (p *httpProber) Check(ctx context.Context) error {
	p.sent = 0
	req, err := p.request(ctx)
	if err != nil {
		return err
	}
	p.sent = 1
	resp, err := p.client.Do(req)
	if err != nil {
		p.last = nil
		return p.sendError(err)
	}
	p.died = ""
	n, rerr := p.read(resp)
	p.last = resp
	p.keepHold(resp)
	return p.judge(resp, p.body[:n], rerr)
}

// request is the GET of one attempt: with the hold a podseq run asked for
// (no longer than the context's deadline), and the target's headers.
func (p *httpProber) request(ctx context.Context) (*retryablehttp.Request, error) {
	target := p.url
	if hold := p.Hold(); hold > 0 {
		d := hold
		if dl, ok := ctx.Deadline(); ok {
			d = min(d, time.Until(dl))
		}
		if d > time.Millisecond {
			target = withQuery(p.url, HoldParam, d.Truncate(time.Millisecond).String())
		}
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "podseq")
	for k, vs := range p.opts.Header {
		for i, v := range vs {
			if i == 0 {
				req.Header.Set(k, v)
			} else {
				req.Header.Add(k, v)
			}
		}
		if k == "Host" && len(vs) > 0 {
			req.Host = vs[0]
		}
	}
	return req, nil
}

// sendError is the attempt's error when no answer came, in few words.
func (p *httpProber) sendError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if strings.Contains(err.Error(), "server response headers exceeded") { // net/http's words, unexported
		return fmt.Errorf("response headers longer than %d bytes: the most an attempt reads", MaxHeaderBytes)
	}
	err = shortErr(err)
	if p.died != "" && errors.Is(err, syscall.ECONNREFUSED) {
		// The podseq run that said its command died is gone: the
		// refusal says less than that death.
		return shortError{err.Error() + " (" + (&DiedError{Reason: p.died}).Error() + ")", err}
	}
	return err
}

// read reads at most len(p.body) bytes of the answer and closes it.
func (p *httpProber) read(resp *http.Response) (int, error) {
	n, err := io.ReadFull(resp.Body, p.body)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = nil
	}
	if err == nil && n == len(p.body) {
		// Drain a little more so that the connection can be reused; a larger
		// body costs a new connection, never more reading.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	}
	resp.Body.Close()
	return n, err
}

// keepHold keeps the hold a podseq run offers for the next attempt (none
// when the answer offers none).
func (p *httpProber) keepHold(resp *http.Response) {
	if v := resp.Header.Get(HoldHeader); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			d = 30 * time.Second
		}
		p.hold.Store(int64(d))
	} else {
		p.hold.Store(0)
	}
}

// judge decides on an answer: a death a podseq run reports, the status,
// then the body.
func (p *httpProber) judge(resp *http.Response, body []byte, rerr error) error {
	held := p.Hold() > 0
	if why := resp.Header.Get(DiedHeader); why != "" && held && resp.StatusCode == http.StatusServiceUnavailable {
		inst := resp.Header.Get(InstanceHeader)
		p.died = why
		return &DiedError{Reason: why, Here: inst != "" && inst == mainInstance()}
	}
	if !p.opts.Status.Contains(resp.StatusCode) {
		if held && rerr == nil {
			// A podseq run says why it is not ready in its answer's body.
			if why := reason(body); why != "" {
				return fmt.Errorf("%s: %s", resp.Status, why)
			}
		}
		return errors.New(resp.Status)
	}
	if rerr != nil {
		return fmt.Errorf("reading body: %w", shortErr(rerr))
	}
	if p.opts.BodyContains != "" && !bytes.Contains(body, []byte(p.opts.BodyContains)) {
		return fmt.Errorf("%s but body lacks %q", resp.Status, p.opts.BodyContains)
	}
	if p.opts.BodyRegex != nil && !p.opts.BodyRegex.Match(body) {
		return fmt.Errorf("%s but body does not match /%s/", resp.Status, p.opts.BodyRegex)
	}
	return nil
}

// withQuery returns raw with key=value added to its query.
func withQuery(raw, key, value string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// StatusSet is a set of accepted HTTP status codes, such as "200-399" or
// "200,204,300-302". The zero value accepts 200-399.
type StatusSet struct {
	ranges [][2]int
	text   string
}

// ParseStatusSet parses a comma-separated list of codes and ranges.
func ParseStatusSet(s string) (StatusSet, error) {
	var set StatusSet
	if s == "" {
		return set, errors.New("empty status list")
	}
	for _, part := range bytes.Split([]byte(s), []byte(",")) {
		lo, hi, isRange := bytes.Cut(bytes.TrimSpace(part), []byte("-"))
		a, err := statusCode(string(lo))
		if err != nil {
			return set, err
		}
		b := a
		if isRange {
			if b, err = statusCode(string(hi)); err != nil {
				return set, err
			}
			if b < a {
				return set, fmt.Errorf("status range %d-%d is backwards", a, b)
			}
		}
		set.ranges = append(set.ranges, [2]int{a, b})
	}
	set.text = s
	return set, nil
}

func statusCode(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 || len(s) != 3 {
		return 0, fmt.Errorf("bad status code %q: want 100-599", s)
	}
	return n, nil
}

// Contains reports whether code is accepted.
func (s StatusSet) Contains(code int) bool {
	if len(s.ranges) == 0 {
		return code >= 200 && code <= 399
	}
	for _, r := range s.ranges {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}

// String returns the set as it was written, or "200-399" for the zero value.
func (s StatusSet) String() string {
	if s.text == "" {
		return "200-399"
	}
	return s.text
}

// MaxReasonBytes caps the reason taken from a podseq admin endpoint's answer
// (its body's first line) for a failure line.
const MaxReasonBytes = 300

// reason is the first line of body, at most MaxReasonBytes long, with any
// control character or invalid UTF-8 replaced: what a podseq run says in a
// 503 about why it is not ready.
func reason(body []byte) string {
	if i := bytes.IndexByte(body, '\n'); i >= 0 {
		body = body[:i]
	}
	cut := len(body) > MaxReasonBytes
	if cut {
		body = body[:MaxReasonBytes]
	}
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.ToValidUTF8(string(body), ""))
	s = strings.TrimSpace(s)
	if cut && s != "" {
		s += "..."
	}
	return s
}
