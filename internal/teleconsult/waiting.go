package teleconsult

import (
	"context"
	"time"
)

// The waiting room (WAITING_ROOM): a participant whose role waits is
// checked as usual ([Service.Admit]) and then held by the video provider —
// no media, no chat, no names of the others — until a participant whose
// role admits lets them in, declines them, or the option "admit
// automatically from the appointment start" lets them in at the start.
// Which roles wait and which admit is per privilege in the JSON
// configuration (privileges.{basic,plus}.waits and .admits); by default
// basic participants wait and plus participants admit.

// Waits reports whether participants of role r are held in the waiting
// room: false unless the waiting room is on.
func (s *Settings) Waits(r Role) bool {
	return s.WaitingRoom && s.Config.Privileges.Waits(r)
}

// Admits reports whether participants of role r may admit or decline the
// ones who wait: false unless the waiting room is on.
func (s *Settings) Admits(r Role) bool {
	return s.WaitingRoom && s.Config.Privileges.Admits(r)
}

// Waits reports whether role r waits under the privileges, whether or not
// the waiting room is on: the privilege's "waits", by default true for
// basic and false for plus.
func (p Privileges) Waits(r Role) bool {
	switch r {
	case RoleBasic:
		return boolOr(p.Basic.Waits, true)
	case RolePlus:
		return boolOr(p.Plus.Waits, false)
	}
	return true
}

