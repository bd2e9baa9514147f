package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/files"
	"github.com/teleconsult/teleconsult/internal/inmem"
	"github.com/teleconsult/teleconsult/internal/session"
	"github.com/teleconsult/teleconsult/internal/sfu"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/testkit"
)

const (
	testKey   = "tk_0123456789abcdefghijklmnopqrstuv"
	otherKey  = "tk_second-key-for-another-integrator"
	publicURL = "https://visit.example.test"
)

// t0 is the test clock's start; appointments start at t0+2h.
var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// env is a real Service (in-memory store, built-in provider, real session
// tokens) behind a Server.
type env struct {
	tb    testing.TB
	clock *testkit.Clock
	store *inmem.Store
	spy   *spyStore
	svc   *teleconsult.Service
	srv   *Server
	h     http.Handler
	logs  *testkit.LogBuffer
	// filesDir holds the uploaded files.
	filesDir string
}

type envOption func(*Config, *teleconsult.Settings)

func newEnv(tb testing.TB, opts ...envOption) *env {
	tb.Helper()
	master := make([]byte, teleconsult.KeySize)
	_, _ = rand.Read(master)
	keys, err := teleconsult.NewKeyring(master)
	if err != nil {
		tb.Fatal(err)
	}
	tokens, err := session.New(keys.SessionKey(), publicURL)
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{tb: tb, clock: testkit.NewClock(t0), store: inmem.NewStore(), logs: &testkit.LogBuffer{}}
	settings := teleconsult.DefaultSettings()
	settings.ImmutablePeriod = 10 * time.Minute
	settings.PublicURL = publicURL
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h1, h2 := sha256.Sum256([]byte(testKey)), sha256.Sum256([]byte(otherKey))
	cfg := Config{
		APIKeyHashes: [][]byte{h1[:], h2[:]},
		Logger:       logger,
		Version:      "1.2.3-test",
		Now:          e.clock.Now,
	}
	for _, o := range opts {
		o(&cfg, &settings)
	}
	e.spy = &spyStore{Store: e.store}
	e.filesDir = tb.TempDir()
	fs, err := files.Open(e.filesDir, keys.FileKey())
	if err != nil {
		tb.Fatal(err)
	}
	e.svc = &teleconsult.Service{
		Store:    e.spy,
		Provider: newSFU(tb),
		Tokens:   tokens,
		Keys:     keys,
		Settings: settings,
		Now:      e.clock.Now,
		Logger:   logger,
		Uploads:  &inmem.Uploads{},
		Files:    fs,
		// Backgrounds keeps the company's background images.
		Backgrounds: &inmem.Backgrounds{},
	}
	cfg.Service = e.svc
	if e.srv, err = New(cfg); err != nil {
		tb.Fatal(err)
	}
	e.h = e.srv.Handler()
	return e
}

// spyStore wraps the in-memory store: it counts look-ups by id and can
// fail or panic on demand.
type spyStore struct {
	*inmem.Store
	finds     atomic.Int64
	findErr   error // returned by FindByID when set
	findPanic bool
	pingErr   error
}

func (s *spyStore) FindByID(ctx context.Context, id string) (*teleconsult.Teleconsultation, error) {
	s.finds.Add(1)
	if s.findPanic {
		panic("spy store: FindByID exploded with secret internals")
	}
	if s.findErr != nil {
		return nil, s.findErr
	}
	return s.Store.FindByID(ctx, id)
}

func (s *spyStore) Ping(ctx context.Context) error {
	if s.pingErr != nil {
		return s.pingErr
	}
	return s.Store.Ping(ctx)
}

// reqOption changes a request before it is served.
type reqOption func(*http.Request)

// asUser sets the default identity header (miauserid).
func asUser(id string) reqOption { return func(r *http.Request) { r.Header.Set("miauserid", id) } }

func withHeader(k, v string) reqOption { return func(r *http.Request) { r.Header.Set(k, v) } }

func noKey() reqOption { return func(r *http.Request) { r.Header.Del("Authorization") } }

func withKey(k string) reqOption {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+k) }
}

