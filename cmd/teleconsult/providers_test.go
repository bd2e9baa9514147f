package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/daily"
	"github.com/teleconsult/teleconsult/internal/daily/dailytest"
	"github.com/teleconsult/teleconsult/internal/kaleyra/kaleyratest"
	"github.com/teleconsult/teleconsult/internal/testkit"
)

const (
	dailyKey   = "daily-SECRET-key-0123456789abcdef"
	kaleyraKey = "kaleyra-SECRET-company-key-0123456789"
)

var webhookSecret = []byte("0123456789abcdef-webhook-secret")

// vendorView is what the API scenarios check at a provider.
type vendorView struct {
	// rooms returns the ids of the rooms that exist at the provider; nil
	// for the built-in provider.
	rooms func() []string
	// checkJoin checks the join target of a participant's session.
	checkJoin func(t *testing.T, s *testServer, join map[string]any, roomID, userID string)
}

// providerCases start each provider (a fake of the hosted ones) and give
// the service's environment for it.
var providerCases = []struct {
	name  string
	start func(t *testing.T) (map[string]string, vendorView)
}{
	{"builtin", func(t *testing.T) (map[string]string, vendorView) {
		return map[string]string{"VIDEO_PROVIDER": "builtin"}, vendorView{
			checkJoin: func(t *testing.T, _ *testServer, join map[string]any, _, _ string) {
				if len(join) != 1 || join["provider"] != "builtin" {
					t.Errorf("join %v", join)
				}
			},
		}
	}},
	{"daily", func(t *testing.T) (map[string]string, vendorView) {
		fake := dailytest.New(t, dailyKey)
		return map[string]string{"VIDEO_PROVIDER": "daily", "DAILY_API_KEY": dailyKey, "DAILY_API_URL": fake.URL,
				"DAILY_WEBHOOK_SECRET": base64.StdEncoding.EncodeToString(webhookSecret)}, vendorView{
				rooms: func() []string { return slices.Collect(maps.Keys(fake.Rooms())) },
				checkJoin: func(t *testing.T, _ *testServer, join map[string]any, roomID, _ string) {
					toks := fake.Tokens()
					if len(toks) == 0 {
						t.Fatal("no meeting token minted")
					}
					tok := toks[len(toks)-1]
					if join["provider"] != "daily" || join["url"] != "https://acme.daily.co/"+roomID || join["token"] != tok.Token ||
						tok.Properties["room_name"] != roomID {
						t.Errorf("join %v, token %v", join, tok)
					}
				},
			}
	}},
	{"kaleyra", func(t *testing.T) (map[string]string, vendorView) {
		fake := kaleyratest.New(t, kaleyraKey)
		return map[string]string{"VIDEO_PROVIDER": "kaleyra", "BANDYER_API_SECRET_KEY": kaleyraKey, "BANDYER_BASE_URL": fake.URL}, vendorView{
			rooms: func() []string { return slices.Collect(maps.Keys(fake.Rooms())) },
			checkJoin: func(t *testing.T, s *testServer, join map[string]any, roomID, userID string) {
				tc, err := s.Main.DB.FindByProviderRoom(context.Background(), "kaleyra", roomID)
				if err != nil {
					t.Fatal(err)
				}
				var kid string
				for _, p := range tc.Participants {
					if p.UserID == userID {
						kid = p.ProviderUserID
					}
				}
				var link string
				for _, p := range fake.Rooms()[roomID].Participants {
					if p.UserID == kid {
						link = p.Link
					}
				}
				url, _ := join["url"].(string)
				if join["provider"] != "kaleyra" || link == "" || !strings.HasPrefix(url, link+"?") || !strings.Contains(url, "audio_disabled=true") || join["token"] != nil {
					t.Errorf("join %v, want the link %q Kaleyra made for %s", join, link, userID)
				}
			},
		}
	}},
}

// roomOf returns the provider room of teleconsultation id.
func roomOf(t *testing.T, s *testServer, id string) string {
	t.Helper()
	tc, err := s.Main.DB.FindByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tc.ProviderRoomID
}

