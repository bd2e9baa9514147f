package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// metrics are the server's Prometheus metrics.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	exchanges *prometheus.CounterVec
	handler   http.Handler
}

func newMetrics(reg *prometheus.Registry, svc *teleconsult.Service, log *slog.Logger) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teleconsult_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "teleconsult_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by route pattern and method; upgraded connections (WebSockets) are not requests here: see teleconsult_sfu_connection_duration_seconds.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		exchanges: newExchangeCounter(),
	}
	states := &stateCollector{
		store: svc.Store,
		log:   log,
		desc: prometheus.NewDesc("teleconsult_teleconsultations",
			"Teleconsultations by stored state, counted at scrape time.", []string{"state"}, nil),
	}
	outbox := newOutboxCollector(svc, log)
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.exchanges, states, outbox, newReadyCollector(svc)} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("httpapi: register metrics: %w", err)
		}
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{log},
		ErrorHandling: promhttp.ContinueOnError,
	})
	return m, nil
}

// observe records a served request. A connection handed over (101
// Switching Protocols: a WebSocket) is counted but its lifetime is not a
// request's latency and stays out of the histogram.
func (m *metrics) observe(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	if status == http.StatusSwitchingProtocols {
		return
	}
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}

// stateCollector reports teleconsult_teleconsultations{state}: one series
// per state that can be stored, 0 when there is none in it.
type stateCollector struct {
	store teleconsult.Store
	log   *slog.Logger
	desc  *prometheus.Desc
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.store.CountByState(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, st := range teleconsult.States {
		if st.Stored() {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[st]), st.String())
		}
	}
}

// promLogger sends promhttp's errors to slog.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn("metrics", "err", fmt.Sprint(v...)) }
