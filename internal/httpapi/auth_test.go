package httpapi

import (
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teleconsult/teleconsult/internal/inmem"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure every route answers every kind of caller as it should: API key
// first, then the user the caller acts for.
func TestAuthMatrix(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "", doctor, patient)
	e.clock.Set(startAt.Add(-5 * time.Minute))
	twoKeys := func(r *http.Request) { r.Header.Add("Authorization", "Bearer "+testKey) }

	const (
		keyErr  = "missing or invalid API key"
		userErr = "Unauthorized user"
	)
	get := api + "/" + id
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		opts   []reqOption
		status int
		err    string
	}{
		{"get: no key", "GET", get, "", []reqOption{noKey(), asUser("d1")}, 401, keyErr},
		{"get: wrong key", "GET", get, "", []reqOption{withKey("wrong"), asUser("d1")}, 401, keyErr},
		{"get: basic scheme", "GET", get, "", []reqOption{withHeader("Authorization", "Basic "+testKey), asUser("d1")}, 401, keyErr},
		{"get: key without scheme", "GET", get, "", []reqOption{withHeader("Authorization", testKey), asUser("d1")}, 401, keyErr},
		{"get: two Authorization headers", "GET", get, "", []reqOption{twoKeys, asUser("d1")}, 401, keyErr},
		{"get: key prefix", "GET", get, "", []reqOption{withKey(testKey[:10]), asUser("d1")}, 401, keyErr},
		{"get: identity header without key", "GET", get, "", []reqOption{noKey(), asUser("d1"), withHeader("miauserproperties", `{"customUserId":"d1"}`)}, 401, keyErr},
		{"get: key, no user", "GET", get, "", nil, 401, userErr},
		{"get: key, empty user", "GET", get, "", []reqOption{asUser("")}, 401, userErr},
		{"get: key, not a participant", "GET", get, "", []reqOption{asUser("x9")}, 401, userErr},
		{"get: key, participant", "GET", get, "", []reqOption{asUser("d1")}, 200, ""},
		{"get: lower-case scheme, second key", "GET", get, "", []reqOption{withHeader("Authorization", "bearer "+otherKey), asUser("p1")}, 200, ""},
		{"credentials: no key", "POST", Prefix + "/credentials", "", []reqOption{noKey(), asUser("d1")}, 401, keyErr},
		{"credentials: key, no user", "POST", Prefix + "/credentials", "", nil, 401, userErr},
		{"credentials: key, user", "POST", Prefix + "/credentials", `{"expiresIn":600}`, []reqOption{asUser("d1")}, 201, ""},
		{"create: no key", "POST", api, validCreate, []reqOption{noKey()}, 401, keyErr},
		{"patch: no key", "PATCH", get, `{"duration_in_seconds":600}`, []reqOption{noKey()}, 401, keyErr},
		{"delete: no key", "DELETE", get, "", []reqOption{noKey(), asUser("d1")}, 401, keyErr},
		{"delete: wrong key", "DELETE", get, "", []reqOption{withKey(testKey + "x")}, 401, keyErr},
		{"participants: no key", "POST", get + "/participants/data", patient2, []reqOption{noKey()}, 401, keyErr},
		{"metrics: no key", "GET", "/metrics", "", []reqOption{noKey()}, 401, keyErr},
		{"metrics: wrong key", "GET", "/metrics", "", []reqOption{withKey("nope")}, 401, keyErr},
		{"sessions: no key needed", "POST", Prefix + "/sessions", sessionJSON(strings.Repeat("x", 43)), []reqOption{noKey()}, 401, "unknown link"},
		{"healthz: public", "GET", "/healthz", "", []reqOption{noKey()}, 200, ""},
		{"readyz: public", "GET", "/readyz", "", []reqOption{noKey()}, 200, ""},
		{"openapi: public", "GET", "/openapi.json", "", []reqOption{noKey()}, 200, ""},
		{"docs: public", "GET", "/docs", "", []reqOption{noKey()}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			commits := e.store.Commits
			w := e.do(tt.method, tt.path, tt.body, tt.opts...)
			wantStatus(t, w, tt.status)
			if tt.err != "" {
				if got := errorOf(t, w); !strings.Contains(got, tt.err) {
					t.Errorf("error = %q, want %q", got, tt.err)
				}
			}
			if tt.err == keyErr && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tt.status >= 400 && e.store.Commits != commits {
				t.Error("a refused request changed the store")
			}
			if tt.status >= 400 && strings.Contains(w.Body.String(), "/join/") {
				t.Error("a refused request got a link")
			}
		})
	}
}