// Ensure the core API scenarios behave the same on the three providers:
// create makes the room, GET hides the link until the window opens, PATCH
// replaces the room, the link exchange hands out the provider's join data
// after our checks, confirming the appointment again replaces the
// teleconsultation and its room, and DELETE removes the room.
func TestProviderScenarios(t *testing.T) {
	for _, pc := range providerCases {
		t.Run(pc.name, func(t *testing.T) {
			t.Parallel()
			databases(t, func(t *testing.T, dbEnv map[string]string) { providerScenario(t, pc.start, dbEnv) })
		})
	}
}

func providerScenario(t *testing.T, startVendor func(t *testing.T) (map[string]string, vendorView), dbEnv map[string]string) {
	env, vendor := startVendor(t)
	maps.Copy(env, dbEnv)
	env["IMMUTABLE_PERIOD_MS"] = "600000"
	env["UNLIMITED_TELECONSULTATION"] = "false"
	env["TELECONSULTATION_DELETE_UPLOADS"] = "true"
	s := startServer(t, env)
	hosted := vendor.rooms != nil
	start := s.Clock.Now().Add(2 * time.Hour).Truncate(time.Second)
	create := map[string]any{
		"appointmentId": "appt-7", "start_date": start.Format(time.RFC3339), "duration_in_seconds": 1800,
		"participants": map[string]any{"number": 2, "data": []map[string]any{
			{"userId": "doc-1", "groups": []string{"doctor"}, "fullName": "Dr. Anna Verdi"},
			{"userId": "pat-1", "groups": []string{"patient"}, "fullName": "Mario Rossi"},
		}},
	}
	if env["AUTH_SERVICE"] != "" { // Mia's other form: names and groups from the auth service
		create["participants"] = []string{"doc-1", "pat-1"}
	}
	var created struct{ RoomID string }
	if code := s.do(t, "POST", api+"/teleconsultation", "", create, &created); code != 201 {
		t.Fatalf("create: %d", code)
	}
	id := created.RoomID
	room1 := roomOf(t, s, id)
	if hosted && !slices.Equal(vendor.rooms(), []string{room1}) {
		t.Fatalf("rooms at the provider %v, want [%s]", vendor.rooms(), room1)
	}
	var g getBody
	if code := s.do(t, "GET", api+"/teleconsultation/"+id, "pat-1", nil, &g); code != 200 || g.AccessLinkURL != nil {
		t.Fatalf("GET before the window: %d %+v", code, g)
	}
	if code := s.do(t, "PATCH", api+"/teleconsultation/"+id, "", map[string]any{"duration_in_seconds": 2700}, nil); code != 204 {
		t.Fatalf("PATCH: %d", code)
	}
	room2 := roomOf(t, s, id)
	if room2 == room1 {
		t.Fatal("PATCH of the times kept the room")
	}
	if hosted && !slices.Equal(vendor.rooms(), []string{room2}) {
		t.Fatalf("after PATCH the provider has %v, want only the new room %s", vendor.rooms(), room2)
	}

	s.Clock.Set(start.Add(-5 * time.Minute))
	s.do(t, "GET", api+"/teleconsultation/"+id, "pat-1", nil, &g)
	if g.AccessLinkURL == nil || !strings.HasPrefix(*g.AccessLinkURL, s.URL+"/join/") {
		t.Fatalf("link %v: want our own link, whatever the provider", g.AccessLinkURL)
	}
	code := strings.TrimPrefix(*g.AccessLinkURL, s.URL+"/join/")
	var sess struct {
		Token string
		Join  map[string]any
	}
	if st := s.do(t, "POST", api+"/sessions", "", map[string]string{"code": code}, &sess); st != 201 || sess.Token == "" {
		t.Fatalf("session: %d", st)
	}
	vendor.checkJoin(t, s, sess.Join, room2, "pat-1")

	var cr struct{ AccessToken, BandyerUserID string }
	if st := s.do(t, "POST", api+"/credentials", "doc-1", map[string]int{"expiresIn": 600}, &cr); st != 201 || cr.AccessToken == "" {
		t.Errorf("credentials: %d %+v", st, cr)
	}
	var up struct{ Total, Deleted int }
	if st := s.do(t, "DELETE", api+"/teleconsultation/"+id+"/uploads", "", nil, &up); st != 200 {
		t.Errorf("uploads: %d", st)
	}

	// After the visit, the appointment is confirmed again: a new
	// teleconsultation and room, the old room gone, the old link dead.
	s.Clock.Set(start.Add(50 * time.Minute))
	create["start_date"] = start.Add(24 * time.Hour).Format(time.RFC3339)
	var again struct{ RoomID string }
	if st := s.do(t, "POST", api+"/teleconsultation", "", create, &again); st != 201 || again.RoomID == id {
		t.Fatalf("replace: %d %+v", st, again)
	}
	room3 := roomOf(t, s, again.RoomID)
	if hosted && !slices.Equal(vendor.rooms(), []string{room3}) {
		t.Errorf("after replacement the provider has %v, want only %s", vendor.rooms(), room3)
	}
	var e errorBody
	if st := s.do(t, "POST", api+"/sessions", "", map[string]string{"code": code}, &e); st != 410 {
		t.Errorf("old link after replacement: %d %+v", st, e)
	}
	if st := s.do(t, "DELETE", api+"/teleconsultation/"+again.RoomID, "", nil, nil); st != 204 {
		t.Errorf("DELETE: %d", st)
	}
	if hosted && len(vendor.rooms()) != 0 {
		t.Errorf("after DELETE the provider has %v", vendor.rooms())
	}
	if st := s.do(t, "GET", api+"/teleconsultation/"+again.RoomID, "pat-1", nil, &e); st != 410 {
		t.Errorf("GET cancelled: %d", st)
	}
}

