// Package inmem is an in-memory [teleconsult.Store], with the same
// semantics as the SQL store but nothing durable. Tests of the domain and of
// the HTTP API use it; a deployment never does.
package inmem

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Store keeps teleconsultations in memory. The zero value is not usable;
// call [NewStore].
type Store struct {
	mu      sync.Mutex
	tcs     map[string]*teleconsult.Teleconsultation
	userMap map[[2]string]string // (provider, user id) → provider user id
	outbox  outbox
	hooks   hookbox
	audit   audit
	// Commits counts successful Apply calls.
	Commits int
}

var _ teleconsult.Store = (*Store)(nil)

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{tcs: map[string]*teleconsult.Teleconsultation{}, userMap: map[[2]string]string{}}
}

func live(tc *teleconsult.Teleconsultation) bool { return !tc.State.Final() }

// Apply implements [teleconsult.Store.Apply], with the SQL store's checks
// and errors: EINTERNAL for a change the store cannot hold (nil, no id, a
// derived state, a participant without a user id, an incomplete outbox
// message), ENOTFOUND for an update of an unknown teleconsultation,
// ECONFLICT for a stale version or a uniqueness violation (ids, a live
// appointment, a user twice in one teleconsultation, link hashes). On
// success the written structs are set to what was stored, as the SQL
// store does: Version, ProviderUserID and times in UTC truncated to
// microseconds.
func (s *Store) Apply(_ context.Context, ch teleconsult.Change) error {
	if err := check(ch); err != nil {
		return err
	}
	if len(ch.Create) == 0 && len(ch.Update) == 0 && len(ch.Outbox) == 0 && len(ch.Webhooks) == 0 && len(ch.Audit) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]*teleconsult.Teleconsultation, len(ch.Create)+len(ch.Update))
	for _, tc := range ch.Update {
		cur, ok := s.tcs[tc.ID]
		if !ok {
			return teleconsult.Errorf(teleconsult.ENOTFOUND, "teleconsultation %s not found", tc.ID)
		}
		if cur.Version != tc.Version || next[tc.ID] != nil {
			return teleconsult.Errorf(teleconsult.ECONFLICT, "teleconsultation %s was changed concurrently; retry", tc.ID)
		}
		next[tc.ID] = tc
	}
	for _, tc := range ch.Create {
		if _, ok := s.tcs[tc.ID]; ok || next[tc.ID] != nil {
			return teleconsult.Errorf(teleconsult.ECONFLICT, "teleconsultation %s cannot be created: its id is taken", tc.ID)
		}
		next[tc.ID] = tc
	}
	// Uniqueness over the stored teleconsultations after the change: one
	// live one per appointment, one link hash per participant.
	appt := map[string]string{}
	links := map[string]string{}
	for id, tc := range s.tcs {
		if next[id] != nil {
			continue
		}
		if tc.AppointmentID != "" && live(tc) {
			appt[tc.AppointmentID] = id
		}
		for _, p := range tc.Participants {
			if len(p.LinkHash) > 0 {
				links[string(p.LinkHash)] = id
			}
		}
	}
	for _, m := range ch.Webhooks {
		if _, ok := s.tcs[m.TeleconsultationID]; !ok && next[m.TeleconsultationID] == nil {
			return teleconsult.Errorf(teleconsult.EINTERNAL, "webhook event for unknown teleconsultation %s", m.TeleconsultationID)
		}
	}
	for id, tc := range next {
		if tc.AppointmentID != "" && live(tc) {
			if _, ok := appt[tc.AppointmentID]; ok {
				return teleconsult.Errorf(teleconsult.ECONFLICT, "teleconsultation %s cannot be created: its appointment already has a live teleconsultation; retry", id)
			}
			appt[tc.AppointmentID] = id
		}
		users := map[string]bool{}
		for _, p := range tc.Participants {
			_, taken := links[string(p.LinkHash)]
			if users[p.UserID] || len(p.LinkHash) > 0 && taken {
				return teleconsult.Errorf(teleconsult.ECONFLICT, "teleconsultation %s: a participant's user id or personal link is already stored", id)
			}
			users[p.UserID] = true
			if len(p.LinkHash) > 0 {
				links[string(p.LinkHash)] = id
			}
		}
	}
	for _, m := range ch.Outbox {
		if next[m.TeleconsultationID] == nil && s.tcs[m.TeleconsultationID] == nil {
			return teleconsult.Errorf(teleconsult.EINTERNAL, "outbox message for unknown teleconsultation %s", m.TeleconsultationID)
		}
	}
	// The user-id map in the SQL store's order: updates by id, then
	// creates; the first candidate of a user wins.
	order := slices.Clone(ch.Update)
	slices.SortStableFunc(order, func(a, b *teleconsult.Teleconsultation) int { return strings.Compare(a.ID, b.ID) })
	for _, tc := range append(order, ch.Create...) {
		for i := range tc.Participants {
			p := &tc.Participants[i]
			key := [2]string{tc.Provider, p.UserID}
			if id, ok := s.userMap[key]; ok {
				p.ProviderUserID = id
			} else if p.ProviderUserID != "" {
				s.userMap[key] = p.ProviderUserID
			}
		}
	}
	for _, tc := range ch.Create {
		tc.Version = 1
		normalize(tc)
		s.tcs[tc.ID] = tc.Clone()
	}
	for _, tc := range ch.Update {
		tc.Version++
		normalize(tc)
		s.tcs[tc.ID] = tc.Clone()
	}
	s.outbox.add(ch.Outbox)
	s.hooks.add(ch.Webhooks)
	s.audit.append(ch.Audit)
	s.Commits++
	return nil
}

