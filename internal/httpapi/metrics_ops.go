package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// exchangeOutcomes are the values of the outcome label of
// teleconsult_link_exchanges_total (POST /sessions): ok, the reason of a
// refusal from the one table of reasons ([teleconsult.Refusals]:
// unauthorized for an unknown link, not-open, revoked, cancelled,
// rescheduled, ended, …), or what the request met before or instead of
// the rules.
func exchangeOutcomes() []string {
	out := []string{"ok"}
	for _, ref := range teleconsult.Refusals() {
		out = append(out, string(ref.Reason))
	}
	return append(out, "rate-limited", "bad-request", "conflict", "unavailable", "error")
}

func newExchangeCounter() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "teleconsult_link_exchanges_total",
		Help: "Personal links traded for a session (POST /sessions), by outcome: ok, the refusal's reason, or rate-limited, bad-request, conflict, unavailable, error.",
	}, []string{"outcome"})
	for _, o := range exchangeOutcomes() {
		c.WithLabelValues(o)
	}
	return c
}

// countExchange wraps the POST /sessions handler: each answer is counted by
// outcome.
func (s *Server) countExchange(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		err := h(w, r)
		s.metrics.exchanges.WithLabelValues(exchangeOutcome(err)).Inc()
		return err
	}
}

// exchangeOutcome classifies the error of POST /sessions.
func exchangeOutcome(err error) string {
	if err == nil {
		return "ok"
	}
	if ref, ok := teleconsult.ReasonOf(err).Refusal(); ok {
		return string(ref.Reason)
	}
	var he *httpError
	if errors.As(err, &he) {
		switch {
		case he.status == http.StatusTooManyRequests:
			return "rate-limited"
		case he.status < 500:
			return "bad-request"
		}
		return "error"
	}
	switch teleconsult.ErrorCode(err) {
	case teleconsult.EINVALID, teleconsult.ETOOLARGE:
		return "bad-request"
	case teleconsult.ERATELIMIT:
		return "rate-limited"
	case teleconsult.ECONFLICT:
		return "conflict"
	case teleconsult.EUNAVAILABLE:
		return "unavailable"
	}
	return "error"
}

// outboxCollector reports the outbox at scrape time, from
// [teleconsult.OutboxStore.OutboxStats]: messages pending and failed by
// kind, and the age of the oldest pending message by kind. With several
// replicas on one database, each reports the same figures (aggregate with
// max).
type outboxCollector struct {
	store    teleconsult.Store
	log      *slog.Logger
	now      func() time.Time
	messages *prometheus.Desc
	oldest   *prometheus.Desc
}

func newOutboxCollector(svc *teleconsult.Service, log *slog.Logger) *outboxCollector {
	now := svc.Now
	if now == nil {
		now = time.Now
	}
	return &outboxCollector{
		store: svc.Store, log: log, now: now,
		messages: prometheus.NewDesc("teleconsult_outbox_messages",
			"Invitation messages not sent, by kind and status: pending (queued or waiting for a retry) and failed (given up: delivery failures).",
			[]string{"kind", "status"}, nil),
		oldest: prometheus.NewDesc("teleconsult_outbox_oldest_pending_age_seconds",
			"Age of the oldest pending invitation message, by kind; 0 when none is pending.", []string{"kind"}, nil),
	}
}

// Describe implements [prometheus.Collector].
func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.messages
	ch <- c.oldest
}

var (
	outboxKinds    = []teleconsult.InvitationKind{teleconsult.InvitationInvite, teleconsult.InvitationUpdate, teleconsult.InvitationCancel}
	outboxStatuses = []teleconsult.DeliveryStatus{teleconsult.DeliveryPending, teleconsult.DeliveryFailed}
)

// Collect implements [prometheus.Collector]: one series per kind and
// status, 0 when there is none.
func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := c.store.OutboxStats(ctx)
	if err != nil {
		c.log.Warn("metrics: outbox", "err", err)
		ch <- prometheus.NewInvalidMetric(c.messages, err)
		ch <- prometheus.NewInvalidMetric(c.oldest, err)
		return
	}
	now := c.now()
	for _, k := range outboxKinds {
		for _, st := range outboxStatuses {
			n := 0
			var oldest time.Time
			for _, g := range stats {
				if g.Kind == k && g.Status == st {
					n, oldest = g.Count, g.Oldest
				}
			}
			ch <- prometheus.MustNewConstMetric(c.messages, prometheus.GaugeValue, float64(n), k.String(), st.String())
			if st == teleconsult.DeliveryPending {
				age := 0.0
				if n > 0 {
					age = max(0, now.Sub(oldest).Seconds())
				}
				ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, k.String())
			}
		}
	}
}

// readyCollector reports teleconsult_ready at scrape time: 1 when the
// service is ready (its store answers, as for /readyz), 0 otherwise, so
// that an alert can say that no instance is ready.
type readyCollector struct {
	svc  *teleconsult.Service
	desc *prometheus.Desc
}

func newReadyCollector(svc *teleconsult.Service) *readyCollector {
	return &readyCollector{svc: svc, desc: prometheus.NewDesc("teleconsult_ready",
		"1 when this instance is ready (its database answers, as /readyz checks), 0 when not.", nil, nil)}
}

// Describe implements [prometheus.Collector].
func (c *readyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements [prometheus.Collector].
func (c *readyCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v := 0.0
	if c.svc.Ready(ctx) == nil {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v)
}
