package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Fuzz targets drive the real handlers through httptest and fail on any
// 5xx or panic, and on an error message that is not printable ASCII or
// repeats more than a short excerpt of the input (see checkNoEcho). Normal test runs use only the seeds; run one with e.g.
// go test -run=NONE -fuzz=FuzzCreate -fuzztime=10m ./internal/httpapi/

// fuzzCheck serves one request and fails on a server error or an error
// message echoing inputs, what the request carries from the fuzzer.
func fuzzCheck(t *testing.T, e *env, r *http.Request, inputs ...string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code >= 500 {
		t.Fatalf("%s %s: status %d: %s", r.Method, r.URL.Path, w.Code, w.Body.String())
	}
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") && w.Body.Len() > 0 {
		t.Fatalf("non-JSON error body: %q", w.Body.String())
	}
	if w.Code >= 400 {
		var eb struct{ Error string }
		if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil {
			t.Fatalf("error body %q: %v", w.Body.String(), err)
		}
		checkNoEcho(t, eb.Error, inputs...)
	}
	return w
}

func fuzzRequest(method, path, body string) *http.Request {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+testKey)
	r.Header.Set("Content-Type", "application/json")
	return r
}

var bodySeeds = []string{
	"", "{}", "[]", "null", `"x"`, "{", `{"a":1}{}`, `{"a":1,"a":2}`, "\xff\xfe", `{"\u0000":1}`,
	strings.Repeat("[", 100),
}

func addSeeds(f *testing.F, seeds ...string) {
	for _, s := range append(seeds, bodySeeds...) {
		f.Add(s)
	}
}

func FuzzCreate(f *testing.F) {
	addSeeds(f,
		validCreate,
		createJSON(1, "appt-1", doctor),
		createJSON(2, "", patient, patient2),
		createWith(`["d1","p1"]`, goodTimes),
		createWith(`{"number":1e400,"data":[]}`, goodTimes),
		createWith(oneParticipant(`{"userExternalId":"p1","group":["patient","doctor"],"fullName":"P","email":"p@x.test","timeZone":"Europe/Rome"}`), goodTimes),
		createWith(oneParticipant(patient), `"start_date":"9999-12-31T23:59:59.999999999+14:00","duration_in_seconds":-9223372036854775808`),
		createWith(oneParticipant(patient), `"start_date":"2026-11-23T10:00:00Z","end_date":"0001-01-01T00:00:00Z"`),
	)
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		fuzzCheck(t, e, fuzzRequest("POST", api, body), body)
	})
}

func FuzzPatch(f *testing.F) {
	addSeeds(f,
		`{"duration_in_seconds":600}`,
		`{"start_date":"2026-11-23T12:00:00+02:00"}`,
		`{"end_date":"2026-11-23T10:10:00Z"}`,
		`{"participants":{"number":3}}`,
		`{"participants":{"number":2,"data":[`+doctor+`,`+patient2+`]}}`,
		`{"participants":{"data":[]}}`,
		`{"participants":{"number":1,"data":[`+patient+`]}}`,
		`{"appointmentId":"a"}`,
	)
	e := newEnv(f)
	id := e.create(2, "", doctor, patient)
	f.Fuzz(func(t *testing.T, body string) {
		fuzzCheck(t, e, fuzzRequest("PATCH", api+"/"+id, body), body)
	})
}

func FuzzParticipant(f *testing.F) {
	addSeeds(f, patient, doctor, nurse,
		`{"userExternalId":"x","group":"patient","fullName":"X"}`,
		`{"userId":" ","groups":[""],"fullName":"\u2028"}`,
		`{"userId":"p9","groups":["patient"],"fullName":"P","timeZone":"Local"}`,
	)
	e := newEnv(f)
	var mu sync.Mutex
	id := ""
	f.Fuzz(func(t *testing.T, in string) {
		mu.Lock()
		defer mu.Unlock()
		if id == "" { // a fresh room after every accepted add, so adds keep reaching the domain
			w := fuzzCheck(t, e, fuzzRequest("POST", api, createJSON(3, "", doctor)))
			id, _ = body(t, w)["roomId"].(string)
		}
		if w := fuzzCheck(t, e, fuzzRequest("POST", api+"/"+id+"/participants/data", in), in); w.Code == http.StatusCreated {
			id = ""
		}
	})
}

