package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/pgtest"

	"github.com/teleconsult/teleconsult/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

// testServer is a running teleconsult service.
type testServer struct {
	Main  *Main
	URL   string
	Key   string
	Clock *testkit.Clock
	Out   *bytes.Buffer
}

const testAPIKey = "test-key-0123456789abcdef"

// startServer runs the whole service (configuration, keys, database,
// migrations, HTTP) on 127.0.0.1:0 with env on top of a fresh DATA_DIR.
func startServer(t testing.TB, env map[string]string) *testServer {
	t.Helper()
	return startServerLogged(t, env, io.Discard)
}

// startServerLogged is startServer with the service's log lines (text, at
// LOG_LEVEL) written to w.
func startServerLogged(t testing.TB, env map[string]string, w io.Writer) *testServer {
	t.Helper()
	full := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "DATA_DIR": t.TempDir(), "API_KEYS": testAPIKey}
	maps.Copy(full, env)
	cfg, err := LoadConfig(func(k string) string { return full[k] })
	if err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(time.Now().UTC())
	out := &bytes.Buffer{}
	m := &Main{Config: cfg, Logger: newLogger(cfg, w), Stdout: out, Now: clock.Now}
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		cancel()
		m.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		m.Close()
	})
	return &testServer{Main: m, URL: "http://" + m.Addr(), Key: full["API_KEYS"], Clock: clock, Out: out}
}

// do sends a request with the API key (unless key is "-") acting for user
// (unless ""), and decodes a JSON answer into out (unless nil).
func (s *testServer) do(t testing.TB, method, path, user string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+s.Key)
	if user != "" {
		req.Header.Set("miauserid", user)
	}
	return testkit.Do(t, req, out)
}

type errorBody struct {
	Error   string `json:"error"`
	OpensAt string `json:"opensAt"`
}

type getBody struct {
	BandyerUserID string  `json:"bandyerUserId"`
	AccessLinkURL *string `json:"accessLinkURL"`
	Participants  []struct {
		BandyerUserID string `json:"bandyerUserId"`
		FullName      string `json:"fullName"`
	} `json:"participantsBandyerCall"`
	Details struct {
		Status                string `json:"status"`
		DurationInSeconds     int    `json:"durationInSeconds"`
		DurationUsedInSeconds int    `json:"durationUsedInSeconds"`
		Live                  bool   `json:"live"`
	} `json:"details"`
}

const api = "/api/v1/telecons-be"

// databases runs f against SQLite and against PostgreSQL.
func databases(t *testing.T, f func(t *testing.T, env map[string]string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, map[string]string{}) })
	t.Run("postgres", func(t *testing.T) { f(t, map[string]string{"DATABASE_URL": pgtest.URL(t)}) })
}