// check refuses a change that the SQL store refuses before its
// transaction.
func check(ch teleconsult.Change) error {
	for _, list := range [][]*teleconsult.Teleconsultation{ch.Update, ch.Create} {
		for _, tc := range list {
			if tc == nil {
				return teleconsult.Errorf(teleconsult.EINTERNAL, "inmem: nil teleconsultation in a change")
			}
			if tc.ID == "" {
				return teleconsult.Errorf(teleconsult.EINTERNAL, "inmem: teleconsultation without id")
			}
			if !tc.State.Stored() {
				return teleconsult.Errorf(teleconsult.EINTERNAL, "inmem: teleconsultation %s: state %s is not stored", tc.ID, tc.State)
			}
			for j, p := range tc.Participants {
				if p.UserID == "" {
					return teleconsult.Errorf(teleconsult.EINTERNAL, "inmem: teleconsultation %s: participant %d has no user id", tc.ID, j)
				}
			}
		}
	}
	for i, m := range ch.Outbox {
		if m.TeleconsultationID == "" || m.UserID == "" || m.Kind == teleconsult.InvitationUnknown || m.Status == teleconsult.DeliveryUnknown {
			return teleconsult.Errorf(teleconsult.EINTERNAL, "inmem: outbox message %d is incomplete", i)
		}
	}
	if err := checkHooks(ch.Webhooks); err != nil {
		return err
	}
	return teleconsult.CheckAuditEntries(ch.Audit)
}

// checkHooks refuses incomplete webhook events, as the SQL store does.
func checkHooks(msgs []teleconsult.WebhookMessage) error {
	for i, m := range msgs {
		if m.Endpoint == "" || m.EventID == "" || m.Type == "" || m.TeleconsultationID == "" || len(m.Payload) == 0 || m.Status == teleconsult.DeliveryUnknown {
			return teleconsult.Errorf(teleconsult.EINTERNAL, "inmem: webhook event %d is incomplete", i)
		}
	}
	return nil
}

// normTime is how the SQL store keeps times: UTC, truncated to
// microseconds.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// normalize sets tc's times to what the SQL store would give back.
func normalize(tc *teleconsult.Teleconsultation) {
	tc.StartDate, tc.EndDate = normTime(tc.StartDate), normTime(tc.EndDate)
	tc.CreatedAt, tc.UpdatedAt = normTime(tc.CreatedAt), normTime(tc.UpdatedAt)
	tc.CallStartedAt, tc.CallEndedAt = normTime(tc.CallStartedAt), normTime(tc.CallEndedAt)
	tc.CallFirstStartedAt = normTime(tc.CallFirstStartedAt)
	tc.CallUsed = tc.CallUsed.Truncate(time.Microsecond)
	for j := range tc.Participants {
		tc.Participants[j].RemovedAt = normTime(tc.Participants[j].RemovedAt)
	}
}

// FindByID implements [teleconsult.Store.FindByID].
func (s *Store) FindByID(_ context.Context, id string) (*teleconsult.Teleconsultation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tc, ok := s.tcs[id]
	if !ok {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "teleconsultation %s not found", id)
	}
	return tc.Clone(), nil
}

// FindByAppointment implements [teleconsult.Store.FindByAppointment].
func (s *Store) FindByAppointment(_ context.Context, appointmentID string) (*teleconsult.Teleconsultation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tc := range s.tcs {
		if appointmentID != "" && tc.AppointmentID == appointmentID && live(tc) {
			return tc.Clone(), nil
		}
	}
	return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "no live teleconsultation for this appointment")
}

// FindByLinkHash implements [teleconsult.Store.FindByLinkHash].
func (s *Store) FindByLinkHash(_ context.Context, hash []byte) (*teleconsult.Teleconsultation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tc := range s.tcs {
		for _, p := range tc.Participants {
			if len(hash) > 0 && slices.Equal(p.LinkHash, hash) {
				return tc.Clone(), nil
			}
		}
	}
	return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "unknown link")
}

// ProviderUsers implements [teleconsult.Store.ProviderUsers].
func (s *Store) ProviderUsers(_ context.Context, provider string, userIDs []string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for _, u := range userIDs {
		if id, ok := s.userMap[[2]string{provider, u}]; ok {
			out[u] = id
		}
	}
	return out, nil
}

// EnsureProviderUser implements [teleconsult.Store.EnsureProviderUser].
func (s *Store) EnsureProviderUser(_ context.Context, provider, userID, candidate string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := [2]string{provider, userID}
	if id, ok := s.userMap[key]; ok {
		return id, nil
	}
	s.userMap[key] = candidate
	return candidate, nil
}

// CountByState implements [teleconsult.Store.CountByState].
func (s *Store) CountByState(context.Context) (map[teleconsult.State]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[teleconsult.State]int{}
	for _, tc := range s.tcs {
		out[tc.State]++
	}
	return out, nil
}

// Ping implements [teleconsult.Store.Ping].
func (s *Store) Ping(context.Context) error { return nil }

// KnownUser implements [teleconsult.Store.KnownUser].
func (s *Store) KnownUser(_ context.Context, userID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tc := range s.tcs {
		if !live(tc) {
			continue
		}
		for _, p := range tc.Participants {
			if p.UserID == userID && p.Active() {
				return true, nil
			}
		}
	}
	return false, nil
}