// Admits reports whether role r admits under the privileges: the
// privilege's "admits", by default false for basic and true for plus.
func (p Privileges) Admits(r Role) bool {
	switch r {
	case RoleBasic:
		return boolOr(p.Basic.Admits, false)
	case RolePlus:
		return boolOr(p.Plus.Admits, true)
	}
	return false
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// checkWaiting refuses privileges under which nobody could ever be let in:
// some role waits, and every role that admits waits too.
func (p Privileges) checkWaiting() error {
	waits, freeAdmitter := false, false
	for _, r := range []Role{RoleBasic, RolePlus} {
		waits = waits || p.Waits(r)
		freeAdmitter = freeAdmitter || p.Admits(r) && !p.Waits(r)
	}
	if waits && !freeAdmitter {
		return Errorf(EINVALID, "privileges: some role waits (waits) but no role that does not wait admits (admits): nobody could let anyone in")
	}
	return nil
}

// AutoAdmits reports whether a participant who waits is let in by itself
// at now: when an admitting participant chose "admit automatically from
// the appointment start" (on) and the appointment has started.
func AutoAdmits(w Window, now time.Time, on bool) bool {
	return on && !now.Before(w.Start)
}

// HostState is what a waiting participant is told about the participants
// who may let them in.
type HostState string

// Host states.
const (
	// HostAbsent: no participant who admits is connected.
	HostAbsent HostState = "not-connected"
	// HostConnected: one is connected (on the screen before the call)
	// and has been told who waits, but is not in the call.
	HostConnected HostState = "connected"
	// HostInCall: one is in the call.
	HostInCall HostState = "in-call"
)

// WaitStatus is what the waiting page says.
type WaitStatus struct {
	Host HostState
	// Told is true when a participant who admits has been shown that
	// this one waits (they are connected).
	Told bool
	// LateMinutes is how many whole minutes after the appointment's start
	// nobody who admits is in the call yet; 0 when not late.
	LateMinutes int
	// EstimatedStart is when the call should start: the appointment's
	// start, or now when that has passed.
	EstimatedStart time.Time
}

// WaitingStatus is the waiting page's status at now, for a visit of
// window w, with hostConnected and hostInCall saying whether a
// participant who admits is connected at all and whether one is in the
// call.
func WaitingStatus(w Window, now time.Time, hostConnected, hostInCall bool) WaitStatus {
	st := WaitStatus{Host: HostAbsent, Told: hostConnected || hostInCall, EstimatedStart: w.Start}
	switch {
	case hostInCall:
		st.Host = HostInCall
	case hostConnected:
		st.Host = HostConnected
	}
	if now.After(w.Start) {
		st.EstimatedStart = now.Truncate(time.Second)
		if !hostInCall {
			st.LateMinutes = int(now.Sub(w.Start) / time.Minute)
		}
	}
	return st
}

// Declined is the refusal of a participant whom an admitting participant
// declined: their call ends with the end reason of [ReasonDeclined]. They
// may open their link again and wait anew.
func Declined() *Error {
	return Refuse(ReasonDeclined, "you were not let in to this call: contact the clinic if you think this is a mistake")
}

// Decide checks that by may admit or decline who in the waiting room: both
// of the same visit, by's role admits, who's role waits. It returns nil
// (admit), or [Declined] for who (decline), or an EFORBIDDEN error for by
// (nothing changes).
func (s *Settings) Decide(by, who *Admission, admit bool) error {
	return s.decide(by, who, admit, false)
}

// DecideRemoved is [Settings.Decide] for a participant who waits because
// moderation removed them from the call ([Removed]), whatever their role.
func (s *Settings) DecideRemoved(by, who *Admission, admit bool) error {
	return s.decide(by, who, admit, true)
}

func (s *Settings) decide(by, who *Admission, admit, removed bool) error {
	switch {
	case by == nil || who == nil || by.TeleconsultationID != who.TeleconsultationID:
		return Errorf(EFORBIDDEN, "this participant is not waiting for this visit")
	case !s.Admits(by.Role):
		return Errorf(EFORBIDDEN, "you may not admit or decline participants")
	case !removed && !s.Waits(who.Role):
		return Errorf(EFORBIDDEN, "this participant is not waiting")
	case admit:
		return nil
	}
	return Declined()
}

// WaitingNotifier hears when a participant starts waiting, for outgoing
// notifications (webhooks); optional in [Service].
type WaitingNotifier interface {
	ParticipantWaiting(ctx context.Context, e WaitingEvent)
}

// WaitingEvent is a participant starting to wait. It holds ids only.
type WaitingEvent struct {
	TeleconsultationID string
	// ParticipantID is the provider user id (random, no patient data).
	ParticipantID string
	UserID        string
	Role          Role
	Since         time.Time
}

// ParticipantWaiting tells the service that admitted participant a
// started waiting at since (the video provider calls it once per wait, not
// on a reconnect that keeps the place). It logs and calls
// [Service.Waiting], if set, and writes a participant.waiting webhook
// event when receivers are configured.
func (s *Service) ParticipantWaiting(ctx context.Context, a *Admission, since time.Time) {
	s.log().Info("participant waiting", "id", a.TeleconsultationID, "participant", a.ParticipantID, "role", a.Role.String())
	if err := s.presence(ctx, a.TeleconsultationID, a.UserID, HookParticipantWaiting, since.UTC()); err != nil {
		s.log().Warn("participant waiting: webhook event not written", "id", a.TeleconsultationID, "participant", a.ParticipantID, "err", err)
	}
	if s.Waiting != nil {
		s.Waiting.ParticipantWaiting(ctx, WaitingEvent{TeleconsultationID: a.TeleconsultationID, ParticipantID: a.ParticipantID,
			UserID: a.UserID, Role: a.Role, Since: since.UTC()})
	}
}

// WaitingPerson is one participant in a visit's waiting room, as
// GET /teleconsultation/{id} shows it to participants who admit.
type WaitingPerson struct {
	// ParticipantID is the provider user id (bandyerUserId).
	ParticipantID string
	// FullName is the participant's name, from the visit.
	FullName string
	Since    time.Time
}

// WaitingLister is a [VideoProvider] that holds a waiting room and can say
// who waits in a visit's: participant ids and since when, oldest first.
type WaitingLister interface {
	WaitingFor(teleconsultationID string) []WaitingPerson
}

// waitingFor returns who waits in tc's waiting room, with their names, for
// a participant of role r: nil unless r admits and the provider holds a
// waiting room; otherwise a list, empty when nobody waits. Waiting
// participants the visit no longer has are left out.
func (s *Service) waitingFor(tc *Teleconsultation, r Role) []WaitingPerson {
	wl, ok := s.Provider.(WaitingLister)
	if !ok || !s.Settings.Admits(r) || tc.Provider != s.Provider.Name() {
		return nil
	}
	out := []WaitingPerson{}
	for _, w := range wl.WaitingFor(tc.ID) {
		for _, p := range tc.ActiveParticipants() {
			if p.ProviderUserID == w.ParticipantID {
				w.FullName = p.FullName
				out = append(out, w)
				break
			}
		}
	}
	return out
}
