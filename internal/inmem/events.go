package inmem

import (
	"context"
	"sync"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Events is an in-memory [teleconsult.ProviderEvents] over a [Store], with
// the same semantics as the SQL store's.
type Events struct {
	store *Store

	mu       sync.Mutex
	claimed  map[[2]string]time.Time // (provider, event id) → received at
	presence map[[3]string]presence  // (provider, room, session)
}

// presence is a session's state in a room, as of when it was recorded.
type presence struct {
	in bool
	at time.Time
}

// Retention of the webhook bookkeeping, as in the SQL store: event ids for
// a week, presence for two days.
const (
	eventRetention    = 7 * 24 * time.Hour
	presenceRetention = 48 * time.Hour
)

var _ teleconsult.ProviderEvents = (*Events)(nil)

// NewEvents returns the provider event store of s.
func NewEvents(s *Store) *Events {
	return &Events{store: s, claimed: map[[2]string]time.Time{}, presence: map[[3]string]presence{}}
}

// FindByProviderRoom implements [teleconsult.ProviderEvents.FindByProviderRoom].
func (e *Events) FindByProviderRoom(_ context.Context, provider, room string) (*teleconsult.Teleconsultation, error) {
	s := e.store
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tc := range s.tcs {
		if room != "" && tc.Provider == provider && tc.ProviderRoomID == room {
			return tc.Clone(), nil
		}
	}
	return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "no teleconsultation has this room")
}

// ClaimEvent implements [teleconsult.ProviderEvents.ClaimEvent]. Event ids
// older than a week, and presence older than two days, are pruned.
func (e *Events) ClaimEvent(_ context.Context, provider, id string, at time.Time) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, t := range e.claimed {
		if t.Before(at.Add(-eventRetention)) {
			delete(e.claimed, k)
		}
	}
	for k, p := range e.presence {
		if p.at.Before(at.Add(-presenceRetention)) {
			delete(e.presence, k)
		}
	}
	k := [2]string{provider, id}
	if _, ok := e.claimed[k]; ok {
		return false, nil
	}
	e.claimed[k] = at
	return true, nil
}

// ReleaseEvent implements [teleconsult.ProviderEvents.ReleaseEvent].
func (e *Events) ReleaseEvent(_ context.Context, provider, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.claimed, [2]string{provider, id})
	return nil
}

// Presence implements [teleconsult.ProviderEvents.Presence]: a join is
// recorded once, a leave always (and wins over a later join).
func (e *Events) Presence(_ context.Context, provider, room, session string, present bool, at time.Time) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := [3]string{provider, room, session}
	if _, seen := e.presence[k]; !present || !seen {
		e.presence[k] = presence{in: present, at: at}
	}
	n := 0
	for pk, p := range e.presence {
		if p.in && pk[0] == provider && pk[1] == room {
			n++
		}
	}
	return n, nil
}

// ClearPresence implements [teleconsult.ProviderEvents.ClearPresence].
func (e *Events) ClearPresence(_ context.Context, provider, room string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.presence {
		if k[0] == provider && k[1] == room {
			delete(e.presence, k)
		}
	}
	return nil
}
