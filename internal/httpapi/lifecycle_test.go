package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Ensure a teleconsultation goes through its whole life over HTTP: created,
// links hidden then revealed, traded for a session, locked, cancelled.
func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "", doctor, patient)

	// Before the window: no link, not joinable.
	for _, user := range []string{"d1", "p1"} {
		v := e.view(id, user)
		if v["accessLinkURL"] != nil {
			t.Fatalf("%s: accessLinkURL = %v before the window, want null", user, v["accessLinkURL"])
		}
		d := v["details"].(map[string]any)
		if d["status"] != "scheduled" || d["disabled"] != true || d["expectedParticipants"] != 2.0 || d["durationInSeconds"] != 3600.0 {
			t.Fatalf("%s: details = %v", user, d)
		}
		if got, want := d["joinableFrom"], "2026-11-23T09:50:00.000Z"; got != want {
			t.Fatalf("joinableFrom = %v, want %v", got, want)
		}
		if ps := v["participantsBandyerCall"].([]any); len(ps) != 2 {
			t.Fatalf("participantsBandyerCall = %v, want 2", ps)
		}
	}
	if got := e.view(id, "d1")["details"].(map[string]any)["role"]; got != "plus" {
		t.Fatalf("doctor role = %v, want plus", got)
	}

	// Inside the immutable period: each sees their own link, never the other's.
	e.clock.Set(startAt.Add(-5 * time.Minute))
	vd, vp := e.view(id, "d1"), e.view(id, "p1")
	codeD, codeP := linkCode(t, vd["accessLinkURL"]), linkCode(t, vp["accessLinkURL"])
	if codeD == codeP {
		t.Fatal("doctor and patient got the same link")
	}
	if len(codeP) != 43 {
		t.Fatalf("link code length = %d, want 43", len(codeP))
	}
	if wd := e.do("GET", api+"/"+id, "", asUser("d1")); strings.Contains(wd.Body.String(), codeP) {
		t.Fatal("the doctor's view holds the patient's link code")
	}
	if wp := e.do("GET", api+"/"+id, "", asUser("p1")); strings.Contains(wp.Body.String(), codeD) || strings.Contains(wp.Body.String(), "alice.marker") {
		t.Fatal("the patient's view holds the doctor's link code or email")
	}
	if d := vd["details"].(map[string]any); d["status"] != "open" || d["disabled"] != false {
		t.Fatalf("details in the window = %v", d)
	}
	if got := e.view(id, "p1")["accessLinkURL"]; !strings.HasSuffix(got.(string), codeP) {
		t.Fatalf("link changed between GETs: %v", got)
	}
	w := e.do("GET", api+"/"+id+"?language=en&useBackground=true&unknown=1", "", asUser("p1"))
	wantStatus(t, w, http.StatusOK)
	if link := body(t, w)["accessLinkURL"].(string); !strings.HasSuffix(link, "/join/"+codeP+"?lang=en&useBackground=true") {
		t.Fatalf("link with language and background = %q", link)
	}
	for q, want := range map[string]string{"?useBackground=false": "/join/" + codeP, "?useBackground=true": "/join/" + codeP + "?useBackground=true"} {
		w := e.do("GET", api+"/"+id+q, "", asUser("p1"))
		if link, _ := body(t, w)["accessLinkURL"].(string); !strings.HasSuffix(link, want) {
			t.Errorf("GET %s: link %q, want …%s", q, link, want)
		}
	}

	// The patient's link opens a session; no key needed.
	w = e.do("POST", Prefix+"/sessions", sessionJSON(codeP), noKey())
	wantStatus(t, w, http.StatusCreated)
	s := body(t, w)
	if s["displayName"] != "Bob Marker" || s["role"] != "basic" || s["teleconsultationId"] != id || s["status"] != "open" || s["language"] != "en" {
		t.Fatalf("session = %v", s)
	}
	if others := s["participants"].([]any); len(others) != 1 || others[0] != "Dr Alice Marker" {
		t.Fatalf("participants = %v", others)
	}
	if s["token"] == "" || s["expiresAt"] == nil {
		t.Fatalf("session without token: %v", s)
	}
	win := s["window"].(map[string]any)
	if win["opensAt"] != "2026-11-23T09:50:00.000Z" || win["startDate"] != "2026-11-23T10:00:00.000Z" || win["limited"] != false {
		t.Fatalf("window = %v", win)
	}
	if strings.Contains(w.Body.String(), codeD) || strings.Contains(w.Body.String(), "alice.marker") {
		t.Fatal("the patient's session holds the doctor's link or email")
	}
	if tools := s["tools"].(map[string]any); tools["chat"] != true {
		t.Fatalf("tools = %v", tools)
	}

	// Locked: changes refused.
	w = e.do("PATCH", api+"/"+id, `{"duration_in_seconds":1800}`)
	wantStatus(t, w, http.StatusConflict)
	if b := body(t, w); b["lockedAt"] != "2026-11-23T09:50:00.000Z" {
		t.Fatalf("409 body = %v, want lockedAt", b)
	}

	// Cancelled: gone everywhere.
	wantStatus(t, e.do("DELETE", api+"/"+id, ""), http.StatusNoContent)
	wantStatus(t, e.do("GET", api+"/"+id, "", asUser("d1")), http.StatusGone)
	w = e.do("POST", Prefix+"/sessions", sessionJSON(codeD), noKey())
	wantStatus(t, w, http.StatusGone)
	if b := body(t, w); b["reason"] != "cancelled" {
		t.Fatalf("410 of a cancelled visit's link = %v, want reason cancelled", b)
	}
	wantStatus(t, e.do("DELETE", api+"/"+id, ""), http.StatusGone)

	// Nothing personal in the logs.
	logs := e.logs.String()
	for _, secret := range []string{"Marker", "alice.marker", codeD, codeP, testKey, s["token"].(string)} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs hold %q", secret)
		}
	}
	if !strings.Contains(logs, "route=/api/v1/telecons-be/teleconsultation/{id}") {
		t.Errorf("logs lack the route pattern:\n%s", logs)
	}
}

