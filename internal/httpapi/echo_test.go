package httpapi

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// checkNoEcho fails when msg, an error message, is not printable ASCII or
// repeats more of any of inputs (what the caller sent: a body, a header, a
// path segment) than an excerpt of [teleconsult.MaxEcho] characters in its
// two quotes.
func checkNoEcho(t *testing.T, msg string, inputs ...string) {
	t.Helper()
	for _, r := range msg {
		if r < 0x20 || r > 0x7e {
			t.Fatalf("error message %q has a character %U that is not printable ASCII", msg, r)
		}
	}
	const n = teleconsult.MaxEcho + 3
	for i := 0; i+n <= len(msg); i++ {
		for _, in := range inputs {
			if strings.Contains(in, msg[i:i+n]) {
				t.Fatalf("error message %q repeats %q of the input", msg, msg[i:i+n])
			}
		}
	}
}

// Error messages never repeat a field name the API does not have (it may
// be a patient's name), nor more than a short printable excerpt of an id
// or a group.
func TestErrorsDoNotEchoInput(t *testing.T) {
	const (
		name = "Bob Marker"
		long = "Roberta Marker-Esposito Bianchi, born 1961-04-02" // over MaxEcho
		odd  = "\u202egpj.exe\u0000\u2066x"
	)
	e := newEnv(t, invitationsOn)
	id := e.create(2, "", doctor)
	tests := []struct {
		name, method, path, body string
		status                   int
		// never must not appear in the message at all.
		never string
	}{
		{"name as a field", "POST", api, withField(`"` + name + `":1`), 400, name},
		{"long field", "POST", api, withField(`"` + long + `":1`), 400, "Roberta"},
		{"odd field", "POST", api, withField(fmt.Sprintf("%q:1", odd)), 400, "gpj"},
		{"name as a nested field", "POST", api, createWith(oneParticipant(`{"userId":"p1","groups":["patient"],"fullName":"B","`+name+`":1}`), goodTimes), 400, name},
		{"name as a participants field", "POST", api, createWith(`{"number":1,"data":[],"`+name+`":2}`, goodTimes), 400, name},
		{"name as a duplicate key", "POST", api, withField(`"` + name + `":1,"` + name + `":2`), 400, name},
		{"duplicate key under a name", "POST", api, withField(`"` + name + `":{"number":1,"number":2}`), 400, name},
		{"name as a credentials field", "POST", Prefix + "/credentials", `{"` + name + `":1}`, 400, name},
		{"name as a session field", "POST", Prefix + "/sessions", `{"code":"x","` + name + `":1}`, 400, name},
		{"invalid character", "POST", api, "{\u00e9}", 400, "\u00e9"},
		{"long group", "POST", api, createWith(oneParticipant(`{"userId":"p1","groups":["`+long+`"],"fullName":"B"}`), goodTimes), 400, "1961"},
		{"odd group", "POST", api, createWith(oneParticipant(fmt.Sprintf(`{"userId":"p1","groups":[%q],"fullName":"B"}`, "x"+odd)), goodTimes), 400, "gpj.exe\u0000"},
		{"long user id twice", "POST", api + "/" + id + "/participants/data", `{"userId":"d1","groups":["doctor"],"fullName":"B"}`, 409, ""},
		{"name as a room id", "GET", api + "/" + url.PathEscape(name), "", 404, name},
		{"long room id", "GET", api + "/" + url.PathEscape(long), "", 404, "Roberta"},
		{"long invitation user", "GET", api + "/" + id + "/participants/" + url.PathEscape(long) + "/invitation", "", 404, "1961"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do(tt.method, tt.path, tt.body, asUser("d1"))
			wantStatus(t, w, tt.status)
			msg := errorOf(t, w)
			if tt.never != "" && strings.Contains(msg, tt.never) {
				t.Fatalf("error %q repeats %q", msg, tt.never)
			}
			p, _ := url.PathUnescape(tt.path)
			checkNoEcho(t, msg, tt.body, p)
		})
	}
	// A user id longer than MaxEcho in a conflict is cut to an excerpt.
	longID := strings.Repeat("u", 40)
	id2 := e.create(3, "", doctor, `{"userId":"`+longID+`","groups":["patient"],"fullName":"P"}`)
	w := e.do("POST", api+"/"+id2+"/participants/data", `{"userId":"`+longID+`","groups":["patient"],"fullName":"Q"}`)
	wantStatus(t, w, 409)
	if msg := errorOf(t, w); !strings.Contains(msg, `"`+strings.Repeat("u", 32)+`"...`) {
		t.Errorf("conflict message %q, want the user id cut to 32 characters", msg)
	} else {
		checkNoEcho(t, msg, longID)
	}
}