// Ensure POST /credentials issues a token for the caller's user.
func TestCredentials(t *testing.T) {
	e := newEnv(t)
	w := e.do("POST", Prefix+"/credentials", "", asUser("d1"))
	wantStatus(t, w, http.StatusUnauthorized)
	if got := errorOf(t, w); got != "Unauthorized user" {
		t.Fatalf("a user of no visit: %q, want Mia's Unauthorized user", got)
	}
	e.create(2, "", doctor, patient)
	w = e.do("POST", Prefix+"/credentials", "", asUser("d1"))
	wantStatus(t, w, http.StatusCreated)
	b := body(t, w)
	if b["accessToken"] == "" || !strings.HasPrefix(b["bandyerUserId"].(string), "u_") {
		t.Fatalf("credentials = %v", b)
	}
	if got, want := b["expiresAt"], "2026-11-23T09:00:00.000Z"; got != want {
		t.Fatalf("expiresAt = %v, want %v (one hour)", got, want)
	}
	claims, err := e.svc.Tokens.Verify(b["accessToken"].(string), e.clock.Now())
	if err != nil || claims.UserID != "d1" || claims.Kind != teleconsult.SessionUser {
		t.Fatalf("token claims = %+v, %v", claims, err)
	}
	w = e.do("POST", Prefix+"/credentials", `{"expiresIn":600}`, asUser("d1"))
	wantStatus(t, w, http.StatusCreated)
	b2 := body(t, w)
	if b2["expiresAt"] != "2026-11-23T08:10:00.000Z" || b2["bandyerUserId"] != b["bandyerUserId"] {
		t.Fatalf("second credentials = %v", b2)
	}
}

var jsonPath = []teleconsult.PathStep{
	{From: "object", Extract: "headers"},
	{From: "object", Extract: "miauserproperties"},
	{From: "json", Extract: "customUserId"},
}

// Ensure a configured userIdPathInRequest with a json step identifies the
// user, and the default header then means nothing.
func TestUserIDPathJSON(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *teleconsult.Settings) { c.UserIDPath = jsonPath })
	id := e.create(2, "", `{"userId":"u1","groups":["doctor"],"fullName":"D"}`, `{"userId":"12345","groups":["patient"],"fullName":"P"}`)
	tests := []struct {
		name   string
		header string
		status int
		role   string
	}{
		{"json string", `{"customUserId":"u1"}`, 200, "plus"},
		{"json number", `{"customUserId":12345,"other":[1,{"a":null}]}`, 200, "basic"},
		{"not a participant", `{"customUserId":"u2"}`, 401, ""},
		{"duplicate key", `{"customUserId":"u1","customUserId":"u2"}`, 401, ""},
		{"field missing", `{"userId":"u1"}`, 401, ""},
		{"not json", `u1`, 401, ""},
		{"empty string", `{"customUserId":""}`, 401, ""},
		{"object value", `{"customUserId":{"id":"u1"}}`, 401, ""},
		{"trailing data", `{"customUserId":"u1"} x`, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do("GET", api+"/"+id, "", withHeader("MiaUserProperties", tt.header))
			wantStatus(t, w, tt.status)
			if tt.role != "" {
				if got := body(t, w)["details"].(map[string]any)["role"]; got != tt.role {
					t.Errorf("role = %v, want %v", got, tt.role)
				}
			}
		})
	}
	wantStatus(t, e.do("GET", api+"/"+id, "", asUser("u1")), http.StatusUnauthorized)
	wantStatus(t, e.do("POST", Prefix+"/credentials", "", withHeader("miauserproperties", `{"customUserId":"u1"}`)), http.StatusCreated)
}

// Ensure an array step picks an element of a JSON array.
func TestUserIDPathArray(t *testing.T) {
	path := []teleconsult.PathStep{
		{From: "object", Extract: "headers"},
		{From: "object", Extract: "x-user"},
		{From: "json", Extract: "ids"},
		{From: "array", Extract: "1"},
	}
	e := newEnv(t, func(c *Config, _ *teleconsult.Settings) { c.UserIDPath = path })
	id := e.create(2, "", doctor, patient)
	wantStatus(t, e.do("GET", api+"/"+id, "", withHeader("X-User", `{"ids":["zz","d1"]}`)), http.StatusOK)
	wantStatus(t, e.do("GET", api+"/"+id, "", withHeader("X-User", `{"ids":["d1"]}`)), http.StatusUnauthorized)
}

