package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/clientaddr"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// proxies trusts 10.0.0.0/8 (TRUSTED_PROXIES), optionally with
// TRUST_GATEWAY_IDENTITY.
func proxies(gateway bool) envOption {
	return func(c *Config, _ *teleconsult.Settings) {
		t, err := clientaddr.ParseTrusted("10.0.0.0/8")
		if err != nil {
			panic(err)
		}
		c.TrustedProxies, c.TrustGatewayIdentity = t, gateway
	}
}

// behind sends a request through the trusted proxy 10.0.0.5 for client.
func behind(client string) reqOption {
	return func(r *http.Request) {
		r.RemoteAddr = "10.0.0.5:40000"
		r.Header.Set("X-Forwarded-For", client)
	}
}

// Ensure one client behind a proxy cannot lock everyone else behind it out
// of the link exchange: with TRUSTED_PROXIES the limit is per real client.
// Without it (the default) every client behind the proxy shares the
// proxy's bucket, which is what the test shows first.
func TestSessionRateLimitBehindProxy(t *testing.T) {
	guess := sessionJSON(strings.Repeat("g", 43))
	for _, tt := range []struct {
		name  string
		opts  []envOption
		other int // what another client behind the proxy gets
	}{
		{"nothing trusted: the proxy's bucket", nil, http.StatusTooManyRequests},
		{"proxy trusted: per client", []envOption{proxies(false)}, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts...)
			for range sessionBurst {
				wantStatus(t, e.do("POST", Prefix+"/sessions", guess, noKey(), behind("203.0.113.7")), http.StatusUnauthorized)
			}
			wantStatus(t, e.do("POST", Prefix+"/sessions", guess, noKey(), behind("203.0.113.7")), http.StatusTooManyRequests)
			// The attacker cannot escape its bucket by writing its own
			// X-Forwarded-For entry: the proxy appends the real one.
			wantStatus(t, e.do("POST", Prefix+"/sessions", guess, noKey(), behind("192.0.2.99, 203.0.113.7")), http.StatusTooManyRequests)
			wantStatus(t, e.do("POST", Prefix+"/sessions", guess, noKey(), behind("198.51.100.2")), tt.other)
		})
	}
	// X-Forwarded-For from an address that is not a trusted proxy is
	// ignored: the peer's own bucket applies.
	e := newEnv(t, proxies(false))
	for i := range sessionBurst {
		e.do("POST", Prefix+"/sessions", guess, noKey(), fromAddr("203.0.113.9:1"), withHeader("X-Forwarded-For", "198.51.100."+string(rune('0'+i%10))))
	}
	wantStatus(t, e.do("POST", Prefix+"/sessions", guess, noKey(), fromAddr("203.0.113.9:1"), withHeader("X-Forwarded-For", "198.51.100.77")), http.StatusTooManyRequests)
}

// Ensure mounted handlers see the client address through clientaddr.Of.
func TestClientAddrForMounts(t *testing.T) {
	var seen []string
	mount := func(c *Config, _ *teleconsult.Settings) {
		c.Mounts = append(c.Mounts, Mount{Method: "GET", Path: "/probe", Public: true, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = append(seen, clientaddr.Of(r).String())
		})})
	}
	e := newEnv(t, proxies(false), mount)
	e.do("GET", "/probe", "", behind("198.51.100.3"))
	e.do("GET", "/probe", "", fromAddr("203.0.113.4:9"), withHeader("X-Forwarded-For", "198.51.100.3"))
	if strings.Join(seen, " ") != "198.51.100.3 203.0.113.4" {
		t.Errorf("mounted handler saw %v", seen)
	}
}

