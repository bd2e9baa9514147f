// Package sfu is the built-in video provider: media runs on a WebRTC SFU
// inside the teleconsult binary (VIDEO_PROVIDER=builtin, the default).
//
// A built-in room needs nothing made ahead of time on another system: its
// id names the in-process room that participants join with a session
// token, and deleting it disconnects whoever is in it.
package sfu

import (
	"context"
	"sync"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Provider implements [teleconsult.VideoProvider] for the built-in SFU.
type Provider struct {
	mu     sync.Mutex
	closed map[string]bool // rooms deleted since start
}

var _ teleconsult.VideoProvider = (*Provider)(nil)

// NewProvider returns the built-in provider.
func NewProvider() *Provider { return &Provider{closed: map[string]bool{}} }

// Name implements [teleconsult.VideoProvider.Name].
func (*Provider) Name() string { return "builtin" }

// NewUser implements [teleconsult.VideoProvider.NewUser]: built-in user ids
// are random, so they say nothing about the person.
func (*Provider) NewUser(context.Context, string, teleconsult.Role) (string, error) {
	return "u_" + teleconsult.NewID(), nil
}

// CreateRoom implements [teleconsult.VideoProvider.CreateRoom].
func (*Provider) CreateRoom(context.Context, *teleconsult.Teleconsultation, *teleconsult.Settings) (string, error) {
	return "r_" + teleconsult.NewID(), nil
}

// DeleteRoom implements [teleconsult.VideoProvider.DeleteRoom].
func (p *Provider) DeleteRoom(_ context.Context, tc *teleconsult.Teleconsultation) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed[tc.ProviderRoomID] = true
	return nil
}

// Closed reports whether room was deleted since the process started.
func (p *Provider) Closed(room string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed[room]
}
