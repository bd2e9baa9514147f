package teleconsult

// In-call moderation (WAITING_ROOM): a participant whose role admits may
// mute another participant's microphone, turn their camera off, and
// remove them from the call. The rules:
//
//   - Who: a participant whose role admits ([Settings.Admits]) moderates
//     the participants of the same visit whose role does not admit; never
//     themselves, never another participant who admits.
//   - Mute and camera off are held by the server: the participant's
//     microphone (or camera) is not forwarded to anyone until a
//     participant who admits allows it again (unmute, camera-on). Allowing
//     does not turn anything on: the participant is told they may, and
//     chooses. A participant cannot lift a mute themselves.
//   - Removal sends the participant back to the waiting room: their call
//     ends with [ReasonRemoved], and their next connection waits to be let
//     in (whatever their role) for as long as the call's room lives; a
//     participant who admits lets them in again, or declines them.
//   - A repeated action (mute of a muted participant, …) is refused and
//     changes nothing.

// Moderation is one action of in-call moderation.
type Moderation string

// Moderation actions.
const (
	// ModerateMute stops forwarding the participant's microphone.
	ModerateMute Moderation = "mute"
	// ModerateUnmute allows the participant's microphone again.
	ModerateUnmute Moderation = "unmute"
	// ModerateCameraOff stops forwarding the participant's camera.
	ModerateCameraOff Moderation = "camera-off"
	// ModerateCameraOn allows the participant's camera again.
	ModerateCameraOn Moderation = "camera-on"
	// ModerateRemove removes the participant from the call, back to the
	// waiting room.
	ModerateRemove Moderation = "remove"
)

// Moderations lists the actions, in the order of docs/signalling.md.
func Moderations() []Moderation {
	return []Moderation{ModerateMute, ModerateUnmute, ModerateCameraOff, ModerateCameraOn, ModerateRemove}
}

// Valid reports whether m is one of [Moderations].
func (m Moderation) Valid() bool {
	for _, x := range Moderations() {
		if m == x {
			return true
		}
	}
	return false
}

// Moderated is what moderation holds back of one participant.
type Moderated struct {
	// Muted: their microphone is not forwarded.
	Muted bool
	// CameraOff: their camera is not forwarded.
	CameraOff bool
}

// Apply returns the state after action m. A repeated action (muting a
// muted participant, allowing a microphone that is allowed, …) is an
// ECONFLICT error, and an unknown one EINVALID; the state is then
// unchanged. Removal leaves the state as it is (it is kept for the
// participant's return).
func (s Moderated) Apply(m Moderation) (Moderated, error) {
	switch m {
	case ModerateMute:
		if s.Muted {
			return s, Errorf(ECONFLICT, "this participant's microphone is already muted")
		}
		s.Muted = true
	case ModerateUnmute:
		if !s.Muted {
			return s, Errorf(ECONFLICT, "this participant's microphone is not muted")
		}
		s.Muted = false
	case ModerateCameraOff:
		if s.CameraOff {
			return s, Errorf(ECONFLICT, "this participant's camera is already off")
		}
		s.CameraOff = true
	case ModerateCameraOn:
		if !s.CameraOff {
			return s, Errorf(ECONFLICT, "this participant's camera is not turned off")
		}
		s.CameraOff = false
	case ModerateRemove:
	default:
		return s, Errorf(EINVALID, "unknown moderation action")
	}
	return s, nil
}

// Moderate checks that by may moderate who: by's role admits, both are of
// the same visit, who is someone else whose role does not admit. It
// returns nil, or an EFORBIDDEN error (nothing changes).
func (s *Settings) Moderate(by, who *Admission) error {
	switch {
	case by == nil || !s.Admits(by.Role):
		return Errorf(EFORBIDDEN, "you may not moderate participants")
	case who == nil || by.TeleconsultationID != who.TeleconsultationID:
		return Errorf(EFORBIDDEN, "this participant is not in this call")
	case by.ParticipantID == who.ParticipantID:
		return Errorf(EFORBIDDEN, "you cannot moderate yourself")
	case s.Admits(who.Role):
		return Errorf(EFORBIDDEN, "this participant may moderate too and cannot be moderated")
	}
	return nil
}

// Removed is the refusal that ends the call of a participant removed by
// moderation: they return to the waiting room when they open their link
// again.
func Removed() *Error {
	return Refuse(ReasonRemoved, "you were removed from this call: open your link again to wait to be let in")
}
