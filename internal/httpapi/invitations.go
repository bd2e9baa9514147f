package httpapi

import (
	"errors"
	"net/http"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// invitationResponse is the delivery state of a participant's invitation
// emails (GET and POST .../participants/{userId}/invitation). It names no
// address.
type invitationResponse struct {
	// Status: off, none, pending, sent or failed.
	Status        string `json:"status"`
	Kind          string `json:"kind,omitempty"`
	Sequence      *int   `json:"sequence,omitempty"`
	Attempts      *int   `json:"attempts,omitempty"`
	Reason        string `json:"reason,omitempty"`
	QueuedAt      string `json:"queuedAt,omitempty"`
	NextAttemptAt string `json:"nextAttemptAt,omitempty"`
	SentAt        string `json:"sentAt,omitempty"`
}

func invitationBody(st *teleconsult.InvitationState) *invitationResponse {
	if st == nil {
		return nil
	}
	r := &invitationResponse{Status: st.Status, Reason: st.Reason}
	if st.Kind == teleconsult.InvitationUnknown {
		return r
	}
	seq, attempts := st.Sequence, st.Attempts
	r.Kind, r.Sequence, r.Attempts = st.Kind.String(), &seq, &attempts
	r.QueuedAt = formatTime(st.QueuedAt)
	if !st.NextAttemptAt.IsZero() {
		r.NextAttemptAt = formatTime(st.NextAttemptAt)
	}
	if !st.SentAt.IsZero() {
		r.SentAt = formatTime(st.SentAt)
	}
	return r
}

// participantUserID returns the {userId} path value when it is worth a
// look-up.
func participantUserID(r *http.Request) (string, error) {
	userID := r.PathValue("userId")
	if !printableUserID(userID) {
		return "", &httpError{status: http.StatusNotFound, msg: "no such participant"}
	}
	return userID, nil
}

// handleInvitation shows the delivery state of participant {userId}'s
// invitation emails: GET /teleconsultation/{id}/participants/{userId}/invitation.
func (s *Server) handleInvitation(w http.ResponseWriter, r *http.Request) error {
	id, err := roomID(r)
	if err != nil {
		return err
	}
	userID, err := participantUserID(r)
	if err != nil {
		return err
	}
	st, err := s.svc.InvitationState(r.Context(), id, s.userID(r), userID)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, invitationBody(st))
	return nil
}

// handleResendInvitation queues participant {userId}'s invitation again:
// POST /teleconsultation/{id}/participants/{userId}/invitation.
func (s *Server) handleResendInvitation(w http.ResponseWriter, r *http.Request) error {
	id, err := roomID(r)
	if err != nil {
		return err
	}
	userID, err := participantUserID(r)
	if err != nil {
		return err
	}
	body, err := s.readJSON(w, r, false)
	if err != nil {
		return err
	}
	if body != nil {
		if _, err := object(s.withoutIdentityField(body), ""); err != nil {
			return err
		}
	}
	st, err := s.svc.ResendInvitation(r.Context(), id, s.userID(r), userID)
	var de *teleconsult.Error
	if errors.As(err, &de) && de.Code == teleconsult.ERATELIMIT && de.Data["retryAfter"] != "" {
		return &httpError{status: http.StatusTooManyRequests, msg: de.Message,
			header: map[string]string{"Retry-After": de.Data["retryAfter"]}}
	} else if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusAccepted, invitationBody(st))
	return nil
}

// printableUserID reports whether a user id from a path is worth a look-up:
// 1 to 256 characters, none of them control characters.
func printableUserID(s string) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	n := 0
	for _, r := range s {
		n++
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || r == 0xfffd {
			return false
		}
	}
	return n <= 256
}
