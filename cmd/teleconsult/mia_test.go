package main

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/authsvc/authsvctest"
)

// miaAuthService starts the auth service fake with the scenarios' users.
func miaAuthService(t *testing.T) *authsvctest.Server {
	fake := authsvctest.New(t)
	fake.AddUser(authsvctest.User{ID: "doc-1", Name: "Dr. Anna Verdi", Email: "anna@example.org", Groups: []string{"doctor"}})
	fake.AddUser(authsvctest.User{ID: "pat-1", Name: "Mario Rossi", Groups: []string{"patient"}})
	return fake
}

// Ensure the API scenarios pass in AUTH_SERVICE mode (participants given
// as user ids, looked up at the auth service fake) on every provider and
// both databases.
func TestProviderScenariosAuthService(t *testing.T) {
	for _, pc := range providerCases {
		t.Run(pc.name, func(t *testing.T) {
			t.Parallel()
			databases(t, func(t *testing.T, dbEnv map[string]string) {
				fake := miaAuthService(t)
				dbEnv["AUTH_SERVICE"] = fake.URL
				dbEnv["DEFAULT_CLIENT_TYPE"] = "backoffice"
				providerScenario(t, pc.start, dbEnv)
				reqs := fake.Requests()
				if len(reqs) < 2 || reqs[0].Header.Get("Client-Type") != "backoffice" {
					t.Errorf("auth service requests %+v", reqs)
				}
				for _, r := range reqs {
					if strings.Contains(r.Header.Get("Authorization"), testAPIKey) {
						t.Error("our API key was sent to the auth service")
					}
				}
			})
		})
	}
}

// Ensure an auth service outage stores nothing, on both databases, and
// answers quickly with a message naming the participant.
func TestAuthServiceOutage(t *testing.T) {
	databases(t, func(t *testing.T, env map[string]string) {
		fake := miaAuthService(t)
		env["AUTH_SERVICE"], env["AUTH_SERVICE_TIMEOUT"] = fake.URL, "300ms"
		s := startServer(t, env)
		body := scenarioCreate(s)
		body["participants"] = []string{"doc-1", "pat-1"}
		host := strings.TrimPrefix(fake.URL, "http://")
		fake.Fail("/users/pat-1", 1, authsvctest.Fault{Hang: true})
		outage(t, s, body, 503, "participants.data[1]: auth service "+host+" did not answer within 300ms (get user)", "backoffice")
		fake.Fail("/users/", 2, authsvctest.Fault{Malformed: true}) // one per participant, not retried
		outage(t, s, body, 502, "participants.data[0]: auth service "+host+" gave a malformed answer (get user)", "backoffice")
		body["participants"] = []string{"doc-1", "nobody"}
		outage400 := func() {
			var e errorBody
			if st := s.do(t, "POST", api+"/teleconsultation", "", body, &e); st != 400 || e.Error != "participants.data[1].userId: no such user in the auth service" {
				t.Errorf("unknown user: %d %q", st, e.Error)
			}
		}
		outage400()
		if counts, err := s.Main.DB.CountByState(context.Background()); err != nil || len(counts) != 0 {
			t.Errorf("stored: %v %v", counts, err)
		}
		body["participants"] = []string{"doc-1", "pat-1"}
		createOK(t, s, body)
	})
}

// Ensure, through the whole service, that behind TRUSTED_PROXIES the
// link-exchange limit is per real client and that TRUST_GATEWAY_IDENTITY
// accepts the gateway's user header without an API key.
func TestTrustedProxiesEndToEnd(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		env := map[string]string{}
		if trusted {
			env = map[string]string{"TRUSTED_PROXIES": "127.0.0.0/8", "TRUST_GATEWAY_IDENTITY": "true"}
		}
		s := startServer(t, maps.Clone(env))
		id := createOK(t, s, scenarioCreate(s))
		guess := []byte(`{"code":"` + strings.Repeat("g", 43) + `"}`)
		xff := func(a string) map[string]string { return map[string]string{"X-Forwarded-For": a} }
		for range 20 {
			s.doRaw(t, "POST", api+"/sessions", guess, xff("203.0.113.7"), nil)
		}
		st := s.doRaw(t, "POST", api+"/sessions", guess, xff("198.51.100.2"), nil)
		if want := map[bool]int{false: 429, true: 401}[trusted]; st != want {
			t.Errorf("trusted=%v: another client behind the proxy got %d, want %d", trusted, st, want)
		}
		var g getBody
		st = s.doRaw(t, "GET", api+"/teleconsultation/"+id, nil, map[string]string{"miauserid": "pat-1", "Content-Type": ""}, &g)
		if want := map[bool]int{false: 401, true: 200}[trusted]; st != want {
			t.Errorf("trusted=%v: gateway identity without an API key: %d, want %d", trusted, st, want)
		}
	}
	// Bad values stop start-up naming the variable.
	for name, v := range map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33", "AUTH_SERVICE": "http://auth0 client", "CUSTOM_ID_USERS_API_ENDPOINT": "users"} {
		_, err := LoadConfig(func(k string) string { return map[string]string{name: v, "AUTH_SERVICE": "auth0-client"}[k] })
		if name == "AUTH_SERVICE" {
			_, err = LoadConfig(func(k string) string { return map[string]string{name: v}[k] })
		}
		if err == nil || !strings.HasPrefix(err.Error(), name+"=") {
			t.Errorf("%s=%s: %v", name, v, err)
		}
	}
}

// Ensure `teleconsult demo` works in AUTH_SERVICE mode: its made-up users
// are not looked up.
func TestDemoWithAuthService(t *testing.T) {
	fake := miaAuthService(t)
	s := startServer(t, map[string]string{"AUTH_SERVICE": fake.URL})
	if err := s.Main.Demo(context.Background(), DemoOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("the demo asked the auth service %d times", n)
	}
}