// unknownLength makes the body's length unknown, as with chunked encoding.
func unknownLength() reqOption { return func(r *http.Request) { r.ContentLength = -1 } }

func fromAddr(a string) reqOption { return func(r *http.Request) { r.RemoteAddr = a } }

func contentType(ct string) reqOption {
	return func(r *http.Request) {
		if ct == "" {
			r.Header.Del("Content-Type")
		} else {
			r.Header.Set("Content-Type", ct)
		}
	}
}

// newSFU returns the built-in provider, stopped at the end of the test.
func newSFU(tb testing.TB) *sfu.Provider {
	tb.Helper()
	p, err := sfu.NewProvider(nil, sfu.DefaultConfig())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

// do serves one request: with the API key, and a JSON content type when
// there is a body, unless options say otherwise.
func (e *env) do(method, path, body string, opts ...reqOption) *httptest.ResponseRecorder {
	e.tb.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+testKey)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// body decodes a JSON response body.
func body(tb testing.TB, w *httptest.ResponseRecorder) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		tb.Fatalf("response %d is not a JSON object: %v: %q", w.Code, err, w.Body.String())
	}
	return m
}

func errorOf(tb testing.TB, w *httptest.ResponseRecorder) string {
	tb.Helper()
	s, _ := body(tb, w)["error"].(string)
	return s
}

func wantStatus(tb testing.TB, w *httptest.ResponseRecorder, want int) {
	tb.Helper()
	if w.Code != want {
		tb.Fatalf("status = %d, want %d; body %s", w.Code, want, w.Body.String())
	}
}

const api = Prefix + "/teleconsultation"

// Participants used across tests. Names and emails are markers that must
// never appear in logs.
const (
	doctor   = `{"userId":"d1","groups":["doctor"],"fullName":"Dr Alice Marker","language":"it","email":"alice.marker@example.test"}`
	patient  = `{"userId":"p1","groups":["patient"],"fullName":"Bob Marker","language":"en","timeZone":"Europe/Rome"}`
	patient2 = `{"userId":"p2","groups":["patient"],"fullName":"Carol Marker","language":"en"}`
	nurse    = `{"userId":"n1","groups":["nurse"],"fullName":"Nurse Marker"}`
)

// startAt is the appointments' start.
var startAt = t0.Add(2 * time.Hour)

func createJSON(number int, appointment string, parts ...string) string {
	appt := ""
	if appointment != "" {
		appt = fmt.Sprintf(`,"appointmentId":%q`, appointment)
	}
	return fmt.Sprintf(`{"participants":{"number":%d,"data":[%s]},"start_date":%q,"duration_in_seconds":3600%s}`,
		number, strings.Join(parts, ","), startAt.Format("2006-01-02T15:04:05.000Z"), appt)
}

// create makes a teleconsultation and returns its id.
func (e *env) create(number int, appointment string, parts ...string) string {
	e.tb.Helper()
	w := e.do("POST", api, createJSON(number, appointment, parts...))
	wantStatus(e.tb, w, http.StatusCreated)
	id, _ := body(e.tb, w)["roomId"].(string)
	if !roomIDShape.MatchString(id) {
		e.tb.Fatalf("roomId %q is not an id", id)
	}
	return id
}

// view GETs a teleconsultation as user and returns the decoded body.
func (e *env) view(id, user string) map[string]any {
	e.tb.Helper()
	w := e.do("GET", api+"/"+id, "", asUser(user))
	wantStatus(e.tb, w, http.StatusOK)
	return body(e.tb, w)
}

// linkCode returns the code at the end of a personal link.
func linkCode(tb testing.TB, link any) string {
	tb.Helper()
	s, ok := link.(string)
	if !ok || !strings.HasPrefix(s, publicURL+"/join/") {
		tb.Fatalf("accessLinkURL = %v, want a link under %s/join/", link, publicURL)
	}
	code, _, _ := strings.Cut(strings.TrimPrefix(s, publicURL+"/join/"), "?")
	return code
}

func sessionJSON(code string) string { return fmt.Sprintf(`{"code":%q}`, code) }
