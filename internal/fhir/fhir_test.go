package fhir_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/fhir"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

var start = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

const visitID = "0123456789abcdef0123456789abcdef"

// visit is a teleconsultation of a doctor and a patient, at start for 30
// minutes, in state st.
func visit(st teleconsult.State) *teleconsult.Teleconsultation {
	return &teleconsult.Teleconsultation{
		ID: visitID, AppointmentID: "appt-42", StartDate: start, EndDate: start.Add(30 * time.Minute),
		ExpectedParticipants: 2, Provider: "sfu", State: st, Version: 3,
		CreatedAt: start.Add(-48 * time.Hour), UpdatedAt: start.Add(-time.Hour),
		Participants: []teleconsult.Participant{
			{UserID: "doc-1", FullName: "Dr. Anna Verdi", Email: "anna@example.org", Role: teleconsult.RolePlus},
			{UserID: "pat-1", FullName: "Mario Rossi", Email: "mario@example.org", Role: teleconsult.RoleBasic},
		},
	}
}

// withCall records a call from start+1m to start+21m (ended) or still
// running (in progress).
func withCall(tc *teleconsult.Teleconsultation) *teleconsult.Teleconsultation {
	tc.CallFirstStartedAt = start.Add(time.Minute)
	if tc.State == teleconsult.StateInProgress {
		tc.CallStartedAt = start.Add(time.Minute)
	} else {
		tc.CallEndedAt, tc.CallUsed = start.Add(21*time.Minute), 20*time.Minute
	}
	return tc
}

func settings(unlimited bool) *teleconsult.Settings {
	s := teleconsult.DefaultSettings()
	s.ImmutablePeriod = 10 * time.Minute
	s.Unlimited = unlimited
	return &s
}

// mappingCase is a teleconsultation at a moment and the statuses it maps to.
type mappingCase struct {
	name      string
	tc        *teleconsult.Teleconsultation
	now       time.Time
	unlimited bool
	appt, enc string
}

func mappingCases() []mappingCase {
	before, during, after := start.Add(-24*time.Hour), start.Add(5*time.Minute), start.Add(2*time.Hour)
	waiting := visit(teleconsult.StateWaiting)
	waiting.ExpectedParticipants, waiting.AppointmentID = 3, ""
	replaced := visit(teleconsult.StateReplaced)
	replaced.ReplacedBy = "fedcba9876543210fedcba9876543210"
	three := visit(teleconsult.StateScheduled)
	three.ExpectedParticipants = 3
	three.Participants = append(three.Participants,
		teleconsult.Participant{UserID: "rel-1", FullName: "Lucia Rossi", Role: teleconsult.RoleBasic},
		teleconsult.Participant{UserID: "gone-1", FullName: "Removed Person", Role: teleconsult.RoleBasic, RemovedAt: before})
	return []mappingCase{
		{"waiting for participants", waiting, before, false, "pending", "planned"},
		{"scheduled", visit(teleconsult.StateScheduled), before, false, "booked", "planned"},
		{"open", visit(teleconsult.StateScheduled), start.Add(-5 * time.Minute), false, "booked", "planned"},
		{"in progress", withCall(visit(teleconsult.StateInProgress)), during, false, "arrived", "in-progress"},
		{"ended", withCall(visit(teleconsult.StateEnded)), start.Add(25 * time.Minute), false, "fulfilled", "finished"},
		{"ended, unlimited, later", withCall(visit(teleconsult.StateEnded)), after, true, "fulfilled", "finished"},
		{"expired after a call", withCall(visit(teleconsult.StateEnded)), after, false, "fulfilled", "finished"},
		{"expired without a call", visit(teleconsult.StateScheduled), after, false, "noshow", "cancelled"},
		{"cancelled", visit(teleconsult.StateCancelled), before, false, "cancelled", "cancelled"},
		{"cancelled after a call", withCall(visit(teleconsult.StateCancelled)), after, false, "cancelled", "finished"},
		{"replaced", replaced, before, false, "cancelled", "cancelled"},
		{"three participants, one removed", three, before, false, "booked", "planned"},
	}
}

