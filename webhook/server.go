package webhook

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/podseq/podseq/inject"
)

// Defaults of Config.
const (
	// DefaultListen is the address the webhook serves on.
	DefaultListen = ":9443"
	// DefaultCertDir holds tls.crt and tls.key.
	DefaultCertDir = "/tls"
	// DefaultMaxBodyBytes bounds a review: the API server's own limit on a
	// request is 3 MiB, and a review carries the object once for CREATE.
	DefaultMaxBodyBytes = 3 << 20
	// DefaultShutdownDelay is how long the webhook goes on serving, not
	// ready, after SIGTERM: time for the endpoints to drop it.
	DefaultShutdownDelay = 5 * time.Second
	// DefaultShutdownTimeout bounds the wait for the reviews in flight.
	DefaultShutdownTimeout = 15 * time.Second
	// DefaultCertCheck is how often, at most, the files are looked at.
	DefaultCertCheck = time.Second
)

// Paths the webhook serves.
const (
	// PathMutate reviews pods; the strict answer is asked by PathMutateStrict
	// (an API server's webhook path takes no query).
	PathMutate       = "/mutate"
	PathMutateStrict = "/mutate/strict"
	PathHealthz      = "/healthz"
	PathReadyz       = "/readyz"
	PathMetrics      = "/metrics"
)

// Config is what the webhook needs; a zero field takes its default.
type Config struct {
	// CertDir holds tls.crt and tls.key (PEM), re-read when they change.
	CertDir string
	// Inject are the planner's options (the image of the install container,
	// the waits' timeout).
	Inject inject.Options
	// Strict denies a pod the webhook cannot order, on every path.
	Strict bool
	// MaxBodyBytes bounds a request's body.
	MaxBodyBytes int64
	// ShutdownDelay is how long Serve goes on serving, not ready, once its
	// context ends (0: none; the command line's default is
	// DefaultShutdownDelay).
	ShutdownDelay time.Duration
	// ShutdownTimeout bounds the wait for the reviews in flight.
	ShutdownTimeout time.Duration
	// CertCheck is how often, at most, the certificate files are checked.
	CertCheck time.Duration
	// Logger receives the webhook's log; nil discards it.
	Logger *slog.Logger
}

// Server is the webhook.
type Server struct {
	cfg      Config
	log      *slog.Logger
	m        *metrics
	certs    *certLoader
	draining atomic.Bool
}

// New checks the configuration and loads the certificate.
func New(cfg Config) (*Server, error) {
	if cfg.CertDir == "" {
		cfg.CertDir = DefaultCertDir
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.ShutdownDelay < 0 {
		cfg.ShutdownDelay = 0
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.CertCheck <= 0 {
		cfg.CertCheck = DefaultCertCheck
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, m: newMetrics()}
	c, err := newCertLoader(cfg.CertDir, cfg.CertCheck, s.log, s.m)
	if err != nil {
		return nil, err
	}
	s.certs = c
	return s, nil
}

// TLSConfig serves the certificate of CertDir, as it is at each handshake.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.certs.get, NextProtos: []string{"h2", "http/1.1"}}
}

// Handler serves the webhook's paths.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(PathMutate, func(w http.ResponseWriter, r *http.Request) { s.handleMutate(w, r, s.cfg.Strict) })
	mux.HandleFunc(PathMutateStrict, func(w http.ResponseWriter, r *http.Request) { s.handleMutate(w, r, true) })
	mux.HandleFunc(PathHealthz, func(w http.ResponseWriter, r *http.Request) {
		if !getOnly(w, r) {
			return
		}
		text(w, http.StatusOK, "ok")
	})
	mux.HandleFunc(PathReadyz, func(w http.ResponseWriter, r *http.Request) {
		if !getOnly(w, r) {
			return
		}
		if s.draining.Load() {
			text(w, http.StatusServiceUnavailable, "not ready: shutting down")
			return
		}
		text(w, http.StatusOK, "ok")
	})
	mux.Handle(PathMetrics, promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		text(w, http.StatusNotFound, "not found: podseq's webhook serves POST "+PathMutate+", GET "+PathHealthz+", "+PathReadyz+" and "+PathMetrics)
	})
	return mux
}

func getOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	text(w, http.StatusMethodNotAllowed, "method not allowed: use GET")
	return false
}

func text(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body+"\n")
}

func (s *Server) handleMutate(w http.ResponseWriter, r *http.Request, strict bool) {
	start := time.Now()
	result := ResultError
	defer func() {
		s.m.reviews[result].Inc()
		s.m.duration.Observe(time.Since(start).Seconds())
	}()
	fail := func(err error) {
		var re *RequestError
		if !errors.As(err, &re) {
			re = &RequestError{Status: http.StatusInternalServerError, Msg: err.Error()}
		}
		s.log.Warn("bad request", "path", r.URL.Path, "status", re.Status, "err", re.Msg)
		text(w, re.Status, "podseq: "+re.Msg)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		fail(&RequestError{http.StatusMethodNotAllowed, "method " + r.Method + " not allowed: POST an AdmissionReview"})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		fail(&RequestError{http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q: want application/json", r.Header.Get("Content-Type"))})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(&RequestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("a body over %d bytes: the limit is %d MiB", mbe.Limit, mbe.Limit>>20)})
			return
		}
		fail(badRequest("read the body: %v", err))
		return
	}
	rv, err := DecodeReview(body)
	if err != nil {
		fail(err)
		return
	}
	resp, res := s.review(rv.Request, strict)
	result = res
	out, err := json.Marshal(AdmissionReview{APIVersion: ReviewAPIVersion, Kind: ReviewKind, Response: resp})
	if err != nil {
		result = ResultError
		fail(err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// Serve serves on ln until ctx ends, then drains: /readyz answers 503 at
// once, reviews are still served for ShutdownDelay (while the endpoints
// drop this replica), then the listener closes and the reviews in flight
// get up to ShutdownTimeout to finish. It returns nil after a clean drain.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, srv.TLSConfig)) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "certDir", s.cfg.CertDir, "strict", s.cfg.Strict)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down: not ready", "delay", s.cfg.ShutdownDelay.String())
	select {
	case <-time.After(s.cfg.ShutdownDelay):
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("drain the reviews in flight: %w", err)
	}
	s.log.Info("drained")
	return nil
}