// Ensure a provider outage leaves nothing half-made: a create that the
// provider refuses or does not answer in time stores nothing and answers
// 502/503 quickly with a clear message and no secret; a cancellation the
// provider cannot carry out changes nothing; later attempts complete.
func TestProviderOutage(t *testing.T) {
	t.Run("daily", func(t *testing.T) {
		t.Parallel()
		fake := dailytest.New(t, dailyKey)
		s := startServer(t, map[string]string{"VIDEO_PROVIDER": "daily", "DAILY_API_KEY": dailyKey, "DAILY_API_URL": fake.URL, "PROVIDER_TIMEOUT": "300ms"})
		body := scenarioCreate(s)
		fake.Fail("POST", "/rooms", 1, dailytest.Fault{Hang: true})
		outage(t, s, body, 503, "video provider Daily did not answer within 300ms (create room)", dailyKey)
		fake.Fail("POST", "/rooms", 1, dailytest.Fault{Status: 401})
		outage(t, s, body, 502, "video provider Daily refused our credentials (HTTP 401): check DAILY_API_KEY (create room)", dailyKey)
		id := createOK(t, s, body)
		fake.Fail("DELETE", "/rooms/", 1, dailytest.Fault{Status: 403})
		cancelRetried(t, s, id, 502, func() int { return len(fake.Rooms()) })
	})
	t.Run("kaleyra", func(t *testing.T) {
		t.Parallel()
		fake := kaleyratest.New(t, kaleyraKey)
		s := startServer(t, map[string]string{"VIDEO_PROVIDER": "kaleyra", "BANDYER_API_SECRET_KEY": kaleyraKey, "BANDYER_BASE_URL": fake.URL, "PROVIDER_TIMEOUT": "300ms"})
		body := scenarioCreate(s)
		fake.Fail("POST", "/v2/rooms", 1, kaleyratest.Fault{Hang: true})
		outage(t, s, body, 503, "video provider Kaleyra did not answer within 300ms (create room)", kaleyraKey)
		fake.Fail("POST", "/v2/rooms", 1, kaleyratest.Fault{Malformed: true})
		outage(t, s, body, 502, "video provider Kaleyra gave a malformed answer (create room)", kaleyraKey)
		fake.Fail("POST", "/v2/rooms", 1, kaleyratest.Fault{Huge: true})
		outage(t, s, body, 502, "video provider Kaleyra answered with more than 1048576 bytes (create room)", kaleyraKey)
		users := len(fake.Users())
		id := createOK(t, s, body)
		if len(fake.Users()) != users {
			t.Errorf("the later attempt made new Kaleyra users: %d, had %d", len(fake.Users()), users)
		}
		fake.Fail("DELETE", "/v2/rooms/", 1, kaleyratest.Fault{Status: 401})
		cancelRetried(t, s, id, 502, func() int { return len(fake.Rooms()) })
	})
}

