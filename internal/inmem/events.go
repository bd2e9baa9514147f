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
	claimed  map[[2]string]time.Time // (provider, event id)
	presence map[[3]string]bool      // (provider, room, session) → present
}

var _ teleconsult.ProviderEvents = (*Events)(nil)

// NewEvents returns the provider event store of s.
func NewEvents(s *Store) *Events {
	return &Events{store: s, claimed: map[[2]string]time.Time{}, presence: map[[3]string]bool{}}
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

// ClaimEvent implements [teleconsult.ProviderEvents.ClaimEvent].
func (e *Events) ClaimEvent(_ context.Context, provider, id string, at time.Time) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
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

// Presence implements [teleconsult.ProviderEvents.Presence].
func (e *Events) Presence(_ context.Context, provider, room, session string, present bool, _ time.Time) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := [3]string{provider, room, session}
	if was, seen := e.presence[k]; !present || !seen || was {
		e.presence[k] = present
	}
	n := 0
	for pk, in := range e.presence {
		if in && pk[0] == provider && pk[1] == room {
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