// Ensure an integrator drives the whole lifecycle through the API, on both
// databases, as the README's walk-through shows.
func TestLifecycle(t *testing.T) {
	databases(t, func(t *testing.T, env map[string]string) {
		env["IMMUTABLE_PERIOD_MS"] = "600000"
		s := startServer(t, env)
		start := s.Clock.Now().Add(2 * time.Hour).Truncate(time.Second)
		create := map[string]any{
			"appointmentId": "appt-1001", "start_date": start.Format(time.RFC3339), "duration_in_seconds": 1800,
			"participants": map[string]any{"number": 2, "data": []map[string]any{
				{"userId": "doc-1", "groups": []string{"doctor"}, "fullName": "Dr. Anna Verdi", "language": "it"},
				{"userId": "pat-1", "groups": []string{"patient"}, "fullName": "Mario Rossi", "language": "en", "email": "mario@example.org"},
			}},
		}
		var created struct{ RoomID string }
		if code := s.do(t, "POST", api+"/teleconsultation", "", create, &created); code != 201 || created.RoomID == "" {
			t.Fatalf("create: %d %+v", code, created)
		}
		id := created.RoomID

		var g getBody
		if code := s.do(t, "GET", api+"/teleconsultation/"+id, "pat-1", nil, &g); code != 200 {
			t.Fatalf("GET: %d", code)
		}
		if g.AccessLinkURL != nil || g.Details.Status != "scheduled" || g.Details.DurationInSeconds != 1800 || len(g.Participants) != 2 || !g.Details.Live {
			t.Errorf("GET before the window: %+v", g)
		}
		var e errorBody
		if code := s.do(t, "GET", api+"/teleconsultation/"+id, "stranger", nil, &e); code != 401 || e.Error != "Unauthorized user" {
			t.Errorf("stranger: %d %+v", code, e)
		}
		if code := s.do(t, "PATCH", api+"/teleconsultation/"+id, "", map[string]any{"duration_in_seconds": 2700}, nil); code != 204 {
			t.Errorf("PATCH before the window: %d", code)
		}

		// Ten minutes before the start the window opens.
		s.Clock.Set(start.Add(-10 * time.Minute))
		var gp, gd getBody
		s.do(t, "GET", api+"/teleconsultation/"+id, "pat-1", nil, &gp)
		s.do(t, "GET", api+"/teleconsultation/"+id, "doc-1", nil, &gd)
		if gp.AccessLinkURL == nil || gd.AccessLinkURL == nil || *gp.AccessLinkURL == *gd.AccessLinkURL {
			t.Fatalf("links: %v %v", gp.AccessLinkURL, gd.AccessLinkURL)
		}
		if gp.Details.Status != "open" || gp.Details.DurationInSeconds != 2700 {
			t.Errorf("GET in the window: %+v", gp.Details)
		}
		if !strings.HasPrefix(*gp.AccessLinkURL, s.URL+"/join/") {
			t.Errorf("link %q not under PUBLIC_URL/join/", *gp.AccessLinkURL)
		}
		code := strings.TrimPrefix(*gp.AccessLinkURL, s.URL+"/join/")
		var sess struct {
			Token, DisplayName, Role string
			Participants             []string
		}
		if st := s.do(t, "POST", api+"/sessions", "", map[string]string{"code": code}, &sess); st != 201 || sess.Token == "" || sess.DisplayName != "Mario Rossi" || sess.Role != "basic" {
			t.Errorf("session: %d %+v", st, sess)
		}
		if st := s.do(t, "PATCH", api+"/teleconsultation/"+id, "", map[string]any{"duration_in_seconds": 3600}, &e); st != 409 || !strings.Contains(e.Error, "can no longer be changed") {
			t.Errorf("PATCH in the window: %d %+v", st, e)
		}
		var cr struct{ AccessToken, ExpiresAt, BandyerUserID string }
		if st := s.do(t, "POST", api+"/credentials", "doc-1", map[string]int{"expiresIn": 600}, &cr); st != 201 || cr.AccessToken == "" || cr.BandyerUserID != gd.BandyerUserID {
			t.Errorf("credentials: %d %+v (doctor is %s)", st, cr, gd.BandyerUserID)
		}

		// Confirming the appointment again is refused while the visit is
		// open, and replaces the teleconsultation once it is over.
		create["start_date"] = start.Add(24 * time.Hour).Format(time.RFC3339)
		if st := s.do(t, "POST", api+"/teleconsultation", "", create, &e); st != 409 {
			t.Errorf("replace in the window: %d %+v", st, e)
		}
		s.Clock.Set(start.Add(45 * time.Minute))
		var again struct{ RoomID string }
		if st := s.do(t, "POST", api+"/teleconsultation", "", create, &again); st != 201 || again.RoomID == id {
			t.Fatalf("replace: %d %+v", st, again)
		}
		if st := s.do(t, "GET", api+"/teleconsultation/"+id, "pat-1", nil, &e); st != 410 {
			t.Errorf("GET replaced: %d %+v", st, e)
		}
		if st := s.do(t, "POST", api+"/sessions", "", map[string]string{"code": code}, &e); st != 410 {
			t.Errorf("old link after replacement: %d %+v", st, e)
		}
		if st := s.do(t, "DELETE", api+"/teleconsultation/"+again.RoomID, "", nil, nil); st != 204 {
			t.Errorf("DELETE: %d", st)
		}
		if st := s.do(t, "GET", api+"/teleconsultation/"+again.RoomID, "pat-1", nil, &e); st != 410 {
			t.Errorf("GET cancelled: %d", st)
		}
		counts, err := s.Main.DB.CountByState(context.Background())
		if err != nil || len(counts) != 2 {
			t.Errorf("states %v %v: want one replaced and one cancelled", counts, err)
		}
	})
}