// Ensure TRUST_GATEWAY_IDENTITY lets only a trusted proxy, and only on the
// routes that act for the named user, call without an API key.
func TestGatewayIdentity(t *testing.T) {
	const keyErr = "missing or invalid API key"
	userJWT := withHeader("Authorization", "Bearer eyJhbGciOi.user-session.sig")
	for _, gateway := range []bool{true, false} {
		e := newEnv(t, proxies(gateway))
		id := e.create(2, "", doctor, patient)
		get := api + "/" + id
		tests := []struct {
			name   string
			method string
			path   string
			body   string
			opts   []reqOption
			status int // with TRUST_GATEWAY_IDENTITY; without it every one is 401
		}{
			{"get as participant", "GET", get, "", []reqOption{noKey(), behind("198.51.100.1"), asUser("p1")}, 200},
			{"get with the user's own JWT", "GET", get, "", []reqOption{userJWT, behind("198.51.100.1"), asUser("d1")}, 200},
			{"get as a stranger", "GET", get, "", []reqOption{noKey(), behind("198.51.100.1"), asUser("x9")}, 401},
			{"get naming nobody", "GET", get, "", []reqOption{noKey(), behind("198.51.100.1")}, 401},
			{"credentials", "POST", Prefix + "/credentials", `{"expiresIn":600}`, []reqOption{noKey(), behind("198.51.100.1"), asUser("d1")}, 201},
			{"invitation state", "GET", get + "/participants/d1/invitation", "", []reqOption{noKey(), behind("198.51.100.1"), asUser("d1")}, 200},
			{"untrusted peer", "GET", get, "", []reqOption{noKey(), fromAddr("203.0.113.1:5"), withHeader("X-Forwarded-For", "10.0.0.5"), asUser("p1")}, 401},
			{"create", "POST", api, createJSON(2, "", doctor, patient), []reqOption{noKey(), behind("198.51.100.1"), asUser("d1")}, 401},
			{"patch", "PATCH", get, `{"duration_in_seconds":600}`, []reqOption{noKey(), behind("198.51.100.1"), asUser("d1")}, 401},
			{"delete", "DELETE", get, "", []reqOption{noKey(), behind("198.51.100.1"), asUser("d1")}, 401},
			{"add participant", "POST", get + "/participants/data", patient2, []reqOption{noKey(), behind("198.51.100.1"), asUser("d1")}, 401},
			{"metrics", "GET", "/metrics", "", []reqOption{noKey(), behind("198.51.100.1"), asUser("d1")}, 401},
		}
		for _, tt := range tests {
			commits := e.store.Commits
			w := e.do(tt.method, tt.path, tt.body, tt.opts...)
			want := tt.status
			if !gateway {
				want = http.StatusUnauthorized
			}
			if w.Code != want {
				t.Errorf("gateway=%v %s: %d %s, want %d", gateway, tt.name, w.Code, w.Body.String(), want)
			}
			// A stranger let in by the gateway is Mia's Unauthorized user;
			// anyone not let in is told about the API key.
			if w.Code == 401 {
				want := keyErr
				if gateway && tt.name == "get as a stranger" {
					want = "Unauthorized user"
				}
				if got := errorOf(t, w); got != want {
					t.Errorf("gateway=%v %s: %q, want %q", gateway, tt.name, got, want)
				}
			}
			if w.Code >= 400 && e.store.Commits != commits {
				t.Errorf("%s: a refused request changed the store", tt.name)
			}
		}
	}
}

