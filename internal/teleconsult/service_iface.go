package teleconsult

import (
	"context"
	"time"
)

// Change is a set of writes that a [Store] applies in one transaction, with
// one durable commit. Updates are applied before creates, so that a change
// marking an appointment's teleconsultation replaced and creating its
// successor does not trip the one-live-teleconsultation-per-appointment rule.
type Change struct {
	// Create holds new teleconsultations. The store sets Version to 1.
	Create []*Teleconsultation
	// Update holds changed teleconsultations. The store refuses the whole
	// change with ECONFLICT if a stored Version differs from the given
	// one, and otherwise writes it and increments Version.
	Update []*Teleconsultation
	// Outbox holds invitation messages caused by this change: written in
	// the same transaction, so that a committed change never loses its
	// messages and a refused one sends none. The store sets their IDs.
	Outbox []OutboxMessage
	// Webhooks holds the outgoing webhook events of this change, written
	// in the same transaction. The store sets their IDs.
	Webhooks []WebhookMessage
	// Audit holds the audit entries of this change, appended to the
	// audit trail in the same transaction. The store sets their ID and
	// Hash.
	Audit []AuditEntry
}

// Store keeps teleconsultations and the user-id map. Implementations
// encrypt FullName and Email at rest and never log them.
type Store interface {
	// Apply writes a change atomically. For every participant written, the
	// user-id map (provider, UserID) → ProviderUserID is consulted: an
	// existing mapping wins and is copied into the participant, a missing
	// one is inserted. Returns ECONFLICT on a concurrent change or when a
	// second live teleconsultation would have the same AppointmentID.
	Apply(ctx context.Context, ch Change) error
	// FindByID returns ENOTFOUND if there is no teleconsultation with id.
	FindByID(ctx context.Context, id string) (*Teleconsultation, error)
	// FindByAppointment returns the live (neither cancelled nor replaced)
	// teleconsultation of an appointment, or ENOTFOUND.
	FindByAppointment(ctx context.Context, appointmentID string) (*Teleconsultation, error)
	// FindByLinkHash returns the teleconsultation with a participant
	// (removed ones included) whose LinkHash is hash, or ENOTFOUND.
	FindByLinkHash(ctx context.Context, hash []byte) (*Teleconsultation, error)
	// ProviderUsers returns the mapped provider user ids of the given
	// external user ids; unmapped ones are absent from the map.
	ProviderUsers(ctx context.Context, provider string, userIDs []string) (map[string]string, error)
	// EnsureProviderUser maps userID to candidate unless it is mapped
	// already, and returns the mapped id.
	EnsureProviderUser(ctx context.Context, provider, userID, candidate string) (string, error)
	// KnownUser reports whether userID is an active (not removed)
	// participant of a teleconsultation that is neither cancelled nor
	// replaced.
	KnownUser(ctx context.Context, userID string) (bool, error)
	// CountByState counts teleconsultations by stored state.
	CountByState(ctx context.Context) (map[State]int, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// OutboxStore keeps the invitation messages and their delivery state.
	OutboxStore
	// WebhookStore keeps the outgoing webhook events and their delivery
	// state.
	WebhookStore
	// AuditStore keeps the audit trail.
	AuditStore
}

// VideoProvider makes and removes rooms on a video platform: the built-in
// SFU, Daily or Kaleyra.
type VideoProvider interface {
	// Name is the provider's name, as in VIDEO_PROVIDER.
	Name() string
	// NewUser returns a provider user id for an external user seen for the
	// first time (recorded in the user-id map by the caller).
	NewUser(ctx context.Context, userID string, role Role) (string, error)
	// CreateRoom makes a room for tc's active participants (room revision
	// tc.RoomRevision+1) and returns it. Errors are EUNAVAILABLE when the
	// platform cannot be reached or refuses for now, EBADGATEWAY when it
	// answers wrongly. A provider that retries must not make two rooms.
	CreateRoom(ctx context.Context, tc *Teleconsultation, s *Settings) (*Room, error)
	// DeleteRoom removes tc's room (tc.ProviderRoomID) and disconnects
	// everyone in it. Deleting a room that is already gone is not an error.
	DeleteRoom(ctx context.Context, tc *Teleconsultation) error
	// Join returns where participant p of tc goes to join the room. It is
	// called only when the personal link has passed the window and
	// revocation checks; o.Until is the expiry of the session given with
	// it.
	Join(ctx context.Context, tc *Teleconsultation, p *Participant, s *Settings, o JoinOptions) (*JoinTarget, error)
	// DeleteUploads deletes the files uploaded in tc's room and says how
	// many there were and how many are gone.
	DeleteUploads(ctx context.Context, tc *Teleconsultation) (UploadsDeleted, error)
}

// NotificationKind says why participants should hear about a change.
type NotificationKind int

// Kinds of notification.
const (
	NotifyRoomMade  NotificationKind = iota + 1 // the room was made: send invitations
	NotifyChanged                               // times or participants changed: send updates
	NotifyCancelled                             // cancelled or replaced: send cancellations
)

// Notification tells a [Notifier] about a committed change.
type Notification struct {
	Kind             NotificationKind
	Teleconsultation *Teleconsultation
	// Removed holds participants removed by this change (they get a
	// cancellation).
	Removed []Participant
}

// Notifier hears about committed changes. The [Outbox] worker is one: a
// notification wakes it up to send what the change queued.
type Notifier interface {
	Notify(ctx context.Context, n Notification)
}

// Session token kinds.
const (
	// SessionParticipant is a token from a personal link: one participant
	// of one teleconsultation.
	SessionParticipant = "participant"
	// SessionUser is a token from POST /credentials: a user, for any
	// teleconsultation they take part in.
	SessionUser = "user"
)

// SessionClaims is what a session token says.
type SessionClaims struct {
	Kind               string
	TeleconsultationID string // SessionParticipant only
	UserID             string
	ProviderUserID     string
	// RoomRevision is the room the token was issued for; a token for an
	// older room revision is stale.
	RoomRevision int
	IssuedAt     time.Time
	ExpiresAt    time.Time
}

// SessionTokens signs and checks session tokens.
type SessionTokens interface {
	// Issue signs claims.
	Issue(c SessionClaims) (string, error)
	// Verify checks a token's signature, algorithm and expiry at now and
	// returns its claims; any failure is EUNAUTHORIZED.
	Verify(token string, now time.Time) (SessionClaims, error)
}