// Ensure each state maps to the documented Appointment.status and
// Encounter.status, and that every resource made is valid against the
// official R4 JSON schema, with and without names, for a GET and for a
// FHIR server; and that the validator refuses invalid resources (it is
// not vacuous). One run of the validator checks them all.
func TestResourcesValidAgainstR4Schema(t *testing.T) {
	var resources []any
	var names []string
	for _, c := range mappingCases() {
		for _, o := range []fhir.Options{{}, {Names: true, UserSystem: "https://booking.example.org/users", AppointmentSystem: "https://booking.example.org/appointments"}} {
			for _, server := range []bool{false, true} {
				v := fhir.View{Now: c.now, Settings: settings(c.unlimited), ForServer: server}
				a, e := o.Appointment(c.tc, v), o.Encounter(c.tc, v)
				if a.Status != c.appt || e.Status != c.enc {
					t.Errorf("%s: Appointment %s, Encounter %s; want %s, %s", c.name, a.Status, e.Status, c.appt, c.enc)
				}
				resources = append(resources, a, e)
				names = append(names, c.name+" Appointment", c.name+" Encounter")
			}
		}
	}
	bad := []any{
		map[string]any{"resourceType": "Encounter", "status": "ongoing", "class": map[string]any{"code": "VR"}},
		map[string]any{"resourceType": "Encounter", "status": "planned", "class": map[string]any{"code": "VR"}, "virtualService": []any{}},
		map[string]any{"resourceType": "Appointment", "status": "booked"},
		map[string]any{"resourceType": "Appointment", "status": "booked", "start": "23/11/2026 10:00", "participant": []any{map[string]any{"status": "accepted"}}},
		map[string]any{"resourceType": "OperationOutcome", "issue": []any{map[string]any{"severity": "bad", "code": "not-found"}}},
	}
	outcome := fhir.OperationOutcome{ResourceType: "OperationOutcome", Issue: []fhir.Issue{{Severity: "error", Code: "not-found", Diagnostics: "Encounter/x is not known"}}}
	res := validate(t, append(append(resources, outcome), bad...)...)
	for i, name := range names {
		if res[i] != "ok" {
			b, _ := json.Marshal(resources[i])
			t.Errorf("%s is not valid R4: %s\n%s", name, res[i], b)
		}
	}
	if r := res[len(resources)]; r != "ok" {
		t.Errorf("the OperationOutcome is not valid R4: %s", r)
	}
	for i, r := range res[len(resources)+1:] {
		if r == "ok" {
			t.Errorf("invalid resource %d accepted: %v", i, bad[i])
		}
	}
}

