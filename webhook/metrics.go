package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the webhook's, on a registry of its own.
type metrics struct {
	reg        *prometheus.Registry
	reviews    map[string]prometheus.Counter // by result
	duration   prometheus.Observer
	certLoads  map[bool]prometheus.Counter // by success
	certExpiry prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), reviews: map[string]prometheus.Counter{}, certLoads: map[bool]prometheus.Counter{}}
	reviews := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podseq_webhook_reviews_total",
		Help: "Admission reviews answered, by result: patched (ordered), unchanged (nothing to do), warned (admitted with a warning, ordered or not), denied (strict), error (not a review of a pod's creation, or an error of the webhook's).",
	}, []string{"result"})
	for _, r := range Results {
		m.reviews[r] = reviews.WithLabelValues(r)
	}
	m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "podseq_webhook_review_duration_seconds",
		Help:    "Time to answer an admission review, from the request's headers to the answer written.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	loads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podseq_webhook_certificate_loads_total",
		Help: "Loads of the serving certificate from the certificate directory, by result (success, failure: the previous one is kept).",
	}, []string{"result"})
	m.certLoads[true] = loads.WithLabelValues("success")
	m.certLoads[false] = loads.WithLabelValues("failure")
	m.certExpiry = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "podseq_webhook_certificate_expiry_timestamp_seconds",
		Help: "When the certificate being served expires (its NotAfter), in seconds since the epoch.",
	})
	m.reg.MustRegister(reviews, m.duration.(prometheus.Collector), loads, m.certExpiry,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