// Ensure a teleconsultation created with part of its participants is
// completed by participants/data, and only then gets a room.
func TestPartialParticipants(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "", doctor)
	e.clock.Set(startAt.Add(-5 * time.Minute)) // waiting rooms can still be completed
	v := e.view(id, "d1")
	if d := v["details"].(map[string]any); d["status"] != "waiting_for_participants" || d["disabled"] != true || v["accessLinkURL"] != nil {
		t.Fatalf("waiting view = %v", v)
	}
	wantStatus(t, e.do("GET", api+"/"+id, "", asUser("p1")), http.StatusUnauthorized)

	w := e.do("POST", api+"/"+id+"/participants/data", `{"userExternalId":"p1","group":"patient","fullName":"Bob Marker","language":"en"}`)
	wantStatus(t, w, http.StatusCreated)
	if w.Body.Len() != 0 {
		t.Fatalf("201 body = %q, want empty", w.Body.String())
	}
	vp := e.view(id, "p1")
	if d := vp["details"].(map[string]any); d["status"] != "open" || d["role"] != "basic" {
		t.Fatalf("completed view = %v", vp)
	}
	linkCode(t, vp["accessLinkURL"])

	w = e.do("POST", api+"/"+id+"/participants/data", patient2)
	wantStatus(t, w, http.StatusConflict)
}

// Ensure a PATCH before the window replaces the list and keeps the kept
// participants' links, and that a removed participant loses access.
func TestPatchParticipants(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "", doctor, patient)
	w := e.do("PATCH", api+"/"+id, `{"participants":{"number":2,"data":[`+doctor+`,`+patient2+`]},"start_date":"2026-11-23T10:30:00+00:00"}`)
	wantStatus(t, w, http.StatusNoContent)
	wantStatus(t, e.do("GET", api+"/"+id, "", asUser("p1")), http.StatusUnauthorized)
	v := e.view(id, "p2")
	if d := v["details"].(map[string]any); d["startDate"] != "2026-11-23T10:30:00.000Z" || d["endDate"] != "2026-11-23T11:30:00.000Z" {
		t.Fatalf("moved details = %v", d)
	}
	w = e.do("PATCH", api+"/"+id, `{"participants":{"number":3}}`)
	wantStatus(t, w, http.StatusNoContent)
	if d := e.view(id, "d1")["details"].(map[string]any); d["status"] != "waiting_for_participants" {
		t.Fatalf("after number 3: %v", d)
	}
}