func FuzzCredentials(f *testing.F) {
	addSeeds(f, `{"expiresIn":600}`, `{"expiresIn":0}`, `{"expiresIn":-1}`, `{"expiresIn":1e300}`, `{"expiresIn":86400.0}`)
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		r := fuzzRequest("POST", Prefix+"/credentials", body)
		r.Header.Set("miauserid", "d1")
		fuzzCheck(t, e, r, body)
	})
}

func FuzzSession(f *testing.F) {
	e := newEnv(f)
	id := e.create(2, "", doctor, patient)
	e.clock.Set(startAt.Add(-time.Minute))
	code := linkCode(f, e.view(id, "p1")["accessLinkURL"])
	addSeeds(f, sessionJSON(code), sessionJSON(strings.Repeat("A", 43)), sessionJSON(""), `{"code":null}`,
		sessionJSON(code[:42]+"\u00e9"), `{"code":"`+code+`","language":"it","useBackground":true}`, `{"code":"`+code+`","useBackground":"1"}`)
	var n atomic.Uint32
	f.Fuzz(func(t *testing.T, body string) {
		r := fuzzRequest("POST", Prefix+"/sessions", body)
		r.Header.Del("Authorization")
		// A new address each time: the rate limit must not hide the decoder.
		i := n.Add(1)
		r.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1", i>>16&0xff, i>>8&0xff, i&0xff)
		fuzzCheck(t, e, r, body)
	})
}

func FuzzUserIDPath(f *testing.F) {
	arrayPath := []teleconsult.PathStep{
		{From: "object", Extract: "headers"},
		{From: "object", Extract: "miauserproperties"},
		{From: "json", Extract: "ids"},
		{From: "array", Extract: "1"},
	}
	byJSON := newEnv(f, func(c *Config, _ *teleconsult.Settings) { c.UserIDPath = jsonPath })
	byArray := newEnv(f, func(c *Config, _ *teleconsult.Settings) { c.UserIDPath = arrayPath })
	ids := []string{
		byJSON.create(2, "", doctor, patient),
		byArray.create(2, "", doctor, patient),
	}
	for _, s := range []string{
		`{"customUserId":"d1"}`, `{"customUserId":7}`, `{"ids":["x","p1"]}`, `{"ids":[1,2]}`,
		`{"customUserId":"d1","customUserId":"p1"}`, `{"customUserId":{"a":[]}}`, "", "d1", "\x00", `{"ids":`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		for i, e := range []*env{byJSON, byArray} {
			r := httptest.NewRequest("GET", api+"/"+ids[i], nil)
			r.Header.Set("Authorization", "Bearer "+testKey)
			r.Header["Miauserproperties"] = []string{header}
			w := fuzzCheck(t, e, r, header)
			if w.Code != http.StatusOK && w.Code != http.StatusUnauthorized {
				t.Fatalf("status %d for header %q", w.Code, header)
			}
			walkUserPath(requestParts{header: r.Header}, []teleconsult.PathStep{{From: "object", Extract: "headers"}, {From: "object", Extract: "miauserproperties"}, {From: "json"}, {From: "array", Extract: "0"}})
		}
	})
}

// FuzzPathIDs sends odd ids in the paths of every route that has one.
func FuzzPathIDs(f *testing.F) {
	for _, s := range []string{"xyz", "0123456789abcdef0123456789abcdef", "Bob Marker", "\u202e", strings.Repeat("a", 100), "%00", "a/b"} {
		f.Add(s, "p1")
	}
	e := newEnv(f, invitationsOn)
	f.Fuzz(func(t *testing.T, id, user string) {
		for _, seg := range []string{id, user} {
			if seg == "" || seg == "." || seg == ".." {
				return // the mux redirects to the cleaned path
			}
		}
		for _, path := range []string{
			api + "/" + url.PathEscape(id),
			api + "/" + url.PathEscape(id) + "/uploads",
			api + "/" + url.PathEscape(id) + "/uploads/" + url.PathEscape(user),
			api + "/" + url.PathEscape(id) + "/participants/" + url.PathEscape(user) + "/invitation",
		} {
			r := fuzzRequest("GET", path, "")
			r.Header.Set("miauserid", "d1")
			fuzzCheck(t, e, r, id+"\x00"+user)
		}
	})
}
