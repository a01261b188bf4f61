package entrypoint

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/podseq/podseq/probes"
)

// readyAnswer is /ready's body, without its newline, when the child is ready.
const readyAnswer = "ready"

// Header values shared by every response, set without allocating (net/http
// never modifies them).
var (
	holdValue       = []string{MaxHold.String()}
	textPlainValue  = []string{"text/plain; charset=utf-8"}
	noStoreValue    = []string{"no-store"}
	readyBody       = []byte(readyAnswer + "\n")
	holdHeaderKey   = http.CanonicalHeaderKey(probes.HoldHeader)
	instanceKey     = http.CanonicalHeaderKey(probes.InstanceHeader)
	diedKey         = http.CanonicalHeaderKey(probes.DiedHeader)
	contentTypeKey  = "Content-Type"
	cacheControlKey = "Cache-Control"
)

// Handler is the admin server's handler, on its own ServeMux:
//
//	GET  /ready            200 when ready, 503 with the reason otherwise
//	GET  /ready?wait=D     the same, but held up to D (at most MaxHold) until ready
//	GET  /healthz          200 while the supervisor and the child live
//	GET  /metrics          Prometheus metrics
//	POST /quitquitquit     stop the child (loopback clients only)
func (s *Supervisor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", s.handleReady)
	mux.HandleFunc("/healthz", s.handleHealthz)
	metrics := promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{
		ErrorLog:          slogPrinter{s},
		EnableOpenMetrics: false,
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		s.m.reqMetrics.Inc()
		metrics.ServeHTTP(w, r)
	})
	mux.HandleFunc("/quitquitquit", s.handleQuit)
	return mux
}

type slogPrinter struct{ s *Supervisor }

func (p slogPrinter) Println(v ...any) {
	p.s.log.Warn("metrics", "err", v)
}

func text(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h[contentTypeKey] = textPlainValue
	h[cacheControlKey] = noStoreValue
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body+"\n")
}

// ok answers 200 "ready", the hot path of /ready.
func ok(w http.ResponseWriter) {
	h := w.Header()
	h[contentTypeKey] = textPlainValue
	h[cacheControlKey] = noStoreValue
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(readyBody)
}

func (s *Supervisor) handleReady(w http.ResponseWriter, r *http.Request) {
	s.m.reqReady.Inc()
	// Every answer says that this endpoint holds requests: that is how
	// podseq wait knows to long-poll it.
	w.Header()[holdHeaderKey] = holdValue
	w.Header()[instanceKey] = s.instance
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		text(w, http.StatusMethodNotAllowed, "method not allowed: use GET")
		return
	}
	raw := ""
	if r.URL.RawQuery != "" {
		raw = r.URL.Query().Get(probes.HoldParam)
	}
	if raw == "" {
		s.m.readyPlain.Inc()
	} else {
		s.m.readyLongPoll.Inc()
	}
	ready, reason, turned := s.state.get()
	if ready {
		ok(w)
		return
	}
	if why := s.state.died(); why != "" {
		// Final: podseq run exits. Said at once, held or not.
		w.Header().Set(diedKey, why)
		text(w, http.StatusServiceUnavailable, "not ready: "+why)
		return
	}
	if raw == "" {
		text(w, http.StatusServiceUnavailable, "not ready: "+reason)
		return
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		text(w, http.StatusBadRequest, "bad "+probes.HoldParam+"="+raw+": want a duration such as 30s")
		return
	}
	d = min(d, MaxHold)
	if d <= 0 {
		text(w, http.StatusServiceUnavailable, "not ready: "+reason)
		return
	}
	if !s.state.hold(s.cfg.MaxWaiters) {
		s.m.pollRejected.Inc()
		text(w, http.StatusServiceUnavailable, "not ready: "+reason+" (too many long polls: poll instead)")
		return
	}
	if s.holdHijacked(w, r, d, turned) {
		return // held, answered and unheld by a goroutine of its own
	}
	s.holdPlain(w, r, d, turned)
}

// holdPlain holds a long poll of up to d the plain net/http way (HTTP/2),
// answers it and unholds it.
func (s *Supervisor) holdPlain(w http.ResponseWriter, r *http.Request, d time.Duration, turned <-chan struct{}) {
	defer s.state.unhold()
	t := time.NewTimer(d)
	defer t.Stop()
	var outcome holdOutcome
	select {
	case <-turned:
		outcome = holdReleased
	case <-t.C:
		outcome = holdTimedOut
	case <-r.Context().Done():
		outcome = holdCanceled
	case <-s.state.done:
		outcome = holdShutdown
	}
	switch code, body, died := s.endHold(outcome, d); code {
	case 0: // the client hung up
	case http.StatusOK:
		ok(w)
	default:
		if died != "" {
			w.Header().Set(diedKey, died)
		}
		text(w, code, body)
	}
}

// endHold counts how a long poll held for d ended, and returns its answer:
// the status code, the body without its newline, and the Podseq-Died
// header's value ("" for none). The code is 0 when the client hung up: it
// gets no answer.
func (s *Supervisor) endHold(o holdOutcome, d time.Duration) (code int, body, died string) {
	switch o {
	case holdReleased:
		s.m.pollReleased.Inc()
		return http.StatusOK, readyAnswer, ""
	case holdTimedOut:
		s.m.pollTimedOut.Inc()
		_, reason, _ := s.state.get()
		return http.StatusServiceUnavailable, "not ready after " + d.String() + ": " + reason, ""
	case holdShutdown:
		s.m.pollShutdown.Inc()
		// Why the child died, if it did: a podseq wait in this container
		// must know that.
		_, reason, _ := s.state.get()
		if died = s.state.died(); died != "" {
			reason = died
		}
		return http.StatusServiceUnavailable, "not ready: " + reason + " (shutting down)", died
	}
	s.m.pollCanceled.Inc()
	return 0, "", ""
}

func (s *Supervisor) handleHealthz(w http.ResponseWriter, r *http.Request) {
	s.m.reqHealthz.Inc()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		text(w, http.StatusMethodNotAllowed, "method not allowed: use GET")
		return
	}
	if why := *s.health.Load(); why != "" {
		text(w, http.StatusServiceUnavailable, why)
		return
	}
	text(w, http.StatusOK, "ok")
}

// handleQuit stops the child, as Istio's and Linkerd's /quitquitquit: a Job's
// main container calls it when it is done, so that the sidecar exits too.
func (s *Supervisor) handleQuit(w http.ResponseWriter, r *http.Request) {
	s.m.reqQuit.Inc()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		text(w, http.StatusMethodNotAllowed, "method not allowed: use POST")
		return
	}
	if !isLoopback(r.RemoteAddr) {
		text(w, http.StatusForbidden, "forbidden: only a client in the pod (loopback) may stop it")
		return
	}
	select {
	case s.quit <- "POST /quitquitquit":
	default: // a stop is already on its way
	}
	text(w, http.StatusOK, "stopping")
}

// isLoopback reports whether a RemoteAddr is a loopback address.
func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.Unmap().IsLoopback()
}
