package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/authsvc"
	"github.com/teleconsult/teleconsult/internal/authsvc/authsvctest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// authService runs the service in AUTH_SERVICE mode against the fake.
func authService(t *testing.T) (*env, *authsvctest.Server) {
	fake := authsvctest.New(t)
	fake.AddUser(authsvctest.User{ID: "d1", Name: "Dr Alice Marker", Email: "alice.marker@example.test", Groups: []string{"doctor"}})
	fake.AddUser(authsvctest.User{ID: "p1", Name: "Bob Marker", Groups: []string{"patient"}})
	fake.AddUser(authsvctest.User{ID: "p2", Name: "Carol Marker", Groups: []string{"patient"}})
	fake.AddUser(authsvctest.User{ID: "g1", Name: "No Group Marker"})
	dir, err := authsvc.New(authsvc.Config{BaseURL: fake.URL, DefaultClientType: "backoffice", Timeout: 1500 * time.Millisecond, BaseBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(_ *Config, s *teleconsult.Settings) { s.AuthService = fake.URL })
	e.svc.Directory = dir
	return e, fake
}

func idsCreate(ids string) string {
	return `{"participants":` + ids + `,"start_date":"` + startAt.Format("2006-01-02T15:04:05.000Z") + `","duration_in_seconds":3600}`
}

// Ensure participants given by user id are looked up in the auth service,
// with the request's cookie and client type and never our API key.
func TestAuthServiceParticipants(t *testing.T) {
	e, fake := authService(t)
	w := e.do("POST", api, idsCreate(`["d1","p1"]`), withHeader("Cookie", "sid=abc"), withHeader("Client-Type", "cms"))
	wantStatus(t, w, http.StatusCreated)
	id, _ := body(t, w)["roomId"].(string)
	v := e.view(id, "p1")
	names := []string{}
	for _, p := range v["participantsBandyerCall"].([]any) {
		names = append(names, p.(map[string]any)["fullName"].(string))
	}
	if strings.Join(names, ",") != "Dr Alice Marker,Bob Marker" || v["details"].(map[string]any)["role"] != "basic" {
		t.Errorf("view %v", v)
	}
	for _, r := range fake.Requests() {
		if r.Header.Get("Cookie") != "sid=abc" || r.Header.Get("Client-Type") != "cms" || r.Header.Get("Authorization") != "" {
			t.Errorf("request %s headers %v: want the cookie and client type, and not our API key", r.Path, r.Header)
		}
	}
	// The object form with ids only, completed later by one participant.
	w = e.do("POST", api, idsCreate(`{"number":2,"data":[{"userId":"d1","language":"it"}]}`))
	wantStatus(t, w, http.StatusCreated)
	id2, _ := body(t, w)["roomId"].(string)
	wantStatus(t, e.do("POST", api+"/"+id2+"/participants/data", `{"userId":"p1"}`), http.StatusCreated)
	if e.view(id2, "d1")["details"].(map[string]any)["status"] != "scheduled" {
		t.Error("the added participant did not complete the visit")
	}
	// PATCH replaces the participants, looked up again.
	wantStatus(t, e.do("PATCH", api+"/"+id, `{"participants":{"data":[{"userId":"d1"},{"userId":"p2"}]}}`), http.StatusNoContent)
	if e.view(id, "p2")["details"].(map[string]any)["role"] != "basic" {
		t.Error("PATCH did not look the new participant up")
	}
}

// Ensure an auth service that is down, slow, answers garbage or does not
// know a user gives 502/503/400 naming the participant, and stores nothing.
func TestAuthServiceFailures(t *testing.T) {
	for _, tt := range []struct {
		name   string
		ids    string
		fault  *authsvctest.Fault
		status int
		msg    string
	}{
		{"unknown user", `["d1","zz"]`, nil, 400, "participants.data[1].userId: no such user in the auth service"},
		{"user without groups", `["d1","g1"]`, nil, 400, "participants.data[1].groups: the auth service gives this user no groups"},
		{"slow", `["d1","p1"]`, &authsvctest.Fault{Hang: true}, 503, "participants.data[0]: auth service 127.0.0.1"},
		{"down", `["d1","p1"]`, &authsvctest.Fault{Status: 503}, 503, "is unavailable (HTTP 503) (get user)"},
		{"garbage", `["d1","p1"]`, &authsvctest.Fault{Malformed: true}, 502, "participants.data[0]: auth service"},
		{"groups given", `{"number":1,"data":[{"userId":"d1","groups":["doctor"]}]}`, nil, 400, "participants.data[0].groups: comes from the auth service"},
		{"fullName given", `{"number":1,"data":[{"userId":"d1","fullName":"X"}]}`, nil, 400, "participants.data[0].fullName: comes from the auth service"},
		{"empty id", `["d1",""]`, nil, 400, "participants.data[1].userId: required"},
		{"not strings", `["d1",7]`, nil, 400, "participants[1]: must be a string"},
		{"too many", `["` + strings.Repeat(`a","`, 60) + `b"]`, nil, 400, "at most 50 participants"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, fake := authService(t)
			if tt.fault != nil {
				fake.Fail("/users/", 100, *tt.fault)
			}
			began := time.Now()
			w := e.do("POST", api, idsCreate(tt.ids))
			wantStatus(t, w, tt.status)
			if got := errorOf(t, w); !strings.Contains(got, tt.msg) || strings.Contains(got, "Marker") {
				t.Errorf("error %q, want %q and no name", got, tt.msg)
			}
			if e.store.Commits != 0 {
				t.Error("stored after a failed look-up")
			}
			if d := time.Since(began); d > 10*time.Second { // a hang ends at the 1.5 s limit, not never
				t.Errorf("took %v", d)
			}
		})
	}
	// Without AUTH_SERVICE the list form is refused, saying what to send.
	e := newEnv(t)
	w := e.do("POST", api, idsCreate(`["d1","p1"]`))
	wantStatus(t, w, http.StatusBadRequest)
	if got := errorOf(t, w); !strings.Contains(got, "needs AUTH_SERVICE") {
		t.Errorf("error %q", got)
	}
}