// Ensure userIdPathInRequest may start at the query or the body, and that
// the identity header then means nothing.
func TestUserIDPathSources(t *testing.T) {
	query := []teleconsult.PathStep{{From: "object", Extract: "query"}, {From: "object", Extract: "uid"}}
	queryJSON := []teleconsult.PathStep{{From: "object", Extract: "query"}, {From: "object", Extract: "props"}, {From: "json", Extract: "id"}}
	inBody := []teleconsult.PathStep{{From: "object", Extract: "body"}, {From: "object", Extract: "user"}, {From: "object", Extract: "id"}}
	tests := []struct {
		name   string
		path   []teleconsult.PathStep
		method string
		target string // after the teleconsultation's path, or a route
		body   string
		opts   []reqOption
		status int
	}{
		{"query", query, "GET", "?uid=d1", "", nil, 200},
		{"query, not a participant", query, "GET", "?uid=zz", "", nil, 401},
		{"query, two values", query, "GET", "?uid=d1&uid=p1", "", nil, 401},
		{"query is case-sensitive", query, "GET", "?UID=d1", "", nil, 401},
		{"query path: header means nothing", query, "GET", "", "", []reqOption{asUser("d1")}, 401},
		{"query json", queryJSON, "GET", "?props=" + url.QueryEscape(`{"id":"p1"}`), "", nil, 200},
		{"query json, bad json", queryJSON, "GET", "?props=" + url.QueryEscape(`{"id":`), "", nil, 401},
		{"body: credentials", inBody, "POST", "/credentials", `{"expiresIn":600,"user":{"id":"d1"}}`, nil, 201},
		{"body: credentials without expiresIn", inBody, "POST", "/credentials", `{"user":{"id":"p1"}}`, nil, 201},
		{"body: credentials, stranger", inBody, "POST", "/credentials", `{"user":{"id":"zz"}}`, nil, 401},
		{"body: credentials, other unknown field", inBody, "POST", "/credentials", `{"user":{"id":"d1"},"colour":1}`, nil, 400},
		{"body: credentials, header means nothing", inBody, "POST", "/credentials", `{}`, []reqOption{asUser("d1")}, 401},
		{"body: malformed", inBody, "POST", "/credentials", `{"user":`, nil, 400},
		{"body: get", inBody, "GET", "", `{"user":{"id":"d1"}}`, nil, 200},
		// Resending right after the invitation is limited (429): the body
		// was accepted and the caller let through; a stranger is not (403).
		{"body: resend invitation", inBody, "POST", "/participants/d1/invitation", `{"user":{"id":"d1"}}`, nil, 429},
		{"body: resend invitation, stranger", inBody, "POST", "/participants/d1/invitation", `{"user":{"id":"zz"}}`, nil, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, invitationsOn, func(c *Config, _ *teleconsult.Settings) { c.UserIDPath = tt.path })
			id := e.create(2, "", doctor, patient)
			path := api + "/" + id + tt.target
			if strings.HasPrefix(tt.target, "/credentials") {
				path = Prefix + tt.target
			}
			w := e.do(tt.method, path, tt.body, tt.opts...)
			if w.Code != tt.status {
				t.Errorf("%d %s, want %d", w.Code, w.Body.String(), tt.status)
			}
		})
	}
}

// FuzzUserIDPathSources walks paths from the query and the body over any
// input: never a panic, and a user found is a value of the input.
func FuzzUserIDPathSources(f *testing.F) {
	for _, s := range [][2]string{
		{"uid=d1", `{"user":{"id":"d1"}}`}, {"uid=1&uid=2", `{"user":{"id":7}}`}, {"props=%7B%22id%22%3A%22p1%22%7D", `{"user":[1]}`},
		{"%zz", `{"user":{"id":"d1","id":"p1"}}`}, {"", ""}, {"uid=", `null`},
	} {
		f.Add(s[0], s[1])
	}
	paths := [][]teleconsult.PathStep{
		{{From: "object", Extract: "query"}, {From: "object", Extract: "uid"}},
		{{From: "object", Extract: "query"}, {From: "object", Extract: "props"}, {From: "json", Extract: "id"}},
		{{From: "object", Extract: "body"}, {From: "object", Extract: "user"}, {From: "object", Extract: "id"}},
		{{From: "object", Extract: "body"}, {From: "object", Extract: "user"}, {From: "array", Extract: "0"}},
	}
	f.Fuzz(func(t *testing.T, rawQuery, body string) {
		q, _ := url.ParseQuery(rawQuery)
		b, _ := parseStrict([]byte(body))
		parts := requestParts{header: http.Header{}, query: q, body: b}
		for i, p := range paths {
			got := walkUserPath(parts, p)
			if again := walkUserPath(parts, p); again != got {
				t.Fatalf("path %d: %q then %q", i, got, again)
			}
			if i == 0 && got != "" && (len(q["uid"]) != 1 || q["uid"][0] != got) {
				t.Fatalf("query path gave %q from %q", got, rawQuery)
			}
		}
	})
}