// Ensure creating again for the same appointment replaces the earlier
// teleconsultation and kills its links.
func TestAppointmentReplacement(t *testing.T) {
	e := newEnv(t)
	old := e.create(2, "appt-42", doctor, patient)
	e.clock.Set(startAt.Add(-5 * time.Minute))
	oldCode := linkCode(t, e.view(old, "p1")["accessLinkURL"])
	wantStatus(t, e.do("POST", Prefix+"/sessions", sessionJSON(oldCode), noKey()), http.StatusCreated)
	// Inside the window the visit is about to happen: no replacement.
	w := e.do("POST", api, createJSON(2, "appt-42", doctor, patient))
	wantStatus(t, w, http.StatusConflict)

	e.clock.Set(startAt.Add(-time.Hour))
	id := e.create(2, "appt-42", doctor, patient)
	e.clock.Set(startAt.Add(-5 * time.Minute))
	if id == old {
		t.Fatal("replacement kept the id")
	}
	w = e.do("GET", api+"/"+old, "", asUser("p1"))
	wantStatus(t, w, http.StatusGone)
	w = e.do("POST", Prefix+"/sessions", sessionJSON(oldCode), noKey())
	wantStatus(t, w, http.StatusGone)
	if !strings.Contains(errorOf(t, w), "rescheduled") {
		t.Fatalf("old link error = %q", errorOf(t, w))
	}
	newCode := linkCode(t, e.view(id, "p1")["accessLinkURL"])
	if newCode == oldCode {
		t.Fatal("the new teleconsultation reuses the old link")
	}
	wantStatus(t, e.do("POST", Prefix+"/sessions", sessionJSON(newCode), noKey()), http.StatusCreated)
}

// Ensure a room without a plus participant is refused with Mia's text for
// each route, and nothing is stored.
func TestNoPlusUser(t *testing.T) {
	e := newEnv(t)
	commits := e.store.Commits
	w := e.do("POST", api, createJSON(2, "", patient, patient2))
	wantStatus(t, w, http.StatusBadRequest)
	if got, want := errorOf(t, w), "Failed POST /teleconsultation: no plus user in room"; got != want {
		t.Fatalf("error = %q, want %q", got, want)
	}
	if e.store.Commits != commits {
		t.Fatal("a refused create was stored")
	}

	id := e.create(2, "", patient)
	w = e.do("POST", api+"/"+id+"/participants/data", patient2)
	wantStatus(t, w, http.StatusBadRequest)
	if got, want := errorOf(t, w), "Failed POST /teleconsultation/"+id+"/participants/data: no plus user in room"; got != want {
		t.Fatalf("error = %q, want %q", got, want)
	}

	id = e.create(2, "", doctor, patient)
	w = e.do("PATCH", api+"/"+id, `{"participants":{"number":2,"data":[`+patient+`,`+patient2+`]}}`)
	wantStatus(t, w, http.StatusBadRequest)
	if got, want := errorOf(t, w), "Failed PATCH /teleconsultation: no plus user in room"; got != want {
		t.Fatalf("error = %q, want %q", got, want)
	}
}

// Ensure a group no privilege lists is refused, naming the group.
func TestUnknownGroup(t *testing.T) {
	e := newEnv(t)
	commits := e.store.Commits
	w := e.do("POST", api, createJSON(2, "", doctor, nurse))
	wantStatus(t, w, http.StatusBadRequest)
	if !strings.Contains(errorOf(t, w), `"nurse"`) {
		t.Fatalf("error = %q, want it to name the group", errorOf(t, w))
	}
	if e.store.Commits != commits {
		t.Fatal("stored")
	}
}

// Ensure POST /sessions answers each refusal of the domain with its status
// and data.
func TestSessionRefusals(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "", doctor, patient)
	e.clock.Set(startAt.Add(-5 * time.Minute))
	code := linkCode(t, e.view(id, "p1")["accessLinkURL"])

	// Back before the window: the same code is not open yet.
	e.clock.Set(t0)
	w := e.do("POST", Prefix+"/sessions", sessionJSON(code), noKey())
	wantStatus(t, w, http.StatusForbidden)
	b := body(t, w)
	if b["opensAt"] != "2026-11-23T09:50:00.000Z" || b["startDate"] != "2026-11-23T10:00:00.000Z" || !strings.Contains(b["error"].(string), "opens at") {
		t.Fatalf("403 body = %v", b)
	}

	w = e.do("POST", Prefix+"/sessions", sessionJSON(strings.Repeat("A", 43)), noKey())
	wantStatus(t, w, http.StatusUnauthorized)
	w = e.do("POST", Prefix+"/sessions", sessionJSON("short"), noKey())
	wantStatus(t, w, http.StatusUnauthorized)
}