func scenarioCreate(s *testServer) map[string]any {
	return map[string]any{
		"start_date": s.Clock.Now().Add(2 * time.Hour).Format(time.RFC3339), "duration_in_seconds": 1800,
		"participants": map[string]any{"number": 2, "data": []map[string]any{
			{"userId": "doc-1", "groups": []string{"doctor"}, "fullName": "Dr. Anna Verdi"},
			{"userId": "pat-1", "groups": []string{"patient"}, "fullName": "Mario Rossi"},
		}},
	}
}

func outage(t *testing.T, s *testServer, body map[string]any, status int, msg, key string) {
	t.Helper()
	began := time.Now()
	var e errorBody
	if st := s.do(t, "POST", api+"/teleconsultation", "", body, &e); st != status || e.Error != msg {
		t.Errorf("create during an outage: %d %q, want %d %q", st, e.Error, status, msg)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("the outage answer took %v", d)
	}
	if strings.Contains(e.Error, key) || strings.Contains(e.Error, "Mario") {
		t.Errorf("message shows a secret: %q", e.Error)
	}
	if counts, err := s.Main.DB.CountByState(context.Background()); err != nil || len(counts) != 0 {
		t.Errorf("stored during an outage: %v %v", counts, err)
	}
}

func createOK(t *testing.T, s *testServer, body map[string]any) string {
	t.Helper()
	var created struct{ RoomID string }
	if st := s.do(t, "POST", api+"/teleconsultation", "", body, &created); st != 201 {
		t.Fatalf("create after the outage: %d", st)
	}
	return created.RoomID
}

// cancelRetried checks that a DELETE the provider fails changes nothing
// and that a retry completes it.
func cancelRetried(t *testing.T, s *testServer, id string, status int, rooms func() int) {
	t.Helper()
	var e errorBody
	if st := s.do(t, "DELETE", api+"/teleconsultation/"+id, "", nil, &e); st != status {
		t.Errorf("DELETE during an outage: %d %+v", st, e)
	}
	var g getBody
	if st := s.do(t, "GET", api+"/teleconsultation/"+id, "pat-1", nil, &g); st != 200 || g.Details.Status != "scheduled" || rooms() != 1 {
		t.Errorf("after a failed DELETE: %d %q, rooms %d", st, g.Details.Status, rooms())
	}
	if st := s.do(t, "DELETE", api+"/teleconsultation/"+id, "", nil, nil); st != 204 || rooms() != 0 {
		t.Errorf("DELETE retried: %d, rooms %d", st, rooms())
	}
}

// Ensure Daily's webhooks, through the whole service and database, drive
// the call state: signed events apply once, replays and foreign rooms are
// ignored, bad signatures and stale timestamps get 401 and change nothing.
func TestDailyWebhooks(t *testing.T) {
	databases(t, testDailyWebhooks)
}

