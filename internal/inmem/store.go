// Package inmem is an in-memory [teleconsult.Store], with the same
// semantics as the SQL store but nothing durable. Tests of the domain and of
// the HTTP API use it; a deployment never does.
package inmem

import (
	"context"
	"slices"
	"sync"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Store keeps teleconsultations in memory. The zero value is not usable;
// call [NewStore].
type Store struct {
	mu      sync.Mutex
	tcs     map[string]*teleconsult.Teleconsultation
	userMap map[[2]string]string // (provider, user id) → provider user id
	outbox  outbox
	// Commits counts successful Apply calls.
	Commits int
}

var _ teleconsult.Store = (*Store)(nil)

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{tcs: map[string]*teleconsult.Teleconsultation{}, userMap: map[[2]string]string{}}
}

func live(tc *teleconsult.Teleconsultation) bool { return !tc.State.Final() }

// Apply implements [teleconsult.Store.Apply].
func (s *Store) Apply(_ context.Context, ch teleconsult.Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]*teleconsult.Teleconsultation, len(ch.Create)+len(ch.Update))
	for _, tc := range ch.Update {
		cur, ok := s.tcs[tc.ID]
		if !ok || cur.Version != tc.Version {
			return teleconsult.Errorf(teleconsult.ECONFLICT, "teleconsultation %s was changed concurrently; retry", tc.ID)
		}
		next[tc.ID] = tc
	}
	for _, tc := range ch.Create {
		if _, ok := s.tcs[tc.ID]; ok {
			return teleconsult.Errorf(teleconsult.ECONFLICT, "teleconsultation %s already exists", tc.ID)
		}
		next[tc.ID] = tc
	}
	// Appointment uniqueness over live teleconsultations, after the change.
	appt := map[string]string{}
	for id, tc := range s.tcs {
		if n, ok := next[id]; ok {
			tc = n
		}
		if tc.AppointmentID != "" && live(tc) {
			appt[tc.AppointmentID] = id
		}
	}
	for _, m := range ch.Outbox {
		if _, ok := s.tcs[m.TeleconsultationID]; !ok && next[m.TeleconsultationID] == nil {
			return teleconsult.Errorf(teleconsult.EINTERNAL, "outbox message for unknown teleconsultation %s", m.TeleconsultationID)
		}
	}
	for id, tc := range next {
		if tc.AppointmentID != "" && live(tc) {
			if other, ok := appt[tc.AppointmentID]; ok && other != id {
				return teleconsult.Errorf(teleconsult.ECONFLICT, "another live teleconsultation has this appointment")
			}
			appt[tc.AppointmentID] = id
		}
	}
	for _, tc := range next {
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
		s.tcs[tc.ID] = tc.Clone()
	}
	for _, tc := range ch.Update {
		tc.Version++
		s.tcs[tc.ID] = tc.Clone()
	}
	s.outbox.add(ch.Outbox)
	s.Commits++
	return nil
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
		if tc.AppointmentID == appointmentID && live(tc) {
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
			if slices.Equal(p.LinkHash, hash) {
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
