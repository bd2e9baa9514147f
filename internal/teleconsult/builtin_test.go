package teleconsult_test

import (
	"context"
	"sync"

	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
)

// builtin is a video provider for the domain tests that does what the
// built-in SFU does as the service sees it: random user and room ids, a
// join target that sends the participant to the call page, and rooms
// deleted for good. It keeps the domain's tests free of the SFU and its
// WebRTC stack.
type builtin struct {
	mu     sync.Mutex
	closed map[string]bool // deleted rooms
}

var _ tc.VideoProvider = (*builtin)(nil)

func newBuiltin() *builtin { return &builtin{closed: map[string]bool{}} }

func (*builtin) Name() string { return "builtin" }

func (*builtin) NewUser(context.Context, string, tc.Role) (string, error) {
	return "u_" + tc.NewID(), nil
}

func (*builtin) CreateRoom(context.Context, *tc.Teleconsultation, *tc.Settings) (*tc.Room, error) {
	return &tc.Room{ID: "r_" + tc.NewID()}, nil
}

func (b *builtin) DeleteRoom(_ context.Context, t *tc.Teleconsultation) error {
	if t.ProviderRoomID == "" {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed[t.ProviderRoomID] = true
	return nil
}

// Closed reports whether room was deleted.
func (b *builtin) Closed(room string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed[room]
}

func (*builtin) Join(context.Context, *tc.Teleconsultation, *tc.Participant, *tc.Settings, tc.JoinOptions) (*tc.JoinTarget, error) {
	return &tc.JoinTarget{Provider: "builtin"}, nil
}

func (*builtin) DeleteUploads(context.Context, *tc.Teleconsultation) (tc.UploadsDeleted, error) {
	return tc.UploadsDeleted{}, nil
}
