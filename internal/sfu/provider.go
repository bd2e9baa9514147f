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
	"time"

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
func (*Provider) CreateRoom(context.Context, *teleconsult.Teleconsultation, *teleconsult.Settings) (*teleconsult.Room, error) {
	return &teleconsult.Room{ID: "r_" + teleconsult.NewID()}, nil
}

// Join implements [teleconsult.VideoProvider.Join]: the built-in call page
// joins with the session token itself, so there is nowhere else to go.
func (*Provider) Join(context.Context, *teleconsult.Teleconsultation, *teleconsult.Participant, *teleconsult.Settings, time.Time) (*teleconsult.JoinTarget, error) {
	return &teleconsult.JoinTarget{Provider: "builtin"}, nil
}

// DeleteUploads implements [teleconsult.VideoProvider.DeleteUploads]. The
// built-in call page has no file uploads yet, so there is nothing to
// delete; when it gets them, this is where they go.
func (*Provider) DeleteUploads(context.Context, *teleconsult.Teleconsultation) (teleconsult.UploadsDeleted, error) {
	return teleconsult.UploadsDeleted{}, nil
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