// Ensure what the resources say: ids, identifiers, times, the
// participants as logical references (names only when asked, never for
// a FHIR server), the encounter's period and length, and the
// virtualService extension without any address.
func TestResourceContent(t *testing.T) {
	tc := withCall(visit(teleconsult.StateEnded))
	tc.Participants = append(tc.Participants, teleconsult.Participant{UserID: "rel-1", FullName: "Lucia Rossi", Role: teleconsult.RoleBasic})
	now := start.Add(25 * time.Minute)
	o := fhir.Options{}
	a := o.Appointment(tc, fhir.View{Now: now, Settings: settings(false)})
	e := o.Encounter(tc, fhir.View{Now: now, Settings: settings(false)})
	got := marshal(t, a) + marshal(t, e)
	for _, want := range []string{
		`"resourceType":"Appointment","id":"` + visitID + `","meta":{"versionId":"3","lastUpdated":"2026-11-23T09:00:00.000Z"}`,
		`"identifier":[{"system":"urn:teleconsult:appointment-id","value":"appt-42"}]`,
		`"start":"2026-11-23T10:00:00.000Z","end":"2026-11-23T10:30:00.000Z","minutesDuration":30,"created":"2026-11-21T10:00:00.000Z"`,
		`{"actor":{"type":"Practitioner","identifier":{"system":"urn:teleconsult:user-id","value":"doc-1"}},"required":"required","status":"accepted"}`,
		`{"actor":{"type":"Patient","identifier":{"system":"urn:teleconsult:user-id","value":"pat-1"}},"required":"required","status":"accepted"}`,
		`{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService","extension":[{"url":"channelType","valueCoding":{"system":"urn:teleconsult:video-provider","code":"sfu"}},{"url":"maxParticipants","valuePositiveInt":2}]}`,
		`"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.virtualService"`,
		`"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"VR","display":"virtual"}`,
		`"subject":{"type":"Patient","identifier":{"system":"urn:teleconsult:user-id","value":"pat-1"}}`,
		`{"individual":{"type":"Practitioner","identifier":{"system":"urn:teleconsult:user-id","value":"doc-1"}}}`,
		`{"individual":{"type":"RelatedPerson","identifier":{"system":"urn:teleconsult:user-id","value":"rel-1"}}}`,
		`"appointment":[{"reference":"Appointment/` + visitID + `","type":"Appointment","identifier":{"system":"urn:teleconsult:appointment-id","value":"appt-42"}}]`,
		`"period":{"start":"2026-11-23T10:01:00.000Z","end":"2026-11-23T10:21:00.000Z"}`,
		`"length":{"value":1200,"unit":"s","system":"http://unitsofmeasure.org","code":"s"}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in\n%s", want, got)
		}
	}
	for _, secret := range []string{"Anna", "Mario", "Lucia", "example.org", "/join/"} {
		if strings.Contains(got, secret) {
			t.Errorf("the resources hold %q without names configured:\n%s", secret, got)
		}
	}
	if n := strings.Count(got, `"display"`); n != 1 { // the class's
		t.Errorf("%d displays without names configured", n)
	}
	// Names when configured, in answers here but not for a FHIR server.
	o.Names = true
	named := marshal(t, o.Appointment(tc, fhir.View{Now: now, Settings: settings(false)})) + marshal(t, o.Encounter(tc, fhir.View{Now: now, Settings: settings(false)}))
	for _, want := range []string{`"display":"Dr. Anna Verdi"`, `"display":"Mario Rossi"`, `"display":"Lucia Rossi"`} {
		if !strings.Contains(named, want) {
			t.Errorf("with names: missing %s", want)
		}
	}
	server := marshal(t, o.Encounter(tc, fhir.View{Now: now, Settings: settings(false), ForServer: true}))
	if strings.Contains(server, "Anna") || strings.Count(server, `"display"`) != 1 || strings.Contains(server, `"reference":"Appointment/`) {
		t.Errorf("for a FHIR server: names or a literal reference to our Appointment:\n%s", server)
	}
	// A running call: the period is open and its length grows.
	running := withCall(visit(teleconsult.StateInProgress))
	re := marshal(t, o.Encounter(running, fhir.View{Now: start.Add(6 * time.Minute), Settings: settings(false), Version: 9}))
	for _, want := range []string{`"period":{"start":"2026-11-23T10:01:00.000Z"}`, `"length":{"value":300,`, `"versionId":"9"`} {
		if !strings.Contains(re, want) {
			t.Errorf("in progress: missing %s in %s", want, re)
		}
	}
	// No call: no period, no length.
	planned := marshal(t, o.Encounter(visit(teleconsult.StateScheduled), fhir.View{Now: start, Settings: settings(false)}))
	if strings.Contains(planned, "period") || strings.Contains(planned, "length") {
		t.Errorf("planned: %s", planned)
	}
	// Replaced: the reason names the successor.
	rp := visit(teleconsult.StateReplaced)
	rp.ReplacedBy = "fedcba9876543210fedcba9876543210"
	if s := marshal(t, o.Appointment(rp, fhir.View{Now: start, Settings: settings(false)})); !strings.Contains(s, `"cancelationReason":{"text":"rescheduled: replaced by Appointment/fedcba9876543210fedcba9876543210"}`) {
		t.Errorf("replaced: %s", s)
	}
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