// Ensure bad input is refused with a clear 4xx and stores nothing, through
// the real server and database.
func TestBadInputStoresNothing(t *testing.T) {
	databases(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, env)
		start := s.Clock.Now().Add(time.Hour).Format(time.RFC3339)
		bodies := []any{
			map[string]any{"start_date": start, "duration_in_seconds": 60, "participants": map[string]any{"number": 1, "data": []any{}}},
			map[string]any{"start_date": "tomorrow", "duration_in_seconds": 600, "participants": map[string]any{"number": 1, "data": []any{}}},
			map[string]any{"start_date": start, "duration_in_seconds": 600, "participants": map[string]any{"number": 1, "data": []any{
				map[string]any{"userId": "p", "groups": []string{"patient"}, "fullName": "P"}}}},
			map[string]any{"start_date": start, "duration_in_seconds": 600, "participants": map[string]any{"number": 1, "data": []any{}}, "colour": "red"},
		}
		for i, b := range bodies {
			var e errorBody
			if st := s.do(t, "POST", api+"/teleconsultation", "", b, &e); st != 400 || e.Error == "" {
				t.Errorf("body %d: %d %+v", i, st, e)
			}
		}
		counts, err := s.Main.DB.CountByState(context.Background())
		if err != nil || len(counts) != 0 {
			t.Errorf("stored after bad input: %v %v", counts, err)
		}
	})
}

// Ensure a first start without API_KEYS prints a generated key once, keeps
// only its hash, and that key works; a second start prints nothing.
func TestGeneratedAPIKey(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATA_DIR": dir, "API_KEYS": ""}
	s := startServer(t, env)
	out := s.Out.String()
	i := strings.Index(out, APIKeyPrefix)
	if i < 0 {
		t.Fatalf("no key printed: %q", out)
	}
	key := strings.Fields(out[i:])[0]
	s.Key = key
	if st := s.do(t, "GET", api+"/teleconsultation/0123456789abcdef0123456789abcdef", "u", nil, nil); st != 404 {
		t.Errorf("generated key refused: %d", st)
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(key)) {
			t.Errorf("%s holds the API key in plain text", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, env)
	if strings.Contains(s2.Out.String(), APIKeyPrefix) {
		t.Error("second start printed a key again")
	}
}

// Ensure --help of every command prints its usage once, on stdout, and
// nothing on stderr.
func TestHelpPrintedOnce(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--help"}, "Usage: teleconsult serve\n"},
		{[]string{"serve", "-h"}, "Usage: teleconsult serve\n"},
		{[]string{"demo", "--help"}, "Usage: teleconsult demo [--lang en|it] [--new]\n"},
		{[]string{"migrate", "-help"}, "Usage: teleconsult migrate\n"},
		{[]string{"config", "--help"}, "Usage: teleconsult config check\n"},
		{[]string{"config", "check", "--help"}, "Usage: teleconsult config check\n"},
		{[]string{"mail", "--help"}, "Usage: teleconsult mail test --to ADDRESS"},
		{[]string{"mail", "test", "--help"}, "Usage: teleconsult mail test --to ADDRESS"},
		{[]string{"audit", "--help"}, "Usage: teleconsult audit verify\n"},
		{[]string{"audit", "verify", "--help"}, "Usage: teleconsult audit verify\n"},
		{[]string{"--help"}, "Usage:\n  teleconsult <command> [flags]"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(context.Background(), tt.args, func(string) string { return "" }, &out, &errb)
		if code != 0 || errb.Len() != 0 || strings.Count(out.String(), tt.want) != 1 || strings.Count(out.String(), "Usage") != 1 {
			t.Errorf("run %v = %d\nstdout: %q\nstderr: %q\nwant the usage once on stdout", tt.args, code, out.String(), errb.String())
		}
	}
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATA_DIR": dir, "API_KEYS": "secret-key-0123456789", "ENCRYPTION_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		args     []string
		code     int
		want     string // in stdout
		wantErr  string // in stderr
		notInOut string
	}{
		{[]string{"version"}, 0, "teleconsult ", "", ""},
		{[]string{"help"}, 0, "serve", "", ""},
		{nil, 2, "", "Commands:", ""},
		{[]string{"bogus"}, 2, "", `unknown command "bogus"`, ""},
		{[]string{"serve", "--help"}, 0, "Usage: teleconsult serve", "", ""},
		{[]string{"migrate", "--help"}, 0, "Usage: teleconsult migrate", "", ""},
		{[]string{"demo", "--help"}, 0, "Usage: teleconsult demo", "", ""},
		{[]string{"config", "--help"}, 0, "Usage: teleconsult config check", "", ""},
		{[]string{"config", "check", "--help"}, 0, "Usage: teleconsult config check", "", ""},
		{[]string{"config", "check"}, 0, "LISTEN_ADDR", "", "secret-key-0123456789"},
		{[]string{"migrate"}, 0, "sqlite database", "", ""},
		{[]string{"migrate"}, 0, "0 migration(s) applied", "", ""},
		{[]string{"serve", "extra"}, 2, "", "unexpected argument", ""},
		{[]string{"demo", "--lang", "fr"}, 2, "", `--lang "fr": expected en or it`, ""},
		{[]string{"demo", "--bogus"}, 2, "", "flag provided but not defined: -bogus\n\nUsage: teleconsult demo", ""},
		{[]string{"mail", "test"}, 2, "", "--to ADDRESS is required", ""},
		{[]string{"audit"}, 2, "", "Usage: teleconsult audit verify", ""},
		{[]string{"audit", "verify"}, 0, "audit trail verified: 0 entries", "", ""},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		got := run(context.Background(), tt.args, getenv, &out, &errb)
		if got != tt.code || !strings.Contains(out.String(), tt.want) || !strings.Contains(errb.String(), tt.wantErr) ||
			(tt.notInOut != "" && strings.Contains(out.String(), tt.notInOut)) {
			t.Errorf("run %v = %d\nstdout: %s\nstderr: %s", tt.args, got, out.String(), errb.String())
		}
	}
	env["IMMUTABLE_PERIOD_MS"] = "-5"
	var out, errb bytes.Buffer
	if got := run(context.Background(), []string{"serve"}, getenv, &out, &errb); got != 2 || !strings.Contains(errb.String(), "IMMUTABLE_PERIOD_MS") {
		t.Errorf("bad config: %d %s", got, errb.String())
	}
}

