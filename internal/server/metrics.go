package server

import (
	"strconv"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are keepclear's Prometheus metrics, on an injected registry. It
// is also the ingest pipeline's Observer.
type Metrics struct {
	fixes     *prometheus.CounterVec
	events    *prometheus.CounterVec
	check     prometheus.Histogram
	write     *prometheus.HistogramVec
	requests  *prometheus.HistogramVec
	wsClients prometheus.Gauge
}

// Gauges read at scrape time.
type Gauges struct {
	OpenVisits func() float64
	Devices    func() float64
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer, g Gauges) *Metrics {
	m := &Metrics{
		fixes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keepclear_fixes_ingested_total",
			Help: "Fixes received, by agency and result: used (accepted, van), dropped by detection (duplicate, out_of_order, jump), or refused (too_old, future, no_position, invalid, decrypt_failed, malformed)."}, []string{"agency", "result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keepclear_events_total",
			Help: "Boundary events stored, by kind and breach."}, []string{"kind", "breach"}),
		check: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "keepclear_check_duration_seconds",
			Help: "Time to run one ingest batch through the detection engine.", Buckets: prometheus.ExponentialBuckets(1e-5, 4, 10)}),
		write: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "keepclear_store_write_duration_seconds",
			Help: "Time to commit one group of batches to the store.", Buckets: prometheus.ExponentialBuckets(1e-4, 4, 10)}, []string{"result"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "keepclear_http_request_duration_seconds",
			Help: "HTTP requests by route template, method and status.", Buckets: prometheus.ExponentialBuckets(1e-4, 4, 10)}, []string{"route", "method", "status"}),
		wsClients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "keepclear_websocket_clients", Help: "Connected live-map WebSocket clients."}),
	}
	reg.MustRegister(m.fixes, m.events, m.check, m.write, m.requests, m.wsClients)
	if g.OpenVisits != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "keepclear_open_visits", Help: "Visits open now."}, g.OpenVisits))
	}
	if g.Devices != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "keepclear_tracked_devices", Help: "Devices with state in memory."}, g.Devices))
	}
	return m
}

// Fixes counts a batch's fixes by detection outcome; rejected ones (the
// ingest.Observer's reading) as "invalid". The server itself counts
// refusals by reason with Refused.
func (m *Metrics) Fixes(agency string, outcomes map[monitor.Outcome]int, rejected int) {
	for o, n := range outcomes {
		m.fixes.WithLabelValues(agency, o.String()).Add(float64(n))
	}
	m.Refused(agency, "invalid", rejected)
}

// Refused counts records refused before detection, by reason.
func (m *Metrics) Refused(agency, result string, n int) {
	if n > 0 {
		m.fixes.WithLabelValues(agency, result).Add(float64(n))
	}
}

// Events counts stored events.
func (m *Metrics) Events(evs []event.Event) {
	for i := range evs {
		m.events.WithLabelValues(string(evs[i].Kind), strconv.FormatBool(evs[i].Breach)).Inc()
	}
}

// CheckDuration observes the engine's time for a batch.
func (m *Metrics) CheckDuration(d time.Duration) { m.check.Observe(d.Seconds()) }

// WriteDuration observes a store commit.
func (m *Metrics) WriteDuration(d time.Duration, err error) {
	res := "ok"
	if err != nil {
		res = "error"
	}
	m.write.WithLabelValues(res).Observe(d.Seconds())
}

func (m *Metrics) request(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}
