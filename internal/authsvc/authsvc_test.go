package authsvc_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/authsvc"
	"github.com/teleconsult/teleconsult/internal/authsvc/authsvctest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

func newDirectory(t *testing.T, fake *authsvctest.Server, mod func(*authsvc.Config)) *authsvc.Directory {
	t.Helper()
	cfg := authsvc.Config{BaseURL: fake.URL, DefaultClientType: "backoffice", Timeout: 500 * time.Millisecond, BaseBackoff: time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	d, err := authsvc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var doctor = authsvctest.User{ID: "auth0|doc 1/x", Name: "Dr. Anna Verdi", Email: "anna@example.org", Groups: []string{"doctor"}}

// Ensure a user is read from Auth0's user object, with the request's
// credentials and client type passed on.
func TestUser(t *testing.T) {
	fake := authsvctest.New(t)
	fake.AddUser(doctor)
	d := newDirectory(t, fake, nil)
	ctx := teleconsult.WithForwardedHeaders(context.Background(), teleconsult.ForwardedHeaders{
		"cookie": "sid=abc", "authorization": "Bearer user-jwt", "x-request-id": "req-1"})
	u, err := d.User(ctx, doctor.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.FullName != doctor.Name || u.Email != doctor.Email || !slices.Equal(u.Groups, doctor.Groups) {
		t.Errorf("user %+v", u)
	}
	req := fake.Requests()[0]
	if req.Path != "/users/"+doctor.ID || req.Header.Get("Cookie") != "sid=abc" || req.Header.Get("Authorization") != "Bearer user-jwt" ||
		req.Header.Get("Client-Type") != "backoffice" || req.Header.Get("X-Request-Id") != "req-1" {
		t.Errorf("request %+v", req)
	}
	// The request's own client-type wins over DEFAULT_CLIENT_TYPE.
	ctx = teleconsult.WithForwardedHeaders(context.Background(), teleconsult.ForwardedHeaders{"client-type": "cms"})
	if _, err := d.User(ctx, doctor.ID); err != nil {
		t.Fatal(err)
	}
	if got := fake.Requests()[1].Header; got.Get("Client-Type") != "cms" || got.Get("Cookie") != "" {
		t.Errorf("second request headers %v", got)
	}
}

// Ensure every way the auth service can fail gives the right code and a
// message naming the service and the operation, quickly.
func TestUserFailures(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault authsvctest.Fault
		times int
		id    string
		code  string
		msg   string
	}{
		{"unknown user", authsvctest.Fault{}, 0, "auth0|nobody", teleconsult.ENOTFOUND, "unknown user"},
		{"hangs", authsvctest.Fault{Hang: true}, 1, doctor.ID, teleconsult.EUNAVAILABLE, "did not answer within 500ms (get user)"},
		{"down for good", authsvctest.Fault{Status: 503}, 10, doctor.ID, teleconsult.EUNAVAILABLE, "is unavailable (HTTP 503) (get user)"},
		{"500 for good", authsvctest.Fault{Status: 500}, 10, doctor.ID, teleconsult.EBADGATEWAY, "failed (HTTP 500) (get user)"},
		{"garbage", authsvctest.Fault{Malformed: true}, 1, doctor.ID, teleconsult.EBADGATEWAY, "gave a malformed answer (get user)"},
		{"huge", authsvctest.Fault{Huge: true}, 1, doctor.ID, teleconsult.EBADGATEWAY, "answered with more than"},
		{"someone else", authsvctest.Fault{OtherUser: true}, 1, doctor.ID, teleconsult.EBADGATEWAY, "user_id is not the id asked for"},
		{"no name", authsvctest.Fault{NoName: true}, 1, doctor.ID, teleconsult.EBADGATEWAY, "no name"},
		{"credentials refused", authsvctest.Fault{Status: 401}, 1, doctor.ID, teleconsult.EBADGATEWAY, "refused the forwarded credentials (HTTP 401)"},
		{"bad request", authsvctest.Fault{Status: 400}, 1, doctor.ID, teleconsult.EBADGATEWAY, "answered HTTP 400 (get user)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := authsvctest.New(t)
			fake.AddUser(doctor)
			if tt.times > 0 {
				fake.Fail("/users/", tt.times, tt.fault)
			}
			d := newDirectory(t, fake, nil)
			began := time.Now()
			_, err := d.User(context.Background(), tt.id)
			if teleconsult.ErrorCode(err) != tt.code || !strings.Contains(teleconsult.ErrorMessage(err), tt.msg) {
				t.Errorf("err %v, want %s %q", err, tt.code, tt.msg)
			}
			if msg := teleconsult.ErrorMessage(err); strings.Contains(msg, "Anna") || strings.Contains(msg, "anna@") {
				t.Errorf("message holds user data: %q", msg)
			}
			if d := time.Since(began); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	// A passing failure is retried.
	fake := authsvctest.New(t)
	fake.AddUser(doctor)
	fake.Fail("/users/", 2, authsvctest.Fault{Status: 503})
	if _, err := newDirectory(t, fake, nil).User(context.Background(), doctor.ID); err != nil || len(fake.Requests()) != 3 {
		t.Errorf("after two 503s: %v, %d requests", err, len(fake.Requests()))
	}
}

// Ensure custom ids are resolved first, by _id or by another field.
func TestCustomIDs(t *testing.T) {
	fake := authsvctest.New(t)
	fake.AddUser(doctor)
	fake.AddCustomID("65a1f0c2", doctor.ID, map[string]any{"email": "anna@example.org"})
	byID := newDirectory(t, fake, func(c *authsvc.Config) { c.CustomIDEndpoint = fake.URL + "/custom/" })
	byEmail := newDirectory(t, fake, func(c *authsvc.Config) {
		c.CustomIDEndpoint, c.CustomIDSource = fake.URL+"/custom", "email"
	})
	for _, tt := range []struct {
		d    *authsvc.Directory
		id   string
		code string
	}{
		{byID, "65a1f0c2", ""},
		{byID, doctor.ID, teleconsult.ENOTFOUND},
		{byEmail, "anna@example.org", ""},
		{byEmail, "other@example.org", teleconsult.ENOTFOUND},
	} {
		u, err := tt.d.User(context.Background(), tt.id)
		if teleconsult.ErrorCode(err) != tt.code || (tt.code == "" && u.FullName != doctor.Name) {
			t.Errorf("%s: %+v %v, want %q", tt.id, u, err, tt.code)
		}
	}
	fake.AddCustomID("no-target", "", nil)
	if _, err := byID.User(context.Background(), "no-target"); teleconsult.ErrorCode(err) != teleconsult.EBADGATEWAY || !strings.Contains(err.Error(), "no authUserId") {
		t.Errorf("document without the target: %v", err)
	}
	fake.Fail("/custom/", 1, authsvctest.Fault{Malformed: true})
	if _, err := byID.User(context.Background(), "65a1f0c2"); !strings.Contains(teleconsult.ErrorMessage(err), "custom id service") {
		t.Errorf("custom id service failure: %v", err)
	}
}

func TestConfig(t *testing.T) {
	for _, tt := range []struct {
		cfg  authsvc.Config
		want string
	}{
		{authsvc.Config{BaseURL: "auth0-client"}, "absolute"},
		{authsvc.Config{BaseURL: "http://a", UserPath: "users/{id}"}, "absolute path"},
		{authsvc.Config{BaseURL: "http://a", UserPath: "/users/"}, "{id} exactly once"},
		{authsvc.Config{BaseURL: "http://a", UserPath: "/u/{id}?x=1"}, "without query"},
		{authsvc.Config{BaseURL: "http://a", CustomIDEndpoint: "crud"}, "custom id service"},
	} {
		if _, err := authsvc.New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.cfg, err, tt.want)
		}
	}
}