func testDailyWebhooks(t *testing.T, env map[string]string) {
	fake := dailytest.New(t, dailyKey)
	maps.Copy(env, map[string]string{"VIDEO_PROVIDER": "daily", "DAILY_API_KEY": dailyKey, "DAILY_API_URL": fake.URL,
		"DAILY_WEBHOOK_SECRET": base64.StdEncoding.EncodeToString(webhookSecret)})
	s := startServer(t, env)
	id := createOK(t, s, scenarioCreate(s))
	room := roomOf(t, s, id)
	now := time.Now()
	s.Clock.Set(now)
	send := func(body []byte, ts time.Time, key []byte) (int, string) {
		t.Helper()
		tsText := strconv.FormatInt(ts.Unix(), 10)
		var out struct{ Status, Error string }
		st := s.doRaw(t, "POST", api+"/webhooks/daily", body, map[string]string{
			daily.SignatureHeader: dailytest.Sign(key, tsText, body), daily.TimestampHeader: tsText,
		}, &out)
		return st, out.Status + out.Error
	}
	details := func() (string, int) {
		var g getBody
		s.do(t, "GET", api+"/teleconsultation/"+id, "pat-1", nil, &g)
		return g.Details.Status, g.Details.DurationUsedInSeconds
	}
	joined := func(evID, session string, at time.Time) []byte {
		return dailytest.Event("participant.joined", evID, map[string]any{"room": room, "session_id": session, "user_id": "u",
			"user_name": "Mario Rossi", "joined_at": float64(at.Unix())}, at)
	}
	if st, out := send(joined("e1", "s1", now), now, []byte("forged-secret-0123456789")); st != 401 || out != "webhook signature missing or invalid" {
		t.Errorf("forged: %d %q", st, out)
	}
	if st, _ := send(joined("e1", "s1", now), now.Add(-10*time.Minute), webhookSecret); st != 401 {
		t.Errorf("stale: %d", st)
	}
	if status, _ := details(); status != "scheduled" {
		t.Fatalf("refused webhooks changed the state: %s", status)
	}
	for _, tt := range []struct {
		body []byte
		want string
	}{
		{joined("e1", "s1", now.Add(-20*time.Minute)), "applied"},
		{joined("e1", "s1", now.Add(-20*time.Minute)), "duplicate"},
		{joined("e2", "s2", now.Add(-19*time.Minute)), "applied"},
		{dailytest.Event("participant.joined", "e3", map[string]any{"room": "someone-elses-room", "session_id": "x"}, now), "ignored"},
		{dailytest.Event("participant.left", "e4", map[string]any{"room": room, "session_id": "s1",
			"joined_at": float64(now.Add(-20 * time.Minute).Unix()), "duration": 900}, now), "applied"},
	} {
		if st, out := send(tt.body, now, webhookSecret); st != 200 || out != tt.want {
			t.Errorf("%s: %d %q, want %q", tt.body, st, out, tt.want)
		}
	}
	// LIVE_TELECONSULTATION (default true): one of two left, so the call
	// ended after 15 minutes and Daily was told to disconnect the rest.
	if status, used := details(); status != "ended" || used != 900 {
		t.Errorf("after one of two left: %s, %d s used", status, used)
	}
	if ej := fake.Ejects(room); len(ej) != 1 {
		t.Errorf("ejects %v", ej)
	}
}

// doRaw sends body as is, without the API key, with headers, and decodes a
// JSON answer into out.
func (s *testServer) doRaw(t testing.TB, method, path string, body []byte, headers map[string]string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return testkit.Do(t, req, out)
}