func TestWalkUserPath(t *testing.T) {
	headers := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	def := teleconsult.DefaultUserIDPath("miauserid")
	arr := []teleconsult.PathStep{{From: "object", Extract: "headers"}, {From: "object", Extract: "x"}, {From: "json"}, {From: "array", Extract: "0"}}
	deep := []teleconsult.PathStep{{From: "object", Extract: "headers"}, {From: "object", Extract: "x"}, {From: "json", Extract: "a"}, {From: "object", Extract: "b"}, {From: "array", Extract: "2"}}
	tests := []struct {
		name string
		h    http.Header
		path []teleconsult.PathStep
		want string
	}{
		{"default header", headers("Miauserid", "u1"), def, "u1"},
		{"header case-insensitive", headers("MIAUSERID", "u1"), def, "u1"},
		{"header missing", headers("X", "u1"), def, ""},
		{"header twice", headers("miauserid", "u1", "miauserid", "u2"), def, ""},
		{"header empty", headers("miauserid", ""), def, ""},
		{"json step", headers("miauserproperties", `{"customUserId":"u1"}`), jsonPath, "u1"},
		{"json number", headers("miauserproperties", `{"customUserId":7}`), jsonPath, "7"},
		{"json bool", headers("miauserproperties", `{"customUserId":true}`), jsonPath, ""},
		{"json null", headers("miauserproperties", `{"customUserId":null}`), jsonPath, ""},
		{"json array top", headers("miauserproperties", `["u1"]`), jsonPath, ""},
		{"json invalid", headers("miauserproperties", `{"customUserId":`), jsonPath, ""},
		{"whole json array, index 0", headers("x", `["u1","u2"]`), arr, "u1"},
		{"array empty", headers("x", `[]`), arr, ""},
		{"array of objects", headers("x", `[{"id":"u1"}]`), arr, ""},
		{"deep", headers("x", `{"a":{"b":["u0","u1","u2"]}}`), deep, "u2"},
		{"deep, short array", headers("x", `{"a":{"b":["u0"]}}`), deep, ""},
		{"deep, b not object", headers("x", `{"a":"b"}`), deep, ""},
		{"array step on a string", headers("x", `"u1"`), arr, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := walkUserPath(requestParts{header: tt.h}, tt.path); got != tt.want {
				t.Errorf("walkUserPath = %q, want %q", got, tt.want)
			}
		})
	}
}

// Ensure New refuses configurations it cannot serve safely.
func TestNewConfigErrors(t *testing.T) {
	sum := sha256.Sum256([]byte(testKey))
	svc := func() *teleconsult.Service {
		s := &teleconsult.Service{Store: inmem.NewStore(), Settings: teleconsult.DefaultSettings()}
		return s
	}
	reg := prometheus.NewRegistry()
	if _, err := New(Config{Service: svc(), APIKeyHashes: [][]byte{sum[:]}, Registry: reg}); err != nil {
		t.Fatalf("first server on a registry: %v", err)
	}
	tests := []struct {
		name string
		cfg  Config
		err  string
	}{
		{"no service", Config{APIKeyHashes: [][]byte{sum[:]}}, "Service"},
		{"no keys", Config{Service: svc()}, "API key"},
		{"short hash", Config{Service: svc(), APIKeyHashes: [][]byte{sum[:16]}}, "32 bytes"},
		{"negative body limit", Config{Service: svc(), APIKeyHashes: [][]byte{sum[:]}, MaxBodyBytes: -1}, "MaxBodyBytes"},
		{"path not from the request", Config{Service: svc(), APIKeyHashes: [][]byte{sum[:]}, UserIDPath: []teleconsult.PathStep{{From: "object", Extract: "params"}}}, "headers"},
		{"gateway without proxies", Config{Service: svc(), APIKeyHashes: [][]byte{sum[:]}, TrustGatewayIdentity: true}, "TrustedProxies"},
		{"array without index", Config{Service: svc(), APIKeyHashes: [][]byte{sum[:]}, UserIDPath: []teleconsult.PathStep{{From: "object", Extract: "headers"}, {From: "array", Extract: "first"}}}, "index"},
		{"unknown step", Config{Service: svc(), APIKeyHashes: [][]byte{sum[:]}, UserIDPath: []teleconsult.PathStep{{From: "object", Extract: "headers"}, {From: "xml", Extract: "a"}}}, "xml"},
		{"metrics registered twice", Config{Service: svc(), APIKeyHashes: [][]byte{sum[:]}, Registry: reg}, "register metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("New error = %v, want it to mention %q", err, tt.err)
			}
		})
	}
}
