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
// takes part in. Refusals are EUNAUTHORIZED (bad token), EFORBIDDEN (not
// yet open, or not a participant) and EGONE (revoked, cancelled, replaced,
// expired).
func (s *Service) Admit(ctx context.Context, token, id string) (*Admission, error) {
	now := s.now()
	c, err := s.Tokens.Verify(token, now)
	if err != nil {
		return nil, err
	}
	if c.Kind == SessionParticipant && c.TeleconsultationID != id {
		return nil, Errorf(EFORBIDDEN, "this session is for another visit")
	}
	tc, err := s.load(ctx, id)
	switch ErrorCode(err) {
	case "":
	case EGONE:
		return nil, err
	case ENOTFOUND:
		return nil, Errorf(EFORBIDDEN, "not a participant of this visit")
	default:
		return nil, err
	}
	a, err := s.admission(tc, c.UserID, now)
	if err != nil {
		return nil, err
	}
	if c.Kind == SessionParticipant && c.RoomRevision != tc.RoomRevision {
		return nil, Errorf(EGONE, "the visit was changed since this session began: open your link again")
	}
	return a, nil
}

// Recheck tells whether an admitted participant may stay: nil, or the same
// refusals as [Service.Admit]. Providers call it on every reconnect and
// periodically, so that a revocation made through another replica reaches
// the call too.
func (s *Service) Recheck(ctx context.Context, a *Admission) error {
	tc, err := s.load(ctx, a.TeleconsultationID)
	switch ErrorCode(err) {
	case "":
	case EGONE:
		return err
	case ENOTFOUND:
		return Errorf(EGONE, "this visit is no longer available")
	default:
		return err // the database is down: not a reason to eject anyone
	}
	if tc.RoomRevision != a.RoomRevision {
		return Errorf(EGONE, "the visit was changed: open your link again")
	}
	_, err = s.admission(tc, a.UserID, s.now())
	return err
}

func (s *Service) admission(tc *Teleconsultation, userID string, now time.Time) (*Admission, error) {
	p := tc.Participant(userID)
	if p == nil {
		for _, q := range tc.Participants {
			if q.UserID == userID {
				return nil, Errorf(EGONE, "you are no longer a participant of this visit")
			}
		}
		return nil, Errorf(EFORBIDDEN, "not a participant of this visit")
	}
	w := tc.Window(&s.Settings)
	switch {
	case tc.State == StateWaiting:
		return nil, Errorf(EFORBIDDEN, "this visit is not ready yet: not every participant is known")
	case !w.Locked(now):
		return nil, &Error{Code: EFORBIDDEN, Message: "this visit opens at " + w.Opens.Format(TimeLayout),
			Data: map[string]string{"opensAt": w.Opens.UTC().Format(TimeLayout)}}
	case w.Closed(now):
		return nil, Errorf(EGONE, "this visit has ended")
	}
	return &Admission{
		TeleconsultationID: tc.ID, UserID: p.UserID, ParticipantID: p.ProviderUserID,
		DisplayName: p.FullName, Role: p.Role, Tools: s.Settings.Config.Privileges.Tools(p.Role),
		Language: p.Language, Window: w, RoomID: tc.ProviderRoomID, RoomRevision: tc.RoomRevision,
		Expected: tc.ExpectedParticipants,
	}, nil
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
