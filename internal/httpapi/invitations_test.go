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

// Ensure GET shows the caller their own invitation state only, and "off"
// without SMTP.
func TestViewInvitation(t *testing.T) {
	e := newEnv(t, invitationsOn)
	id := e.create(2, "", doctor, patient)
	inv, _ := e.view(id, "d1")["invitation"].(map[string]any)
	if inv["status"] != "pending" || inv["kind"] != "invite" || inv["sequence"] != float64(0) || inv["queuedAt"] != "2026-11-23T08:00:00.000Z" {
		t.Errorf("doctor's invitation %v", inv)
	}
	inv, _ = e.view(id, "p1")["invitation"].(map[string]any)
	if len(inv) != 1 || inv["status"] != "none" {
		t.Errorf("patient without email: %v", inv)
	}
	w := e.do("GET", api+"/"+id, "", asUser("p1"))
	if strings.Contains(w.Body.String(), "alice.marker") || strings.Contains(w.Body.String(), "@") {
		t.Errorf("the patient's view shows an address: %s", w.Body.String())
	}

	off := newEnv(t)
	id = off.create(2, "", doctor, patient)
	if inv, _ := off.view(id, "d1")["invitation"].(map[string]any); len(inv) != 1 || inv["status"] != "off" {
		t.Errorf("invitations off: %v", inv)
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
		{"GET", resendPath(id, "d1"), "", nil, http.StatusMethodNotAllowed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			method := "POST"
			if tt.name == "GET" {
				method = "GET"
			}
			w := e.do(method, tt.path, tt.body, tt.opts...)
			wantStatus(t, w, tt.status)
		})
	}
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