// pgtestURL is pgtest.URL for benchmarks and tests alike.
func pgtestURL(tb testing.TB) string { return pgtest.URL(tb) }

// demoLinks returns the link codes the demo printed, doctor's first.
func demoLinks(t *testing.T, s *testServer) []string {
	t.Helper()
	var codes []string
	for _, line := range strings.Split(s.Out.String(), "\n") {
		if _, link, ok := strings.Cut(line, s.URL+"/join/"); ok {
			codes = append(codes, link)
		}
	}
	if len(codes) != 2 {
		t.Fatalf("demo printed %q, want two links", s.Out.String())
	}
	return codes
}

// demoSession trades a demo link code for a session; it returns the
// status, the display name and the language.
func demoSession(t *testing.T, s *testServer, code string) (int, string, string) {
	t.Helper()
	var sess struct{ DisplayName, Language string }
	st := s.do(t, "POST", api+"/sessions", "", map[string]string{"code": code}, &sess)
	return st, sess.DisplayName, sess.Language
}

// Ensure `teleconsult demo` prints two working personal links, when the
// visit opens and ends, and how to stop; that a second run while the visit
// is open reuses it and says so; that --lang it and --new make a fresh
// visit (the earlier links die); and that a run after the end makes a
// fresh one too.
func TestDemo(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	clock := func(t time.Time) string { return t.In(time.Local).Format("15:04 MST") }
	start := s.Clock.Now().UTC().Truncate(time.Second)
	if err := s.Main.Demo(ctx, DemoOptions{}); err != nil {
		t.Fatal(err)
	}
	out := s.Out.String()
	for _, want := range []string{
		"in English: it opened at " + clock(start) + " and ends at " + clock(start.Add(30*time.Minute)),
		"press Ctrl+C", "teleconsult demo --lang it",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("first demo printed %q, want %q", out, want)
		}
	}
	if strings.Contains(out, "earlier") {
		t.Errorf("first demo speaks of an earlier visit: %q", out)
	}
	first := demoLinks(t, s)
	for i, code := range first {
		st, name, lang := demoSession(t, s, code)
		if want := []string{"Dr. Demo", "Pat Demo"}[i]; st != 201 || name != want || lang != "en" {
			t.Errorf("link %d: %d %q %q, want 201 %q en", i, st, name, lang, want)
		}
	}

	// Five minutes later: the same visit, said to be reused, same times.
	s.Clock.Set(start.Add(5 * time.Minute))
	s.Out.Reset()
	if err := s.Main.Demo(ctx, DemoOptions{Lang: "en"}); err != nil {
		t.Fatal(err)
	}
	out = s.Out.String()
	if again := demoLinks(t, s); !slices.Equal(again, first) ||
		!strings.Contains(out, "Reusing the demo visit of an earlier run") ||
		!strings.Contains(out, "it opened at "+clock(start)+" and ends at "+clock(start.Add(30*time.Minute))) {
		t.Errorf("second demo printed %q", out)
	}

	// --lang it: a fresh visit in Italian; the English links die.
	s.Out.Reset()
	if err := s.Main.Demo(ctx, DemoOptions{Lang: "it"}); err != nil {
		t.Fatal(err)
	}
	out = s.Out.String()
	italian := demoLinks(t, s)
	if !strings.Contains(out, "made a fresh one in Italian, as asked (the earlier one is in English)") ||
		strings.Contains(out, "--lang it") || slices.Contains(italian, first[0]) {
		t.Errorf("demo --lang it printed %q", out)
	}
	if st, _, lang := demoSession(t, s, italian[1]); st != 201 || lang != "it" {
		t.Errorf("Italian patient's link: %d %q", st, lang)
	}
	if st, _, _ := demoSession(t, s, first[1]); st != 410 {
		t.Errorf("the earlier link after --lang it: %d, want 410", st)
	}

	// --new: a fresh visit even though this one is open.
	s.Out.Reset()
	if err := s.Main.Demo(ctx, DemoOptions{Lang: "it", New: true}); err != nil {
		t.Fatal(err)
	}
	fresh := demoLinks(t, s)
	if out := s.Out.String(); !strings.Contains(out, "Cancelled the earlier demo visit (its links no longer work) and made a fresh one.") ||
		slices.Contains(fresh, italian[0]) {
		t.Errorf("demo --new printed %q", out)
	}

	// After the end: a fresh visit, said so.
	later := start.Add(40 * time.Minute)
	s.Clock.Set(later)
	s.Out.Reset()
	if err := s.Main.Demo(ctx, DemoOptions{Lang: "it"}); err != nil {
		t.Fatal(err)
	}
	out = s.Out.String()
	if over := demoLinks(t, s); slices.Contains(over, fresh[0]) ||
		!strings.Contains(out, "The earlier demo visit is over: made a fresh one") ||
		!strings.Contains(out, "it opened at "+clock(later)) {
		t.Errorf("demo after the end printed %q", out)
	}
}

