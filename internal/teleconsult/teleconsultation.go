package teleconsult

import (
	"slices"
	"time"
)

// MinDuration is the shortest teleconsultation (Mia's API: at least 5 minutes).
const MinDuration = 5 * time.Minute

// TimeLayout is how times are written in API answers and error data: UTC
// with milliseconds, as Mia does (2026-11-23T10:00:00.000Z).
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// MaxDuration is the longest teleconsultation accepted (24 hours, the
// longest room Kaleyra allows).
const MaxDuration = 24 * time.Hour

// Teleconsultation is a video visit for one appointment.
type Teleconsultation struct {
	// ID is random (128 bits, hex) and carries no patient data.
	ID string
	// AppointmentID is the booking system's id; creating again with the
	// same one replaces this teleconsultation.
	AppointmentID string
	StartDate     time.Time
	EndDate       time.Time
	// ExpectedParticipants is participants.number.
	ExpectedParticipants int
	// Participants in the order they were given, removed ones included
	// (with RemovedAt set) so that their links stay dead.
	Participants []Participant
	// Provider is the video provider's name; ProviderRoomID its room, empty
	// until the room is made.
	Provider       string
	ProviderRoomID string
	// ProviderRoomURL is the room's address at the provider (Daily), empty
	// when the provider has none.
	ProviderRoomURL string
	// State is the stored state; see [Teleconsultation.Status] for the
	// effective one.
	State State
	// Version increases on every stored change (optimistic locking).
	Version int
	// RoomRevision increases every time the room is (re)made.
	RoomRevision int
	// ReplacedBy is the id of the teleconsultation that superseded this one.
	ReplacedBy string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// CallStartedAt is set while a call runs; CallUsed is the sum of the
	// durations of calls already ended, and CallEndedAt the end of the
	// last of them (zero before the first): time up to it is counted, so
	// a provider's event about it that comes late or twice changes
	// nothing.
	CallStartedAt time.Time
	CallUsed      time.Duration
	CallEndedAt   time.Time
	// CallFirstStartedAt is when the first call began (zero before it):
	// the start of the visit's encounter, kept when its calls end.
	CallFirstStartedAt time.Time

	// CalendarSequence is the iCalendar SEQUENCE that the next invitation
	// messages will carry: each change that queues messages raises it.
	CalendarSequence int
}

// Participant is one person invited to a teleconsultation.
type Participant struct {
	UserID string
	Groups []string
	// FullName and Email are patient data: encrypted at rest, never logged.
	FullName string
	Email    string
	Language string
	// TimeZone is an IANA name, for invitations; empty means the default.
	TimeZone string
	Role     Role
	// ProviderUserID is the user's id at the video provider
	// ("bandyerUserId"), from the user-id map.
	ProviderUserID string
	// ProviderLink is the participant's own link into the provider's room,
	// when the provider makes one per participant (Kaleyra). It is a
	// credential: encrypted at rest, handed out only by [Service.Exchange].
	ProviderLink string
	// LinkNonce is the random 128-bit value behind the personal link; the
	// code itself is derived with a secret key ([Keyring.LinkCode]) and
	// only its hash, LinkHash, is stored and looked up.
	LinkNonce []byte
	LinkHash  []byte
	// RemovedAt is set when a PATCH removed the participant: the link is
	// dead and the participant is no longer shown.
	RemovedAt time.Time
	// Invited is true while the participant holds an invitation to this
	// teleconsultation: one was queued and no cancellation since.
	Invited bool
}

// Clone returns a deep copy of tc: no slice is shared.
func (tc *Teleconsultation) Clone() *Teleconsultation {
	c := *tc
	c.Participants = slices.Clone(tc.Participants)
	for i := range c.Participants {
		p := &c.Participants[i]
		p.Groups = slices.Clone(p.Groups)
		p.LinkNonce = slices.Clone(p.LinkNonce)
		p.LinkHash = slices.Clone(p.LinkHash)
	}
	return &c
}

// Active reports whether p is still a participant (not removed).
func (p *Participant) Active() bool { return p.RemovedAt.IsZero() }

// ActiveParticipants returns the participants not removed.
func (tc *Teleconsultation) ActiveParticipants() []*Participant {
	out := make([]*Participant, 0, len(tc.Participants))
	for i := range tc.Participants {
		if tc.Participants[i].Active() {
			out = append(out, &tc.Participants[i])
		}
	}
	return out
}

// Participant returns the active participant with the given user id, or nil.
func (tc *Teleconsultation) Participant(userID string) *Participant {
	for i := range tc.Participants {
		if p := &tc.Participants[i]; p.UserID == userID && p.Active() {
			return p
		}
	}
	return nil
}

// Complete reports whether every expected participant is known.
func (tc *Teleconsultation) Complete() bool {
	return len(tc.ActiveParticipants()) >= tc.ExpectedParticipants
}

// HasPlus reports whether at least one active participant is plus.
func (tc *Teleconsultation) HasPlus() bool {
	for _, p := range tc.ActiveParticipants() {
		if p.Role == RolePlus {
			return true
		}
	}
	return false
}

// Window is when a teleconsultation can be joined.
type Window struct {
	// Opens is start_date − IMMUTABLE_PERIOD_MS: from then on the links
	// work and changes are refused.
	Opens time.Time
	// Start and End are the appointment's times.
	Start time.Time
	End   time.Time
	// Limited is true with UNLIMITED_TELECONSULTATION=false: the room
	// closes at End and everyone is ejected.
	Limited bool
}

// Window returns the teleconsultation's window under settings s.
func (tc *Teleconsultation) Window(s *Settings) Window {
	return Window{
		Opens:   tc.StartDate.Add(-s.ImmutablePeriod),
		Start:   tc.StartDate,
		End:     tc.EndDate,
		Limited: !s.Unlimited,
	}
}

// Locked reports whether changes are refused at now: from Opens on.
func (w Window) Locked(now time.Time) bool { return !now.Before(w.Opens) }

// Closed reports whether a limited window has ended at now.
func (w Window) Closed(now time.Time) bool { return w.Limited && !now.Before(w.End) }

// Status returns the effective state at now: the stored state, or open or
// expired when the clock says so.
func (tc *Teleconsultation) Status(now time.Time, s *Settings) State {
	w := tc.Window(s)
	switch tc.State {
	case StateScheduled:
		if w.Closed(now) {
			return StateExpired
		}
		if w.Locked(now) {
			return StateOpen
		}
	case StateEnded:
		if w.Closed(now) {
			return StateExpired
		}
	}
	return tc.State
}

// noteCallStart records that a call ran from at: the first call's start
// moves back to at when at is earlier.
func (tc *Teleconsultation) noteCallStart(at time.Time) {
	if !at.IsZero() && (tc.CallFirstStartedAt.IsZero() || at.Before(tc.CallFirstStartedAt)) {
		tc.CallFirstStartedAt = at
	}
}

// DurationUsed returns the time spent in calls up to now.
func (tc *Teleconsultation) DurationUsed(now time.Time) time.Duration {
	d := tc.CallUsed
	if tc.State == StateInProgress && !tc.CallStartedAt.IsZero() && now.After(tc.CallStartedAt) {
		d += now.Sub(tc.CallStartedAt)
	}
	return d
}
