package entrypoint

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/podseq/podseq/probes"
)

// metrics are the admin server's /metrics, on a private registry. Every
// labelled series is created up front, so that it reads 0 before it counts.
type metrics struct {
	reg         *prometheus.Registry
	ready       prometheus.Gauge
	timeToReady prometheus.Gauge
	targets     map[*probes.Target]targetMetrics

	pollReleased, pollTimedOut, pollCanceled, pollRejected, pollShutdown prometheus.Counter
	reqReady, reqHealthz, reqMetrics, reqQuit                            prometheus.Counter
	readyPlain, readyLongPoll                                            prometheus.Counter
}

type targetMetrics struct {
	success, failure prometheus.Counter
	duration         prometheus.Observer
}

func newMetrics(targets []*probes.Target, state *readiness) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), targets: map[*probes.Target]targetMetrics{}}
	m.ready = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "podseq_ready",
		Help: "1 when the supervised command is ready, else 0.",
	})
	m.timeToReady = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "podseq_time_to_ready_seconds",
		Help: "Seconds from podseq's start to the first time the command turned ready; 0 until then.",
	})
	attempts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podseq_probe_attempts_total",
		Help: "Readiness probe attempts by target and result (success or failure).",
	}, []string{"target", "result"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "podseq_probe_duration_seconds",
		Help:    "Duration of readiness probe attempts by target.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"target"})
	waiters := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "podseq_ready_waiters",
		Help: "Long polls of /ready?wait= held open now.",
	}, func() float64 { return float64(state.waiters.Load()) })
	polls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podseq_long_polls_total",
		Help: "Long polls of /ready?wait= that ended, by result: released (ready), timed_out, canceled (the client left), rejected (too many), shutdown.",
	}, []string{"result"})
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podseq_admin_requests_total",
		Help: "Requests to the admin server by handler (ready counts plain requests and long polls).",
	}, []string{"handler"})
	readyRequests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podseq_ready_requests_total",
		Help: "Requests to /ready by mode: plain (answered at once) or long_poll (with ?wait=, held until ready or the wait ends).",
	}, []string{"mode"})
	for _, t := range targets {
		m.targets[t] = targetMetrics{
			success:  attempts.WithLabelValues(t.Name, "success"),
			failure:  attempts.WithLabelValues(t.Name, "failure"),
			duration: duration.WithLabelValues(t.Name),
		}
	}
	m.pollReleased = polls.WithLabelValues("released")
	m.pollTimedOut = polls.WithLabelValues("timed_out")
	m.pollCanceled = polls.WithLabelValues("canceled")
	m.pollRejected = polls.WithLabelValues("rejected")
	m.pollShutdown = polls.WithLabelValues("shutdown")
	m.reqReady = requests.WithLabelValues("ready")
	m.readyPlain = readyRequests.WithLabelValues("plain")
	m.readyLongPoll = readyRequests.WithLabelValues("long_poll")
	m.reqHealthz = requests.WithLabelValues("healthz")
	m.reqMetrics = requests.WithLabelValues("metrics")
	m.reqQuit = requests.WithLabelValues("quitquitquit")
	m.reg.MustRegister(m.ready, m.timeToReady, attempts, duration, waiters, polls, requests, readyRequests,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe counts one probe attempt.
func (m *metrics) observe(a probes.Attempt) {
	tm, ok := m.targets[a.Target]
	if !ok {
		return
	}
	if a.Err == nil {
		tm.success.Inc()
	} else {
		tm.failure.Inc()
	}
	tm.duration.Observe(a.Duration.Seconds())
}
