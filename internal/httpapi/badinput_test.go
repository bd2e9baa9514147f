package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// validCreate is a create body that is accepted; cases below break one
// thing in it.
var validCreate = createJSON(2, "", doctor, patient)

// withField returns validCreate with a raw `"key":value` pair appended.
func withField(pair string) string { return strings.TrimSuffix(validCreate, "}") + "," + pair + "}" }

// createWith builds a create body with the given participants and times.
func createWith(participants, times string) string {
	return `{"participants":` + participants + `,` + times + `}`
}

const goodTimes = `"start_date":"2026-11-23T10:00:00.000Z","duration_in_seconds":3600`

func oneParticipant(p string) string { return `{"number":2,"data":[` + doctor + `,` + p + `]}` }

var badInputTests = []struct {
	name   string
	method string
	path   string // "{id}" is replaced by an existing teleconsultation's id
	body   string
	opts   []reqOption
	status int
	err    string // substring of the error message
}{
	// Media type and size.
	{"create: no content type", "POST", api, validCreate, []reqOption{contentType("")}, 415, "Content-Type must be application/json"},
	{"create: text/plain", "POST", api, validCreate, []reqOption{contentType("text/plain")}, 415, "application/json"},
	{"create: latin1 charset", "POST", api, validCreate, []reqOption{contentType("application/json; charset=latin1")}, 415, "utf-8"},
	{"create: unknown length, no content type", "POST", api, validCreate, []reqOption{contentType(""), unknownLength()}, 415, "application/json"},
	{"create: too large", "POST", api, `{"appointmentId":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `"}`, nil, 413, "request body too large (limit 1048576 bytes)"},
	{"create: too large, unknown length", "POST", api, `{"appointmentId":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `"}`, []reqOption{unknownLength()}, 413, "request body too large (limit 1048576 bytes)"},
	{"create: empty body", "POST", api, "", nil, 400, "request body required"},

	// Syntax.
	{"create: malformed", "POST", api, `{"participants":`, nil, 400, "malformed JSON"},
	{"create: bad token", "POST", api, `{"participants": nope}`, nil, 400, "malformed JSON at byte"},
	{"create: trailing object", "POST", api, validCreate + `{}`, nil, 400, "trailing data"},
	{"create: trailing garbage", "POST", api, validCreate + ` x`, nil, 400, "malformed JSON"},
	{"create: top-level array", "POST", api, `[]`, nil, 400, "request body must be a JSON object"},
	{"create: top-level null", "POST", api, `null`, nil, 400, "request body must be a JSON object"},
	{"create: top-level string", "POST", api, `"x"`, nil, 400, "request body must be a JSON object"},
	{"create: too deep", "POST", api, `{"appointmentId":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, nil, 400, "nested more than"},

	// Unknown and duplicate keys.
	{"create: unknown field", "POST", api, withField(`"foo":1`), nil, 400, "unknown field; expected participants, start_date, end_date, duration_in_seconds, appointmentId"},
	{"create: field in other case", "POST", api, createWith(oneParticipant(patient), `"Start_Date":"2026-11-23T10:00:00Z","duration_in_seconds":3600`), nil, 400, "unknown field; did you mean start_date?"},
	{"create: odd unknown key not echoed", "POST", api, withField(`"a b\n":1`), nil, 400, `unknown field; expected participants,`},
	{"create: a name as a key is not echoed", "POST", api, withField(`"Bob Marker":1`), nil, 400, `unknown field; expected participants,`},
	{"create: a known field misplaced", "POST", api, createWith(oneParticipant(`{"userId":"p1","groups":["patient"],"fullName":"B","code":"x"}`), goodTimes), nil, 400, "participants.data[1].code: field not allowed here; expected userId,"},
	{"create: nested unknown field", "POST", api, createWith(oneParticipant(`{"userId":"p1","groups":["patient"],"fullName":"B","age":4}`), goodTimes), nil, 400, "participants.data[1]: unknown field; expected userId, userExternalId, groups, group, fullName, language, email, timeZone"},
	{"create: unknown participants field", "POST", api, createWith(`{"number":1,"data":[],"extra":true}`, goodTimes), nil, 400, "participants: unknown field; expected number, data"},
	{"create: duplicate key", "POST", api, withField(`"start_date":"2026-11-23T11:00:00Z"`), nil, 400, "start_date: duplicate key"},
	{"create: duplicate unknown key", "POST", api, withField(`"Bob Marker":1,"Bob Marker":2`), nil, 400, "malformed JSON: duplicate key before byte "},
	{"create: nested duplicate key", "POST", api, createWith(oneParticipant(`{"userId":"p1","userId":"d1","groups":["patient"],"fullName":"B"}`), goodTimes), nil, 400, "participants.data[1].userId: duplicate key"},

	// Types.
	{"create: number as string", "POST", api, createWith(`{"number":"2","data":[`+doctor+`]}`, goodTimes), nil, 400, "participants.number: must be an integer"},
	{"create: number with fraction", "POST", api, createWith(`{"number":1.5,"data":[`+doctor+`]}`, goodTimes), nil, 400, "participants.number: must be an integer"},
	{"create: duration with fraction", "POST", api, createWith(oneParticipant(patient), `"start_date":"2026-11-23T10:00:00Z","duration_in_seconds":90.5`), nil, 400, "duration_in_seconds: must be an integer"},
	{"create: duration as string", "POST", api, createWith(oneParticipant(patient), `"start_date":"2026-11-23T10:00:00Z","duration_in_seconds":"3600"`), nil, 400, "duration_in_seconds: must be an integer"},
	{"create: start_date number", "POST", api, createWith(oneParticipant(patient), `"start_date":1795600000,"duration_in_seconds":3600`), nil, 400, "start_date: must be a date-time string"},
	{"create: start_date date only", "POST", api, createWith(oneParticipant(patient), `"start_date":"2026-11-23","duration_in_seconds":3600`), nil, 400, "start_date: must be an RFC 3339 date-time"},
	{"create: start_date without zone", "POST", api, createWith(oneParticipant(patient), `"start_date":"2026-11-23T10:00:00","duration_in_seconds":3600`), nil, 400, "start_date: must be an RFC 3339"},
	{"create: start_date other format", "POST", api, createWith(oneParticipant(patient), `"start_date":"23/11/2026 10:00","duration_in_seconds":3600`), nil, 400, "start_date: must be an RFC 3339"},
	{"create: end_date invalid", "POST", api, createWith(oneParticipant(patient), `"start_date":"2026-11-23T10:00:00Z","end_date":"2026-11-31T11:00:00Z"`), nil, 400, "end_date: must be an RFC 3339"},
	{"create: appointmentId null", "POST", api, withField(`"appointmentId":null`), nil, 400, "appointmentId: must be a string"},
	{"create: appointmentId number", "POST", api, withField(`"appointmentId":42`), nil, 400, "appointmentId: must be a string"},
	{"create: groups as string", "POST", api, createWith(oneParticipant(`{"userId":"p1","groups":"patient","fullName":"B"}`), goodTimes), nil, 400, "participants.data[1].groups: must be an array of strings"},
	{"create: group number", "POST", api, createWith(oneParticipant(`{"userId":"p1","groups":[7],"fullName":"B"}`), goodTimes), nil, 400, "participants.data[1].groups[0]: must be a string"},
	{"create: group object", "POST", api, createWith(oneParticipant(`{"userId":"p1","group":{},"fullName":"B"}`), goodTimes), nil, 400, "participants.data[1].group: must be a string or an array of strings"},
	{"create: userId number", "POST", api, createWith(oneParticipant(`{"userId":12,"groups":["patient"],"fullName":"B"}`), goodTimes), nil, 400, "participants.data[1].userId: must be a string"},
	{"create: userId and userExternalId", "POST", api, createWith(oneParticipant(`{"userId":"p1","userExternalId":"p1","groups":["patient"],"fullName":"B"}`), goodTimes), nil, 400, "give either userId or userExternalId"},
	{"create: groups and group", "POST", api, createWith(oneParticipant(`{"userId":"p1","groups":["patient"],"group":"patient","fullName":"B"}`), goodTimes), nil, 400, "give either groups or group"},
	{"create: participants string", "POST", api, createWith(`"everyone"`, goodTimes), nil, 400, "participants: must be an object"},
	{"create: participants data object", "POST", api, createWith(`{"number":2,"data":{}}`, goodTimes), nil, 400, "participants.data: must be an array"},
	{"create: participant not object", "POST", api, createWith(`{"number":2,"data":["p1"]}`, goodTimes), nil, 400, "participants.data[0]: must be an object"},
	{"create: participants as ids", "POST", api, createWith(`["d1","p1"]`, goodTimes), nil, 400, `participants as a list of user ids needs AUTH_SERVICE; send {"number", "data"} instead`},
	{"create: participants ids not strings", "POST", api, createWith(`["d1",2]`, goodTimes), nil, 400, "participants[1]: must be a string"},

	// Missing fields and the domain's rules.
	{"create: participants missing", "POST", api, `{` + goodTimes + `}`, nil, 400, "participants: required"},
	{"create: start_date missing", "POST", api, createWith(oneParticipant(patient), `"duration_in_seconds":3600`), nil, 400, "start_date: required"},
	{"create: end and duration", "POST", api, createWith(oneParticipant(patient), `"start_date":"2026-11-23T10:00:00Z","end_date":"2026-11-23T11:00:00Z","duration_in_seconds":3600`), nil, 400, "not both"},
	{"create: no end", "POST", api, createWith(oneParticipant(patient), `"start_date":"2026-11-23T10:00:00Z"`), nil, 400, "one is required"},
	{"create: too short", "POST", api, createWith(oneParticipant(patient), `"start_date":"2026-11-23T10:00:00Z","duration_in_seconds":60`), nil, 400, "at least 5 minutes"},
	{"create: huge duration", "POST", api, createWith(oneParticipant(patient), `"start_date":"2026-11-23T10:00:00Z","duration_in_seconds":99999999999999999`), nil, 400, "at most 24 hours"},
	{"create: in the past", "POST", api, createWith(oneParticipant(patient), `"start_date":"2026-11-22T10:00:00Z","duration_in_seconds":3600`), nil, 400, "in the past"},
	{"create: number zero", "POST", api, createWith(`{"number":0,"data":[]}`, goodTimes), nil, 400, "participants.number: must be at least 1"},
	{"create: number huge", "POST", api, createWith(`{"number":1e12,"data":[]}`, goodTimes), nil, 400, "participants.number: at most 50"},
	{"create: more data than number", "POST", api, createWith(`{"number":1,"data":[`+doctor+`,`+patient+`]}`, goodTimes), nil, 400, "participants.number is 1"},
	{"create: missing fullName", "POST", api, createWith(oneParticipant(`{"userId":"p1","groups":["patient"]}`), goodTimes), nil, 400, "participants.data[1].fullName: required"},
	{"create: missing groups", "POST", api, createWith(oneParticipant(`{"userId":"p1","fullName":"B"}`), goodTimes), nil, 400, "participants.data[1].groups"},
	{"create: bad email", "POST", api, createWith(oneParticipant(`{"userId":"p1","groups":["patient"],"fullName":"B","email":"B <b@x.test>"}`), goodTimes), nil, 400, "participants.data[1].email"},
	{"create: bad language", "POST", api, createWith(oneParticipant(`{"userId":"p1","groups":["patient"],"fullName":"B","language":"english"}`), goodTimes), nil, 400, "participants.data[1].language"},
	{"create: same user twice", "POST", api, createWith(`{"number":2,"data":[`+doctor+`,`+doctor+`]}`, goodTimes), nil, 400, "same userId"},

	// PATCH.
	{"patch: empty object", "PATCH", api + "/{id}", `{}`, nil, 400, "nothing to change"},
	{"patch: empty body", "PATCH", api + "/{id}", ``, nil, 400, "request body required"},
	{"patch: appointmentId", "PATCH", api + "/{id}", `{"appointmentId":"x"}`, nil, 400, "appointmentId: cannot be changed"},
	{"patch: empty participants", "PATCH", api + "/{id}", `{"participants":{}}`, nil, 400, "participants: give number, data or both"},
	{"patch: participants as ids", "PATCH", api + "/{id}", `{"participants":["d1"]}`, nil, 400, "needs AUTH_SERVICE"},
	{"patch: bad date", "PATCH", api + "/{id}", `{"start_date":"tomorrow"}`, nil, 400, "start_date: must be an RFC 3339"},
	{"patch: unknown field", "PATCH", api + "/{id}", `{"status":"cancelled"}`, nil, 400, "unknown field; expected participants,"},
	{"patch: duplicate", "PATCH", api + "/{id}", `{"duration_in_seconds":600,"duration_in_seconds":900}`, nil, 400, "duration_in_seconds: duplicate key"},
	{"patch: text/plain", "PATCH", api + "/{id}", `{"duration_in_seconds":600}`, []reqOption{contentType("text/plain")}, 415, "application/json"},
	{"patch: nested type", "PATCH", api + "/{id}", `{"participants":{"number":true}}`, nil, 400, "participants.number: must be an integer"},

	// participants/data.
	{"participant: empty body", "POST", api + "/{id}/participants/data", ``, nil, 400, "request body required"},
	{"participant: unknown field", "POST", api + "/{id}/participants/data", `{"userId":"p1","groups":["patient"],"fullName":"B","age":3}`, nil, 400, "unknown field; expected userId,"},
	{"participant: groups type", "POST", api + "/{id}/participants/data", `{"userId":"p1","groups":"patient","fullName":"B"}`, nil, 400, "groups: must be an array of strings"},
	{"participant: missing userId", "POST", api + "/{id}/participants/data", `{"groups":["patient"],"fullName":"B"}`, nil, 400, "userId: required"},
	{"participant: duplicate", "POST", api + "/{id}/participants/data", `{"userId":"p1","userId":"p2","groups":["patient"],"fullName":"B"}`, nil, 400, "userId: duplicate key"},
	{"participant: array", "POST", api + "/{id}/participants/data", `[]`, nil, 400, "must be a JSON object"},
	{"participant: unknown group", "POST", api + "/{id}/participants/data", nurse, nil, 400, `"nurse"`},

	// Credentials.
	{"credentials: expiresIn string", "POST", Prefix + "/credentials", `{"expiresIn":"3600"}`, []reqOption{asUser("d1")}, 400, "expiresIn: must be an integer"},
	{"credentials: unknown field", "POST", Prefix + "/credentials", `{"expires":3600}`, []reqOption{asUser("d1")}, 400, "unknown field; expected expiresIn"},
	{"credentials: field in other spelling", "POST", Prefix + "/credentials", `{"expires_in":3600}`, []reqOption{asUser("d1")}, 400, "unknown field; did you mean expiresIn?"},
	{"credentials: array", "POST", Prefix + "/credentials", `[]`, []reqOption{asUser("d1")}, 400, "must be a JSON object"},
	{"credentials: out of range", "POST", Prefix + "/credentials", `{"expiresIn":10}`, []reqOption{asUser("d1")}, 400, "expiresIn: must be between"},
	{"credentials: text/plain", "POST", Prefix + "/credentials", `{}`, []reqOption{asUser("d1"), contentType("text/plain")}, 415, "application/json"},

	// Sessions.
	{"sessions: code number", "POST", Prefix + "/sessions", `{"code":43}`, []reqOption{noKey()}, 400, "code: must be a string"},
	{"sessions: code missing", "POST", Prefix + "/sessions", `{}`, []reqOption{noKey()}, 400, "code: required"},
	{"sessions: unknown field", "POST", Prefix + "/sessions", `{"code":"x","user":"d1"}`, []reqOption{noKey()}, 400, "unknown field; expected code"},
	{"sessions: duplicate code", "POST", Prefix + "/sessions", `{"code":"a","code":"b"}`, []reqOption{noKey()}, 400, "code: duplicate key"},
	{"sessions: empty body", "POST", Prefix + "/sessions", ``, []reqOption{noKey()}, 400, "request body required"},
	{"sessions: text/plain", "POST", Prefix + "/sessions", `{"code":"x"}`, []reqOption{noKey(), contentType("text/plain")}, 415, "application/json"},
}

// Ensure every kind of bad input gets a clear 4xx JSON error and changes
// nothing.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "", doctor) // waiting for one more: participants/data accepts
	for _, tt := range badInputTests {
		t.Run(tt.name, func(t *testing.T) {
			commits := e.store.Commits
			w := e.do(tt.method, strings.ReplaceAll(tt.path, "{id}", id), tt.body, tt.opts...)
			wantStatus(t, w, tt.status)
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got := errorOf(t, w); !strings.Contains(got, tt.err) {
				t.Errorf("error = %q, want it to contain %q", got, tt.err)
			}
			if e.store.Commits != commits {
				t.Errorf("store commits %d → %d: bad input was stored", commits, e.store.Commits)
			}
		})
	}
	if d := e.view(id, "d1")["details"].(map[string]any); d["status"] != "waiting_for_participants" || d["expectedParticipants"] != 2.0 {
		t.Fatalf("the teleconsultation changed: %v", d)
	}
}

// Ensure the accepted spellings are accepted: charset, aliases, offsets,
// fractions, integral numbers written as floats.
func TestGoodInputVariants(t *testing.T) {
	tests := []struct {
		name string
		body string
		opts []reqOption
	}{
		{"charset utf-8", validCreate, []reqOption{contentType("application/json; charset=UTF-8")}},
		{"aliases", createWith(`{"number":2,"data":[{"userExternalId":"d1","group":"doctor","fullName":"D"},{"userId":"p1","group":["patient"],"fullName":"P"}]}`, goodTimes), nil},
		{"offset and end_date", createWith(oneParticipant(patient), `"start_date":"2026-11-23T11:00:00+01:00","end_date":"2026-11-23T10:30:00.123456789Z"`), nil},
		{"integral float", createWith(`{"number":2.0,"data":[`+doctor+`]}`, `"start_date":"2026-11-23T10:00:00Z","duration_in_seconds":3.6e3`), nil},
		{"no data", createWith(`{"number":2}`, goodTimes), nil},
		{"unknown length", validCreate, []reqOption{unknownLength()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			w := e.do("POST", api, tt.body, tt.opts...)
			wantStatus(t, w, http.StatusCreated)
			if loc := w.Header().Get("Location"); !strings.HasPrefix(loc, api+"/") {
				t.Errorf("Location = %q", loc)
			}
		})
	}
}

// Ensure ids that cannot be ids are 404 without a store look-up, and long
// or odd ones are not echoed.
func TestBadIDs(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("a", 100)
	tests := []struct {
		id, want string
	}{
		{"xyz", "Room with id xyz not found"},
		{"0123456789ABCDEF0123456789ABCDEF", "Room with id 0123456789ABCDEF0123456789ABCDEF not found"},
		{"0123456789abcdef0123456789abcdef0", "Room not found"}, // 33 characters
		{"ab$c", "Room not found"},
		{long, "Room not found"},
		{"%3Cscript%3E%0A", "Room not found"},
		{"Mario%20Rossi", "Room not found"},
	}
	for _, tt := range tests {
		for _, m := range []struct{ method, suffix, body string }{
			{"GET", "", ""}, {"PATCH", "", `{"duration_in_seconds":600}`}, {"DELETE", "", ""},
			{"POST", "/participants/data", patient},
		} {
			t.Run(m.method+" "+tt.id, func(t *testing.T) {
				finds := e.spy.finds.Load()
				w := e.do(m.method, api+"/"+tt.id+m.suffix, m.body, asUser("d1"))
				wantStatus(t, w, http.StatusNotFound)
				if got := errorOf(t, w); got != tt.want {
					t.Errorf("error = %q, want %q", got, tt.want)
				}
				if e.spy.finds.Load() != finds {
					t.Error("the store was asked")
				}
			})
		}
	}
	// A well-formed unknown id does reach the store.
	missing := fmt.Sprintf("%032x", 7)
	w := e.do("GET", api+"/"+missing, "", asUser("d1"))
	wantStatus(t, w, http.StatusNotFound)
	if got := errorOf(t, w); got != "Room with id "+missing+" not found" {
		t.Fatalf("error = %q", got)
	}
}
