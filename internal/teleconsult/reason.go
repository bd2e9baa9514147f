package teleconsult

import (
	"errors"
	"net/http"
)

// Reason says why a personal link or a call is refused: [Service.Exchange],
// [Service.Admit] and [Service.Recheck] put one in every refusal they
// return ([Error.Reason]; read it with [ReasonOf]). How each adapter shows a
// reason (HTTP status and `reason` field, the call's end reason and
// WebSocket close code, the call page's text) is in one table, [Refusals].
type Reason string

// Reasons of a refusal.
const (
	// ReasonUnauthorized: an unknown link, or a bad, expired or missing
	// session token.
	ReasonUnauthorized Reason = "unauthorized"
	// ReasonNotParticipant: the holder is not a participant of this
	// visit (a session of another visit, a user token of someone else's).
	ReasonNotParticipant Reason = "not-participant"
	// ReasonNotReady: the visit is not ready yet (not every participant
	// is known, or it has no room yet).
	ReasonNotReady Reason = "not-ready"
	// ReasonNotOpen: before the window opens (start − IMMUTABLE_PERIOD_MS);
	// the refusal's Data holds opensAt.
	ReasonNotOpen Reason = "not-open"
	// ReasonRevoked: the participant was removed from the visit.
	ReasonRevoked Reason = "revoked"
	// ReasonChanged: the visit's room was remade (its times or
	// participants changed) since the session began: open the link again.
	ReasonChanged Reason = "changed"
	// ReasonCancelled: the visit was cancelled (DELETE), or is gone.
	ReasonCancelled Reason = "cancelled"
	// ReasonRescheduled: the appointment was confirmed again and a newer
	// visit replaced this one: its invitation has the new link.
	ReasonRescheduled Reason = "rescheduled"
	// ReasonEnded: the limited window closed
	// (UNLIMITED_TELECONSULTATION=false).
	ReasonEnded Reason = "ended"
	// ReasonDeclined: in the waiting room (WAITING_ROOM), a participant
	// who admits declined to let this one in ([Declined]).
	ReasonDeclined Reason = "declined"
	// ReasonRemoved: in the call, a participant who admits removed this
	// one ([Removed]): they wait to be let in again.
	ReasonRemoved Reason = "removed"
)

// Refusal is how the adapters show one [Reason]. It is the one table of
// reasons: the HTTP API, the built-in SFU, the documentation and the call
// page are all checked against it.
type Refusal struct {
	Reason Reason
	// Code is the refusal's error code ([Error.Code]) and HTTPStatus the
	// status the HTTP adapter answers for that code. The HTTP answer's
	// `reason` field is the Reason itself.
	Code       string
	HTTPStatus int
	// End is the call's end reason (`{"type":"end","reason":…}`) and
	// CloseCode the WebSocket close code that follows it
	// (docs/signalling.md).
	End       string
	CloseCode int
	// LinkPage is the call page's text key (i18n.js, with .title and
	// .text) for a link refused with this reason (POST /sessions), and
	// CallPage the one for a call ended with End.
	LinkPage string
	CallPage string
	// When says when it happens, for people.
	When string
}

// Close codes of the call's WebSocket for refusals (private range: 4000 +
// the HTTP status).
const (
	CloseUnauthorized = 4401
	CloseForbidden    = 4403
	CloseGone         = 4410
)

// refusals is the table, in the order of the reasons' checks.
var refusals = []Refusal{
	{ReasonUnauthorized, EUNAUTHORIZED, http.StatusUnauthorized, "unauthorized", CloseUnauthorized, "unknown", "end.other",
		"unknown link; bad, expired or missing session token"},
	{ReasonNotParticipant, EFORBIDDEN, http.StatusForbidden, "forbidden", CloseForbidden, "notready", "end.other",
		"not a participant of this visit (a session of another visit)"},
	{ReasonNotReady, EFORBIDDEN, http.StatusForbidden, "forbidden", CloseForbidden, "notready", "end.other",
		"not every participant is known yet, or the visit has no room yet"},
	{ReasonNotOpen, EFORBIDDEN, http.StatusForbidden, "forbidden", CloseForbidden, "waiting", "end.other",
		"before start − IMMUTABLE_PERIOD_MS (opensAt says when)"},
	{ReasonRevoked, EGONE, http.StatusGone, "revoked", CloseGone, "gone.revoked", "end.revoked",
		"the participant was removed from the visit"},
	{ReasonChanged, EGONE, http.StatusGone, "revoked", CloseGone, "gone.changed", "end.revoked",
		"the visit's room was remade (times or participants changed) since the session began"},
	{ReasonCancelled, EGONE, http.StatusGone, "cancelled", CloseGone, "gone.cancelled", "end.cancelled",
		"the visit was cancelled (DELETE)"},
	{ReasonRescheduled, EGONE, http.StatusGone, "cancelled", CloseGone, "gone.rescheduled", "end.cancelled",
		"the appointment was confirmed again: a newer visit replaced this one"},
	{ReasonEnded, EGONE, http.StatusGone, "expired", CloseGone, "gone.ended", "end.expired",
		"the limited window closed"},
	{ReasonDeclined, EFORBIDDEN, http.StatusForbidden, "declined", CloseForbidden, "end.declined", "end.declined",
		"in the waiting room, a participant who admits declined this one (they may open their link again)"},
	{ReasonRemoved, EFORBIDDEN, http.StatusForbidden, "removed", CloseForbidden, "end.removed", "end.removed",
		"in the call, a participant who admits removed this one (opening their link again waits to be let in)"},
}

// Refusals returns the table of reasons, one row per [Reason].
func Refusals() []Refusal { return append([]Refusal(nil), refusals...) }

// Refusal returns r's row of the table; ok is false for an unknown reason.
func (r Reason) Refusal() (ref Refusal, ok bool) {
	for _, ref := range refusals {
		if ref.Reason == r {
			return ref, true
		}
	}
	return Refusal{}, false
}

// ReasonOf returns the reason of the refusal in err's chain, or "" when
// err is not a refusal (nil, a database error, …).
func ReasonOf(err error) Reason {
	var e *Error
	for err != nil && errors.As(err, &e) {
		if e.Reason != "" {
			return e.Reason
		}
		err = e.Err
	}
	return ""
}

// Refuse returns the refusal for reason r with a caller-safe message. It
// panics for a reason not in the table.
func Refuse(r Reason, msg string) *Error {
	ref, ok := r.Refusal()
	if !ok {
		panic("teleconsult: refusal with unknown reason " + string(r))
	}
	return &Error{Code: ref.Code, Message: msg, Reason: r}
}

// Gone is the refusal of a call in tc's room when the room is deleted:
// the visit was cancelled, replaced (rescheduled), or its room remade.
func (tc *Teleconsultation) Gone() *Error {
	switch tc.State {
	case StateCancelled:
		return Refuse(ReasonCancelled, "this visit was cancelled")
	case StateReplaced:
		return Refuse(ReasonRescheduled, "this visit was rescheduled: use the link of the newer invitation")
	}
	return Refuse(ReasonChanged, "this visit was changed: open your link again")
}