// Ensure the provider settings parse, refuse bad values by name without
// repeating a secret, and that config check masks the webhook secret.
func TestProviderConfig(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString(webhookSecret)
	c := mustLoad(t, map[string]string{"VIDEO_PROVIDER": "daily", "DAILY_API_KEY": dailyKey, "DAILY_WEBHOOK_SECRET": secret,
		"PROVIDER_TIMEOUT": "2500ms", "START_AUDIO_OFF": "false", "DATA_DIR": t.TempDir()})
	if string(c.Daily.WebhookSecret) != string(webhookSecret) || c.ProviderTimeout != 2500*time.Millisecond || c.StartAudioOff || !c.StartVideoOff {
		t.Errorf("config %+v", c)
	}
	if st := c.Settings(); st.StartAudioOff || !st.StartVideoOff {
		t.Errorf("settings %+v", st)
	}
	var b strings.Builder
	c.Print(&b)
	if out := b.String(); strings.Contains(out, secret) || strings.Contains(out, dailyKey) || !strings.Contains(out, "\nDAILY_WEBHOOK_SECRET=****** (set)  # env\n") ||
		!strings.Contains(out, "\nPROVIDER_TIMEOUT=2.5s  # env\n") {
		t.Errorf("config check:\n%s", out)
	}
	if d := mustLoad(t, map[string]string{}); d.ProviderTimeout != 10*time.Second || !d.StartAudioOff || !d.StartVideoOff || d.Daily.WebhookSecret != nil {
		t.Errorf("defaults %+v", d)
	}
	for _, tt := range []struct{ name, value, want string }{
		{"DAILY_WEBHOOK_SECRET", "not base64!", "standard base64 of at least 16 bytes"},
		{"DAILY_WEBHOOK_SECRET", base64.StdEncoding.EncodeToString([]byte("short")), "at least 16 bytes"},
		{"PROVIDER_TIMEOUT", "10", "duration"},
		{"PROVIDER_TIMEOUT", "10ms", "from 100ms to 2m0s"},
		{"PROVIDER_TIMEOUT", "1h", "from 100ms to 2m0s"},
		{"START_AUDIO_OFF", "off", "true or false"},
		{"START_VIDEO_OFF", "yes", "true or false"},
	} {
		_, err := LoadConfig(env(map[string]string{tt.name: tt.value}))
		if err == nil || !strings.HasPrefix(err.Error(), tt.name) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%s: %v, want %q", tt.name, tt.value, err, tt.want)
		}
		if err != nil && isSecret(tt.name) && strings.Contains(err.Error(), tt.value) {
			t.Errorf("%s: the error repeats the value", tt.name)
		}
	}
}

// Ensure the service's logs, at debug level, hold neither a provider's key,
// nor the webhook secret, nor patient data, through successes, retries,
// refusals and outages.
func TestProviderLogsHoldNoSecrets(t *testing.T) {
	dfake := dailytest.New(t, dailyKey)
	kfake := kaleyratest.New(t, kaleyraKey)
	secret := base64.StdEncoding.EncodeToString(webhookSecret)
	for _, tt := range []struct {
		env  map[string]string
		fail func(status int)
	}{
		{map[string]string{"VIDEO_PROVIDER": "daily", "DAILY_API_KEY": dailyKey, "DAILY_API_URL": dfake.URL, "DAILY_WEBHOOK_SECRET": secret},
			func(status int) { dfake.Fail("POST", "/rooms", 1, dailytest.Fault{Status: status}) }},
		{map[string]string{"VIDEO_PROVIDER": "kaleyra", "BANDYER_API_SECRET_KEY": kaleyraKey, "BANDYER_BASE_URL": kfake.URL},
			func(status int) { kfake.Fail("POST", "/v2/rooms", 1, kaleyratest.Fault{Status: status}) }},
	} {
		env := tt.env
		env["PROVIDER_TIMEOUT"] = "2s"
		env["LOG_LEVEL"] = "debug"
		logs := &testkit.LogBuffer{}
		s := startServerLogged(t, env, logs)
		body := scenarioCreate(s)
		tt.fail(503)
		id := createOK(t, s, body)
		tt.fail(401)
		s.do(t, "POST", api+"/teleconsultation", "", body, nil)
		s.Clock.Set(s.Clock.Now().Add(2 * time.Hour))
		var g getBody
		s.do(t, "GET", api+"/teleconsultation/"+id, "pat-1", nil, &g)
		s.do(t, "POST", api+"/sessions", "", map[string]string{"code": strings.TrimPrefix(*g.AccessLinkURL, s.URL+"/join/")}, nil)
		s.doRaw(t, "POST", api+"/webhooks/daily", []byte(`{"type":"participant.joined"}`), map[string]string{daily.SignatureHeader: "AAAA", daily.TimestampHeader: "1"}, nil)
		s.do(t, "DELETE", api+"/teleconsultation/"+id, "", nil, nil)
		out := logs.String()
		if !strings.Contains(out, "retrying") || !strings.Contains(out, "HTTP 401") {
			t.Errorf("%s: the logs lack the retries and refusals (wrong buffer?):\n%s", env["VIDEO_PROVIDER"], out)
		}
		for _, secret := range []string{dailyKey, kaleyraKey, secret, "Mario", "Anna"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s: the logs hold %q:\n%s", env["VIDEO_PROVIDER"], secret, out)
			}
		}
	}
}
