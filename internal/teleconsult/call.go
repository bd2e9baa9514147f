package teleconsult

import (
	"context"
	"time"
)

// WarnBeforeEnd is how long before a limited window closes the participants
// are warned.
const WarnBeforeEnd = 60 * time.Second

// Admission is a participant admitted to a call: what the video provider
// needs to let them in and to enforce their tools. It holds the display
// name (shown to the others) but no email.
type Admission struct {
	TeleconsultationID string
	UserID             string
	// ParticipantID identifies the participant in the call; it is the
	// provider user id, random and free of patient data.
	ParticipantID string
	DisplayName   string
	Role          Role
	Tools         Tools
	Language      string
	Window        Window
	RoomID        string
	RoomRevision  int
	// Expected is the number of participants the room is for.
	Expected int
}

// Admit checks a session token for teleconsultation id and that its holder
// may be in the call now: a participant (not removed) of a teleconsultation
// that is neither cancelled nor replaced, inside its window, with a token
// for the current room. A participant token names its teleconsultation; a
// user token (POST /credentials) is good for any teleconsultation its user
// takes part in. Every refusal carries a [Reason]: EUNAUTHORIZED
// (unauthorized: bad token), EFORBIDDEN (not-participant, not-ready,
// not-open) or EGONE (revoked, changed, cancelled, rescheduled, ended).
// Other errors (the database is down) carry none.
func (s *Service) Admit(ctx context.Context, token, id string) (*Admission, error) {
	now := s.now()
	c, err := s.Tokens.Verify(token, now)
	if err != nil {
		return nil, &Error{Code: EUNAUTHORIZED, Message: ErrorMessage(err), Reason: ReasonUnauthorized, Err: err}
	}
	if c.Kind == SessionParticipant && c.TeleconsultationID != id {
		return nil, Refuse(ReasonNotParticipant, "this session is for another visit")
	}
	tc, err := s.Store.FindByID(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		return nil, Refuse(ReasonNotParticipant, "not a participant of this visit")
	} else if err != nil {
		return nil, err
	}
	a, err := s.admission(tc, c.UserID, now)
	if err != nil {
		return nil, err
	}
	if c.Kind == SessionParticipant && c.RoomRevision != tc.RoomRevision {
		return nil, Refuse(ReasonChanged, "the visit was changed since this session began: open your link again")
	}
	return a, nil
}

// Recheck tells whether an admitted participant may stay: nil, or the same
// refusals as [Service.Admit] (a teleconsultation no longer in the store is
// cancelled). Providers call it on every reconnect and periodically, so
// that a revocation made through another replica reaches the call too. An
// error without a [Reason] (the database is down) is not a reason to eject
// anyone.
func (s *Service) Recheck(ctx context.Context, a *Admission) error {
	tc, err := s.Store.FindByID(ctx, a.TeleconsultationID)
	if ErrorCode(err) == ENOTFOUND {
		return Refuse(ReasonCancelled, "this visit is no longer available")
	} else if err != nil {
		return err
	}
	if tc.State.Final() || tc.Participant(a.UserID) == nil || tc.RoomRevision == a.RoomRevision {
		_, err = s.admission(tc, a.UserID, s.now())
		return err
	}
	return Refuse(ReasonChanged, "the visit was changed: open your link again")
}

// admission admits userID to tc's call at now, or returns the refusal.
func (s *Service) admission(tc *Teleconsultation, userID string, now time.Time) (*Admission, error) {
	p := tc.Participant(userID)
	if p == nil {
		for i := range tc.Participants {
			if tc.Participants[i].UserID == userID {
				p = &tc.Participants[i] // removed
				break
			}
		}
	}
	w := tc.Window(&s.Settings)
	if err := s.refusal(tc, p, w, now); err != nil {
		return nil, err
	}
	return &Admission{
		TeleconsultationID: tc.ID, UserID: p.UserID, ParticipantID: p.ProviderUserID,
		DisplayName: p.FullName, Role: p.Role, Tools: s.Settings.Config.Privileges.Tools(p.Role),
		Language: p.Language, Window: w, RoomID: tc.ProviderRoomID, RoomRevision: tc.RoomRevision,
		Expected: tc.ExpectedParticipants,
	}, nil
}

// refusal is the one check of whether participant p of tc (nil: none;
// possibly removed) may use their link or be in the call at now, w being
// tc's window. It returns nil or the refusal, whose [Reason] says why; the
// order of the checks decides which reason wins when several hold.
func (s *Service) refusal(tc *Teleconsultation, p *Participant, w Window, now time.Time) *Error {
	switch {
	case p == nil:
		return Refuse(ReasonNotParticipant, "not a participant of this visit")
	case !p.Active():
		return Refuse(ReasonRevoked, "this link was revoked: you are no longer a participant of this visit")
	case tc.State == StateCancelled:
		return Refuse(ReasonCancelled, "this visit was cancelled")
	case tc.State == StateReplaced:
		return Refuse(ReasonRescheduled, "this visit was rescheduled: use the link of the newer invitation")
	case tc.State == StateWaiting:
		return Refuse(ReasonNotReady, "this visit is not ready yet: not every participant is known")
	case !w.Locked(now):
		e := Refuse(ReasonNotOpen, "this visit opens at "+w.Opens.Format(TimeLayout))
		e.Data = map[string]string{"opensAt": w.Opens.UTC().Format(TimeLayout), "startDate": w.Start.UTC().Format(TimeLayout)}
		return e
	case w.Closed(now):
		return Refuse(ReasonEnded, "this visit has ended")
	}
	return nil
}

// CallEndsWhenLeaving is the LIVE rule: with LIVE_TELECONSULTATION, a call
// ends when a participant leaves and fewer than two remain.
func (s *Settings) CallEndsWhenLeaving(remaining int) bool { return s.Live && remaining < 2 }

// AdmitUser admits userID, named by a trusted caller (API key), to
// teleconsultation id under the same rules as [Service.Admit], without a
// session token.
func (s *Service) AdmitUser(ctx context.Context, id, userID string) (*Admission, error) {
	if userID == "" {
		return nil, Errorf(EUNAUTHORIZED, "Unauthorized user")
	}
	tc, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if tc.Participant(userID) == nil {
		return nil, Errorf(EUNAUTHORIZED, "Unauthorized user")
	}
	return s.admission(tc, userID, s.now())
}
