package teleconsult

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"
)

// Defaults of the [WebhookOutbox] worker. With them a receiver may be down
// for about twelve hours before an event is given up: the waits double
// from 10 s to an hour, then stay at an hour, for 20 attempts.
const (
	DefaultHookBatch       = 20
	DefaultHookLease       = 2 * time.Minute
	DefaultHookBaseBackoff = 10 * time.Second
	DefaultHookMaxBackoff  = time.Hour
	DefaultHookMaxAttempts = 20
)

// WebhookDelivery is one attempt to deliver a [WebhookMessage]: what the
// [WebhookSender] signs and posts.
type WebhookDelivery struct {
	URL    string
	Secret []byte
	// ID is the webhook-id: the message's EventID.
	ID string
	// Timestamp is the webhook-timestamp: the attempt's time.
	Timestamp time.Time
	Body      []byte
	// Type and TeleconsultationID say what the event is about (a
	// [HookTarget] addresses its request with them).
	Type               WebhookEvent
	TeleconsultationID string
}

// WebhookError is what a [WebhookSender] returns when a receiver did not
// take an event. Any other error is a temporary failure.
type WebhookError struct {
	// Permanent: the receiver refused the event for good (a 4xx other than
	// 408 and 429); it is not retried.
	Permanent bool
	// Status is the HTTP status, 0 when there was no answer.
	Status int
	// Reason says what happened without the receiver's body: stored and
	// shown in the delivery state.
	Reason string
	Err    error
}

func (e *WebhookError) Error() string {
	if e.Err != nil {
		return "webhook: " + e.Reason + ": " + e.Err.Error()
	}
	return "webhook: " + e.Reason
}

func (e *WebhookError) Unwrap() error { return e.Err }

// WebhookSender signs and posts one event (the internal/webhook adapter).
// Send returns nil once the receiver answered 2xx.
type WebhookSender interface {
	Send(ctx context.Context, d *WebhookDelivery) error
}

// WebhookOutbox is the worker that delivers the events queued in the
// store's webhook outbox. Its rules: every committed event is delivered at
// least once, with the same webhook-id on every attempt; one visit's events
// reach one receiver in order (a later one waits until the earlier is
// delivered or given up); temporary failures (no answer, a time-out, 3xx,
// 408, 429, 5xx) are retried with exponential backoff up to MaxAttempts,
// and other 4xx fail at once with the status. A receiver that fails for
// now holds back its other due events, without counting an attempt, so
// that a receiver that is down costs one request per wait. Other receivers
// are not held back. API requests never wait for a receiver.
type WebhookOutbox struct {
	// Service gives the store, the receivers (Settings.Webhooks), the clock
	// and the logger. Required.
	Service *Service
	// Sender posts the events. Required.
	Sender WebhookSender

	// Tuning; zero means the DefaultHook* (and DefaultOutboxPoll) values.
	Batch       int
	Lease       time.Duration
	Poll        time.Duration
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	MaxAttempts int

	once sync.Once
	wake chan struct{}
}

func (o *WebhookOutbox) init() {
	o.once.Do(func() { o.wake = make(chan struct{}, 1) })
}

