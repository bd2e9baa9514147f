package inmem

import (
	"context"
	"slices"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// hookbox holds the webhook events of [Store]; guarded by Store.mu.
type hookbox struct {
	msgs    []teleconsult.WebhookMessage // in id order
	claimed map[int64]time.Time
	lastID  int64
}

// add appends events, setting their ids in place.
func (o *hookbox) add(msgs []teleconsult.WebhookMessage) {
	for i := range msgs {
		o.lastID++
		msgs[i].ID = o.lastID
		m := msgs[i]
		m.Payload = slices.Clone(m.Payload)
		m.CreatedAt, m.NextAttemptAt, m.UpdatedAt = normTime(m.CreatedAt), normTime(m.NextAttemptAt), normTime(m.UpdatedAt)
		m.SentAt = normTime(m.SentAt)
		o.msgs = append(o.msgs, m)
	}
}

// ClaimWebhooks implements [teleconsult.WebhookStore.ClaimWebhooks].
func (s *Store) ClaimWebhooks(_ context.Context, now time.Time, lease time.Duration, limit int) ([]teleconsult.WebhookMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &s.hooks
	// One event at a time per (teleconsultation, receiver).
	return claim(o.msgs, &o.claimed, now, lease, limit, func(m *teleconsult.WebhookMessage) queued {
		return queued{m.ID, m.Status, [2]string{m.TeleconsultationID, m.Endpoint}, m.NextAttemptAt}
	}), nil
}

// MarkWebhook implements [teleconsult.WebhookStore.MarkWebhook].
func (s *Store) MarkWebhook(_ context.Context, m *teleconsult.WebhookMessage) error {
	if m.Status == teleconsult.DeliveryUnknown {
		return teleconsult.Errorf(teleconsult.EINTERNAL, "inmem: webhook event %d: no status", m.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &s.hooks
	i := slices.IndexFunc(o.msgs, func(x teleconsult.WebhookMessage) bool { return x.ID == m.ID })
	if i < 0 {
		return teleconsult.Errorf(teleconsult.ENOTFOUND, "webhook event %d not found", m.ID)
	}
	x := &o.msgs[i]
	x.Status, x.Attempts, x.NextAttemptAt, x.LastStatus, x.LastError = m.Status, m.Attempts, normTime(m.NextAttemptAt), m.LastStatus, m.LastError
	x.SentAt, x.UpdatedAt = normTime(m.SentAt), normTime(m.UpdatedAt)
	delete(o.claimed, m.ID)
	return nil
}

// FindWebhooks implements [teleconsult.WebhookStore.FindWebhooks].
func (s *Store) FindWebhooks(_ context.Context, teleconsultationID string) ([]teleconsult.WebhookMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []teleconsult.WebhookMessage
	for _, m := range s.hooks.msgs {
		if m.TeleconsultationID == teleconsultationID {
			out = append(out, m)
		}
	}
	return out, nil
}

// RecoverWebhooks implements [teleconsult.WebhookStore.RecoverWebhooks].
func (s *Store) RecoverWebhooks(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.hooks.claimed)
	clear(s.hooks.claimed)
	return n, nil
}

// Webhooks returns a copy of every webhook event, in id order (for tests).
func (s *Store) Webhooks() []teleconsult.WebhookMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hooks.msgs)
}