// Ensure every route of the wired server, the mounted ones included (call
// page, assets, signalling WebSocket), is in the OpenAPI document.
func TestOpenAPICoversMountedRoutes(t *testing.T) {
	s := startServer(t, nil)
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if st := s.do(t, "GET", "/openapi.json", "", nil, &doc); st != 200 {
		t.Fatalf("GET /openapi.json: %d", st)
	}
	routes := s.Main.API.Routes()
	if !slices.Contains(routes, "GET /join/{code}") || !slices.Contains(routes, "GET /api/v1/telecons-be/teleconsultation/{id}/call") {
		t.Fatalf("the call page or the signalling WebSocket is not mounted: %v", routes)
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("%s is served but not in openapi.json", r)
		}
	}
}

// Ensure the wired service's home page links the device check, the API
// documentation and the health routes, and that every link answers 200.
func TestLandingPageLinks(t *testing.T) {
	s := startServer(t, nil)
	resp, err := http.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /: %d %s", resp.StatusCode, page)
	}
	var hrefs []string
	for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllSubmatch(page, -1) {
		href := string(m[1])
		hrefs = append(hrefs, href)
		r, err := http.Get(s.URL + href)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Errorf("GET %s (linked from /): %d", href, r.StatusCode)
		}
	}
	for _, want := range []string{"/check", "/docs", "/healthz", "/readyz"} {
		if !slices.Contains(hrefs, want) {
			t.Errorf("/ does not link %s; links %v", want, hrefs)
		}
	}
}

// Ensure that at LOG_LEVEL=info a page load logs the page, not each of its
// static assets (those log at debug).
func TestStaticAssetsLogAtDebug(t *testing.T) {
	for _, level := range []string{"info", "debug"} {
		logs := &testkit.LogBuffer{}
		s := startServerLogged(t, map[string]string{"LOG_LEVEL": level}, logs)
		for _, path := range []string{"/check", "/assets/style.css", "/assets/check.js"} {
			resp, err := http.Get(s.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d", path, resp.StatusCode)
			}
		}
		// The access log line is written after the response has gone out,
		// so the client can read it before the line exists: wait a moment
		// for the lines expected at this level.
		want := map[string]int{"info": 0, "debug": 2}[level]
		text := logs.String()
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) &&
			strings.Count(text, `route=/assets/{file}`) < want; text = logs.String() {
			time.Sleep(10 * time.Millisecond)
		}
		if !strings.Contains(text, "level=INFO msg=request") || !strings.Contains(text, "route=/check ") {
			t.Errorf("LOG_LEVEL=%s: the page's request is not logged at info:\n%s", level, text)
		}
		assets := strings.Count(text, `route=/assets/{file}`)
		if assets != want ||
			(assets > 0 && strings.Count(text, `level=DEBUG msg=request`) < assets) {
			t.Errorf("LOG_LEVEL=%s: %d asset request lines, want %d at debug:\n%s", level, assets, want, text)
		}
	}
}
