package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

func invitationsOn(_ *Config, s *teleconsult.Settings) { s.Invitations = true }

func resendPath(id, user string) string {
	return api + "/" + id + "/participants/" + url.PathEscape(user) + "/invitation"
}

// Ensure GET .../participants/{userId}/invitation shows the delivery
// state to the back office, the participant and plus participants, never
// an address, and "off" without SMTP; GET /teleconsultation/{id} is left
// as it was.
func TestInvitationRoute(t *testing.T) {
	e := newEnv(t, invitationsOn)
	id := e.create(2, "", doctor, patient)
	get := func(user string, opts ...reqOption) map[string]any {
		t.Helper()
		w := e.do("GET", resendPath(id, user), "", opts...)
		wantStatus(t, w, http.StatusOK)
		if strings.Contains(w.Body.String(), "@") {
			t.Errorf("the state shows an address: %s", w.Body.String())
		}
		return body(t, w)
	}
	if st := get("d1"); st["status"] != "pending" || st["kind"] != "invite" || st["sequence"] != float64(0) || st["attempts"] != float64(0) || st["queuedAt"] != "2026-11-23T08:00:00.000Z" {
		t.Errorf("doctor's invitation, asked by the back office: %v", st)
	}
	if st := get("d1", asUser("d1")); st["status"] != "pending" {
		t.Errorf("asked by the doctor: %v", st)
	}
	if st := get("p1", asUser("d1")); len(st) != 1 || st["status"] != "none" {
		t.Errorf("patient without email, asked by the doctor: %v", st)
	}
	wantStatus(t, e.do("GET", resendPath(id, "d1"), "", asUser("p1")), http.StatusForbidden)
	wantStatus(t, e.do("GET", resendPath(id, "nobody"), ""), http.StatusNotFound)
	wantStatus(t, e.do("GET", resendPath(id, "d1"), "", noKey()), http.StatusUnauthorized)
	if _, ok := e.view(id, "d1")["invitation"]; ok {
		t.Error("GET /teleconsultation/{id} grew an invitation field")
	}
	wantStatus(t, e.do("DELETE", api+"/"+id, ""), http.StatusNoContent)
	if st := get("d1"); st["kind"] != "cancel" {
		t.Errorf("after DELETE: %v", st)
	}

	off := newEnv(t)
	id = off.create(2, "", doctor, patient)
	w := off.do("GET", resendPath(id, "d1"), "")
	wantStatus(t, w, http.StatusOK)
	if st := body(t, w); len(st) != 1 || st["status"] != "off" {
		t.Errorf("invitations off: %v", st)
	}
}

// Ensure the resend route: 202 with the state, who may ask, what is
// refused, and 429 with Retry-After.
func TestResendRoute(t *testing.T) {
	e := newEnv(t, invitationsOn)
	id := e.create(3, "", doctor, patient, strings.Replace(patient2, `"language":"en"`, `"language":"en","email":"carol.marker@example.test"`, 1))

	w := e.do("POST", resendPath(id, "d1"), "")
	wantStatus(t, w, http.StatusTooManyRequests) // the invitation itself went out less than a minute ago
	if w.Header().Get("Retry-After") != "60" || !strings.Contains(errorOf(t, w), "try again in 60 seconds") {
		t.Errorf("429: Retry-After %q, %s", w.Header().Get("Retry-After"), w.Body.String())
	}
	e.clock.Add(time.Minute)

	w = e.do("POST", resendPath(id, "p2"), "{}", asUser("d1")) // a plus participant for another
	wantStatus(t, w, http.StatusAccepted)
	if b := body(t, w); b["status"] != "pending" || b["kind"] != "invite" || b["nextAttemptAt"] != "2026-11-23T08:01:00.000Z" {
		t.Errorf("202 body %v", b)
	}
	for _, tt := range []struct {
		name   string
		path   string
		body   string
		opts   []reqOption
		status int
	}{
		{"basic for another", resendPath(id, "d1"), "", []reqOption{asUser("p1")}, http.StatusForbidden},
		{"no email", resendPath(id, "p1"), "", nil, http.StatusConflict},
		{"not a participant", resendPath(id, "nobody"), "", nil, http.StatusNotFound},
		{"control characters", resendPath(id, "d1\n"), "", nil, http.StatusNotFound},
		{"unknown room", resendPath("0123456789abcdef0123456789abcdef", "d1"), "", nil, http.StatusNotFound},
		{"a body with fields", resendPath(id, "d1"), `{"force":true}`, nil, http.StatusBadRequest},
		{"no API key", resendPath(id, "d1"), "", []reqOption{noKey()}, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do("POST", tt.path, tt.body, tt.opts...)
			wantStatus(t, w, tt.status)
		})
	}
	wantStatus(t, e.do("PUT", resendPath(id, "d1"), ""), http.StatusMethodNotAllowed)
	wantStatus(t, e.do("DELETE", api+"/"+id, ""), http.StatusNoContent)
	wantStatus(t, e.do("POST", resendPath(id, "d1"), ""), http.StatusGone)

	off := newEnv(t)
	id = off.create(2, "", doctor, patient)
	w = off.do("POST", resendPath(id, "d1"), "")
	wantStatus(t, w, http.StatusConflict)
	if !strings.Contains(errorOf(t, w), "SMTP_URL") {
		t.Errorf("off: %s", w.Body.String())
	}
}