// wakeUp makes Run look for due events at once.
func (o *WebhookOutbox) wakeUp() {
	o.init()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Run delivers due events until ctx is done. It first recovers the claims
// of a previous process.
func (o *WebhookOutbox) Run(ctx context.Context) {
	o.init()
	log := o.Service.log()
	if n, err := o.Service.Store.RecoverWebhooks(ctx); err != nil {
		log.Error("webhooks: recovering claims", "err", err)
	} else if n > 0 {
		log.Warn("webhooks: events were being delivered when the service stopped; they are delivered again (same webhook-id)", "count", n)
	}
	ticker := time.NewTicker(orDefault(o.Poll, DefaultOutboxPoll))
	defer ticker.Stop()
	for {
		for ctx.Err() == nil {
			n, err := o.RunOnce(ctx)
			if err != nil {
				log.Error("webhooks", "err", err)
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-o.wake:
		}
	}
}

// RunOnce claims one batch of due events and tries each once; it returns
// how many it claimed. Tests call it with an injected clock.
func (o *WebhookOutbox) RunOnce(ctx context.Context) (int, error) {
	svc := o.Service
	now := svc.now()
	lease := orDefault(o.Lease, DefaultHookLease)
	msgs, err := svc.Store.ClaimWebhooks(ctx, now, lease, orDefault(o.Batch, DefaultHookBatch))
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	bg := context.WithoutCancel(ctx)
	down := map[string]*WebhookMessage{} // receivers that failed for now, with their failure
	var errs []error
	for i := range msgs {
		m := &msgs[i]
		if f := down[m.Endpoint]; f != nil || ctx.Err() != nil {
			// Give it back untried.
			at := svc.now()
			if f != nil {
				at, m.LastError, m.LastStatus = f.NextAttemptAt, f.LastError, f.LastStatus
			}
			m.NextAttemptAt, m.UpdatedAt = at, svc.now()
			errs = append(errs, svc.Store.MarkWebhook(bg, m))
			continue
		}
		ep := svc.webhookEndpoint(m.Endpoint)
		var sendErr error
		if ep != nil {
			sender := o.Sender
			if ep.Target != nil {
				sender = ep.Target
			}
			sctx, cancel := context.WithTimeout(bg, lease)
			sendErr = sender.Send(sctx, &WebhookDelivery{URL: ep.URL, Secret: ep.Secret, ID: m.EventID, Timestamp: svc.now(), Body: m.Payload,
				Type: m.Type, TeleconsultationID: m.TeleconsultationID})
			cancel()
		}
		m.Attempts++
		at := svc.now()
		m.UpdatedAt = at
		var we *WebhookError
		errors.As(sendErr, &we)
		m.LastStatus = 0
		if we != nil {
			m.LastStatus = we.Status
		}
		switch {
		case ep == nil:
			m.Status, m.LastError = DeliveryFailed, "the receiver "+m.Endpoint+" is no longer configured"
		case sendErr == nil:
			m.Status, m.LastError, m.SentAt = DeliverySent, "", at
		case we != nil && we.Permanent:
			m.Status, m.LastError = DeliveryFailed, we.Reason
		default:
			m.LastError = "the receiver could not be reached"
			if we != nil && we.Reason != "" {
				m.LastError = we.Reason
			}
			if m.Attempts >= orDefault(o.MaxAttempts, DefaultHookMaxAttempts) {
				m.Status = DeliveryFailed
				m.LastError += " (gave up after " + strconv.Itoa(m.Attempts) + " attempts)"
			} else {
				m.NextAttemptAt = at.Add(o.backoff(m.Attempts))
				down[m.Endpoint] = m
			}
		}
		if err := svc.Store.MarkWebhook(bg, m); err != nil {
			errs = append(errs, err)
			continue
		}
		o.logResult(m)
	}
	return len(msgs), errors.Join(errs...)
}

// backoff is the wait after the given number of failed attempts.
func (o *WebhookOutbox) backoff(attempts int) time.Duration {
	d := orDefault(o.BaseBackoff, DefaultHookBaseBackoff)
	limit := orDefault(o.MaxBackoff, DefaultHookMaxBackoff)
	for i := 1; i < attempts && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

func (o *WebhookOutbox) logResult(m *WebhookMessage) {
	log := o.Service.log()
	args := []any{"id", m.TeleconsultationID, "receiver", m.Endpoint, "event", string(m.Type), "webhook_id", m.EventID, "attempts", m.Attempts}
	switch m.Status {
	case DeliverySent:
		log.Info("webhook delivered", args...)
	case DeliveryFailed:
		log.Warn("webhook given up", append(args, "status", m.LastStatus, "reason", m.LastError)...)
	default:
		log.Warn("webhook not delivered; will retry", append(args, "status", m.LastStatus, "reason", m.LastError, "next_attempt_at", m.NextAttemptAt)...)
	}
}

// webhookEndpoint returns the configured receiver named name, or nil.
func (s *Service) webhookEndpoint(name string) *WebhookEndpoint {
	for i := range s.Settings.Webhooks {
		if s.Settings.Webhooks[i].Name == name {
			return &s.Settings.Webhooks[i]
		}
	}
	return nil
}
