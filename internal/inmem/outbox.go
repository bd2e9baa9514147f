package inmem

import (
	"context"
	"slices"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// outbox holds the messages of [Store]; guarded by Store.mu.
type outbox struct {
	msgs    []teleconsult.OutboxMessage // in id order
	claimed map[int64]time.Time         // id → claimed until
	lastID  int64
}

// add appends messages, setting their ids in place.
func (o *outbox) add(msgs []teleconsult.OutboxMessage) {
	for i := range msgs {
		o.lastID++
		msgs[i].ID = o.lastID
		m := msgs[i]
		m.StartDate, m.EndDate, m.CreatedAt = normTime(m.StartDate), normTime(m.EndDate), normTime(m.CreatedAt)
		m.NextAttemptAt, m.SentAt, m.UpdatedAt = normTime(m.NextAttemptAt), normTime(m.SentAt), normTime(m.UpdatedAt)
		o.msgs = append(o.msgs, m)
	}
}

// ClaimOutbox implements [teleconsult.OutboxStore.ClaimOutbox].
func (s *Store) ClaimOutbox(_ context.Context, now time.Time, lease time.Duration, limit int) ([]teleconsult.OutboxMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &s.outbox
	// One message at a time per (teleconsultation, user).
	return claim(o.msgs, &o.claimed, now, lease, limit, func(m *teleconsult.OutboxMessage) queued {
		return queued{m.ID, m.Status, [2]string{m.TeleconsultationID, m.UserID}, m.NextAttemptAt}
	}), nil
}

// queued is what claim needs to know of a queued message.
type queued struct {
	id     int64
	status teleconsult.DeliveryStatus
	group  [2]string // only the oldest pending message of a group is claimed
	next   time.Time // not before
}

// claim claims up to limit of msgs (in id order) until now+lease, as the
// SQL store does: pending, due, not claimed by another worker, and the
// oldest pending one of its group. claimed maps ids to the end of their
// lease.
func claim[M any](msgs []M, claimed *map[int64]time.Time, now time.Time, lease time.Duration, limit int, of func(*M) queued) []M {
	if *claimed == nil {
		*claimed = map[int64]time.Time{}
	}
	var out []M
	blocked := map[[2]string]bool{} // groups with an older pending message
	for i := range msgs {
		q := of(&msgs[i])
		if q.status != teleconsult.DeliveryPending {
			continue
		}
		if blocked[q.group] {
			continue
		}
		blocked[q.group] = true
		if len(out) >= limit || q.next.After(now) || (*claimed)[q.id].After(now) {
			continue
		}
		(*claimed)[q.id] = now.Add(lease)
		out = append(out, msgs[i])
	}
	return out
}

// MarkOutbox implements [teleconsult.OutboxStore.MarkOutbox].
func (s *Store) MarkOutbox(_ context.Context, m *teleconsult.OutboxMessage) error {
	if m.Status == teleconsult.DeliveryUnknown {
		return teleconsult.Errorf(teleconsult.EINTERNAL, "inmem: outbox message %d: no status", m.ID)
	}
	if err := checkHooks(m.Emit); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &s.outbox
	i := slices.IndexFunc(o.msgs, func(x teleconsult.OutboxMessage) bool { return x.ID == m.ID })
	if i < 0 {
		return teleconsult.Errorf(teleconsult.ENOTFOUND, "outbox message %d not found", m.ID)
	}
	x := &o.msgs[i]
	x.Status, x.Attempts, x.NextAttemptAt, x.LastError = m.Status, m.Attempts, normTime(m.NextAttemptAt), m.LastError
	x.SentAt, x.UpdatedAt = normTime(m.SentAt), normTime(m.UpdatedAt)
	delete(o.claimed, m.ID)
	s.hooks.add(m.Emit)
	return nil
}

// FindOutbox implements [teleconsult.OutboxStore.FindOutbox].
func (s *Store) FindOutbox(_ context.Context, teleconsultationID string) ([]teleconsult.OutboxMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []teleconsult.OutboxMessage
	for _, m := range s.outbox.msgs {
		if m.TeleconsultationID == teleconsultationID {
			out = append(out, m)
		}
	}
	return out, nil
}

// RecoverOutbox implements [teleconsult.OutboxStore.RecoverOutbox]: an
// in-memory store belongs to one process, so every claim is released.
func (s *Store) RecoverOutbox(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.outbox.claimed)
	clear(s.outbox.claimed)
	return n, nil
}

// Outbox returns a copy of every outbox message, in id order (for tests).
func (s *Store) Outbox() []teleconsult.OutboxMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.outbox.msgs)
}

// OutboxStats implements [teleconsult.OutboxStore.OutboxStats].
func (s *Store) OutboxStats(context.Context) ([]teleconsult.OutboxCount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type group struct {
		kind   teleconsult.InvitationKind
		status teleconsult.DeliveryStatus
	}
	at := map[group]int{}
	var out []teleconsult.OutboxCount
	for _, m := range s.outbox.msgs {
		if m.Status == teleconsult.DeliverySent {
			continue
		}
		g := group{m.Kind, m.Status}
		i, ok := at[g]
		if !ok {
			i = len(out)
			at[g] = i
			out = append(out, teleconsult.OutboxCount{Kind: m.Kind, Status: m.Status, Oldest: m.CreatedAt})
		}
		out[i].Count++
		if m.CreatedAt.Before(out[i].Oldest) {
			out[i].Oldest = m.CreatedAt
		}
	}
	return out, nil
}
