package daily_test

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/daily"
	"github.com/teleconsult/teleconsult/internal/daily/dailytest"
	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/testkit"
)

const apiKey = "dk_test_SECRET-daily-key-0123456789abcdef"

var (
	ctx   = context.Background()
	start = time.Date(2031, 5, 6, 10, 0, 0, 0, time.UTC)
)

type fixture struct {
	fake  *dailytest.Server
	p     *daily.Provider
	logs  *testkit.LogBuffer
	mu    sync.Mutex
	waits []time.Duration
}

func newFixture(t *testing.T, timeout time.Duration) *fixture {
	t.Helper()
	f := &fixture{fake: dailytest.New(t, apiKey), logs: &testkit.LogBuffer{}}
	p, err := daily.New(daily.Config{
		APIKey: apiKey, BaseURL: f.fake.URL, NamingKey: bytes.Repeat([]byte{7}, 32),
		WebhookSecret: []byte("webhook-secret-bytes"), Timeout: timeout,
		Logger:      slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		BaseBackoff: time.Millisecond,
		Sleep: func(c context.Context, d time.Duration) error {
			f.mu.Lock()
			f.waits = append(f.waits, d)
			f.mu.Unlock()
			return c.Err()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	t.Cleanup(func() {
		if strings.Contains(f.logs.String(), apiKey) {
			t.Error("the logs show the API key")
		}
		for _, secret := range []string{"Mario Rossi", "Anna Verdi"} {
			if strings.Contains(f.logs.String(), secret) {
				t.Errorf("the logs show patient data %q", secret)
			}
		}
	})
	return f
}

func settings(limited bool) *tc.Settings {
	s := tc.DefaultSettings()
	s.ImmutablePeriod = 10 * time.Minute
	s.Unlimited = !limited
	s.Config.Privileges.Basic.Tools.ScreenSharing = false
	s.Config.Privileges.Basic.Tools.Chat = false
	return &s
}

func visit() *tc.Teleconsultation {
	return &tc.Teleconsultation{
		ID: tc.NewID(), StartDate: start, EndDate: start.Add(30 * time.Minute), ExpectedParticipants: 2, Provider: "daily",
		Participants: []tc.Participant{
			{UserID: "doc-1", FullName: "Dr. Anna Verdi", Role: tc.RolePlus, ProviderUserID: "0f8fad5b-d9cb-469f-a165-70867728950e"},
			{UserID: "pat-1", FullName: "Mario Rossi", Role: tc.RoleBasic, ProviderUserID: "7c9e6679-7425-40de-944b-e07fc1f90ae7"},
		},
	}
}

func noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && (strings.Contains(err.Error(), apiKey) || strings.Contains(err.Error(), "Mario")) {
		t.Errorf("error shows a secret: %v", err)
	}
}

// Ensure POST /rooms carries a random-looking name derived from the
// teleconsultation and room revision, privacy private and the properties
// from the window and the privileges.
func TestCreateRoom(t *testing.T) {
	for _, limited := range []bool{false, true} {
		t.Run("limited="+strconv.FormatBool(limited), func(t *testing.T) {
			f := newFixture(t, time.Second)
			v := visit()
			room, err := f.p.CreateRoom(ctx, v, settings(limited))
			if err != nil {
				t.Fatal(err)
			}
			name := f.p.RoomName(v.ID, 1)
			if room.ID != name || room.URL != "https://acme.daily.co/"+name || len(room.Links) != 0 {
				t.Fatalf("room %+v, want %s", room, name)
			}
			if !regexp.MustCompile(`^[A-Za-z0-9_-]{20}$`).MatchString(name) || strings.Contains(name, v.ID[:8]) || name == f.p.RoomName(v.ID, 2) {
				t.Errorf("room name %q", name)
			}
			rm := f.fake.Rooms()[name]
			props := rm.Properties
			if rm.Privacy != "private" || !rm.Named {
				t.Errorf("privacy %q named %v", rm.Privacy, rm.Named)
			}
			if got := dailytest.Int(props["nbf"]); got != start.Add(-10*time.Minute).Unix() {
				t.Errorf("nbf %d", got)
			}
			if limited {
				if dailytest.Int(props["exp"]) != start.Add(30*time.Minute).Unix() || props["eject_at_room_exp"] != true {
					t.Errorf("limited window: exp %v eject %v", props["exp"], props["eject_at_room_exp"])
				}
			} else if _, ok := props["exp"]; ok || props["eject_at_room_exp"] != nil {
				t.Errorf("unlimited window: exp %v eject %v", props["exp"], props["eject_at_room_exp"])
			}
			want := map[string]any{"start_audio_off": true, "start_video_off": true, "enable_screenshare": true,
				"enable_chat": false, "enforce_unique_user_ids": true}
			for k, w := range want {
				if props[k] != w {
					t.Errorf("%s = %v, want %v", k, props[k], w)
				}
			}
			if dailytest.Int(props["max_participants"]) != 2 {
				t.Errorf("max_participants %v", props["max_participants"])
			}
		})
	}
}

// Ensure a create whose answer was lost after Daily made the room does not
// make a second one: the retry, or a later attempt at the same revision,
// finds it, sets its properties and adopts it.
func TestCreateRoomIdempotent(t *testing.T) {
	f := newFixture(t, time.Second)
	v := visit()
	f.fake.Fail("POST", "/rooms", 1, dailytest.Fault{Lost: true, Status: 502})
	room, err := f.p.CreateRoom(ctx, v, settings(false))
	if err != nil {
		t.Fatal(err)
	}
	rooms := f.fake.Rooms()
	if len(rooms) != 1 || rooms[room.ID].Updates != 1 {
		t.Fatalf("rooms %v after a lost answer and a retry, want one room, adopted", rooms)
	}

	// The answer hangs: the call fails within its time limit; a later
	// attempt adopts the room with the new properties.
	f = newFixture(t, 200*time.Millisecond)
	f.fake.Fail("POST", "/rooms", 1, dailytest.Fault{Lost: true})
	began := time.Now()
	_, err = f.p.CreateRoom(ctx, v, settings(false))
	if tc.ErrorCode(err) != tc.EUNAVAILABLE || time.Since(began) > 2*time.Second {
		t.Fatalf("lost answer: %v after %v", err, time.Since(began))
	}
	room, err = f.p.CreateRoom(ctx, v, settings(true))
	if err != nil {
		t.Fatal(err)
	}
	rooms = f.fake.Rooms()
	if len(rooms) != 1 || rooms[room.ID].Properties["eject_at_room_exp"] != true {
		t.Errorf("rooms %v: want one room with the later properties", rooms)
	}
}

// Ensure a domain that refuses our names (HIPAA) still gets rooms, named
// by Daily.
func TestCreateRoomHIPAA(t *testing.T) {
	f := newFixture(t, time.Second)
	f.fake.SetHIPAA(true)
	for range 2 {
		room, err := f.p.CreateRoom(ctx, visit(), settings(false))
		if err != nil {
			t.Fatal(err)
		}
		if rm := f.fake.Rooms()[room.ID]; rm.Named || rm.Privacy != "private" {
			t.Errorf("room %+v", rm)
		}
	}
	if n := f.fake.Count("POST", "/rooms"); n != 3 {
		t.Errorf("%d creates, want 3 (one refused name, then two unnamed)", n)
	}
}

// Ensure vendor failures become clear 502/503 errors without secrets, and
// that 429 and 5xx are retried, honouring Retry-After.
func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		fault dailytest.Fault
		times int
		code  string // "" for success after retries
		msg   string
	}{
		{"429 then ok", dailytest.Fault{Status: 429, RetryAfter: "1"}, 1, "", ""},
		{"500 then ok", dailytest.Fault{Status: 500}, 2, "", ""},
		{"500 always", dailytest.Fault{Status: 500}, 99, tc.EBADGATEWAY, "video provider Daily failed (HTTP 500) (create room)"},
		{"401", dailytest.Fault{Status: 401}, 1, tc.EBADGATEWAY, "refused our credentials (HTTP 401): check DAILY_API_KEY"},
		{"malformed", dailytest.Fault{Malformed: true}, 1, tc.EBADGATEWAY, "gave a malformed answer (create room)"},
		{"huge", dailytest.Fault{Huge: true}, 1, tc.EBADGATEWAY, "answered with more than"},
		{"hang", dailytest.Fault{Hang: true}, 1, tc.EUNAVAILABLE, "did not answer within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := 5 * time.Second // waits are recorded, not slept
			if tt.fault.Hang {
				timeout = 200 * time.Millisecond
			}
			f := newFixture(t, timeout)
			f.fake.Fail("POST", "/rooms", tt.times, tt.fault)
			_, err := f.p.CreateRoom(ctx, visit(), settings(false))
			noSecret(t, err)
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tt.fault.RetryAfter != "" && (len(f.waits) != 1 || f.waits[0] != time.Second) {
					t.Errorf("waits %v, want Retry-After's 1s", f.waits)
				}
				if len(f.fake.Rooms()) != 1 {
					t.Errorf("rooms %v", f.fake.Rooms())
				}
				return
			}
			if tc.ErrorCode(err) != tt.code || !strings.Contains(tc.ErrorMessage(err), tt.msg) {
				t.Errorf("error %v, want %s %q", err, tt.code, tt.msg)
			}
		})
	}
	// A wrong key: Daily's 401, never the key in the message.
	f := newFixture(t, time.Second)
	f.fake.APIKey = "another-key"
	_, err := f.p.CreateRoom(ctx, visit(), settings(false))
	if tc.ErrorCode(err) != tc.EBADGATEWAY || !strings.Contains(tc.ErrorMessage(err), "DAILY_API_KEY") {
		t.Errorf("wrong key: %v", err)
	}
	noSecret(t, err)
}

// Ensure each participant's meeting token is for the room only, carries
// a user id of at most 36 characters, ownership for plus, the window's
// nbf/exp (with eject at exp when the window is limited, else the
// session's expiry) and the role's screen-sharing permission.
func TestJoin(t *testing.T) {
	for _, limited := range []bool{false, true} {
		t.Run("limited="+strconv.FormatBool(limited), func(t *testing.T) {
			f := newFixture(t, time.Second)
			v := visit()
			s := settings(limited)
			room, err := f.p.CreateRoom(ctx, v, s)
			if err != nil {
				t.Fatal(err)
			}
			v.ProviderRoomID, v.ProviderRoomURL, v.RoomRevision = room.ID, room.URL, 1
			until := start.Add(5 * time.Minute)
			for i := range v.Participants {
				pt := &v.Participants[i]
				j, err := f.p.Join(ctx, v, pt, s, tc.JoinOptions{Until: until})
				if err != nil {
					t.Fatal(err)
				}
				toks := f.fake.Tokens()
				tok := toks[len(toks)-1]
				if j.Provider != "daily" || j.URL != room.URL || j.Token != tok.Token {
					t.Errorf("join %+v", j)
				}
				p := tok.Properties
				plus := pt.Role == tc.RolePlus
				if p["room_name"] != room.ID || p["user_id"] != pt.ProviderUserID || p["user_name"] != pt.FullName ||
					p["is_owner"] != plus || p["enable_screenshare"] != plus || dailytest.Int(p["nbf"]) != start.Add(-10*time.Minute).Unix() {
					t.Errorf("%s: token properties %v", pt.UserID, p)
				}
				wantExp, wantEject := until, any(nil)
				if limited {
					wantExp, wantEject = v.EndDate, true
				}
				if dailytest.Int(p["exp"]) != wantExp.Unix() || p["eject_at_token_exp"] != wantEject || !j.ExpiresAt.Equal(wantExp) {
					t.Errorf("%s: exp %v eject %v, expires %v", pt.UserID, p["exp"], p["eject_at_token_exp"], j.ExpiresAt)
				}
				perms, _ := p["permissions"].(map[string]any)
				canSend, _ := perms["can_send"].([]any)
				if slices.Contains(canSend, any("screenVideo")) != plus || !slices.Contains(canSend, any("audio")) {
					t.Errorf("%s: can_send %v", pt.UserID, canSend)
				}
			}
		})
	}
}

// Ensure a room is deleted (a gone one is fine), and the LIVE rule ejects
// whoever remains.
func TestDeleteAndEject(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	v := visit()
	room, err := f.p.CreateRoom(ctx, v, settings(false))
	if err != nil {
		t.Fatal(err)
	}
	v.ProviderRoomID = room.ID
	if err := f.p.EndCall(ctx, v); err != nil {
		t.Fatal(err)
	}
	if ej := f.fake.Ejects(room.ID); len(ej) != 1 || len(ej[0]) != 2 || ej[0][0] != v.Participants[0].ProviderUserID {
		t.Errorf("ejects %v", ej)
	}
	if err := f.p.DeleteRoom(ctx, v); err != nil {
		t.Fatal(err)
	}
	if err := f.p.DeleteRoom(ctx, v); err != nil {
		t.Errorf("deleting a gone room: %v", err)
	}
	if d := f.fake.Deleted(); len(d) != 1 || d[0] != room.ID || len(f.fake.Rooms()) != 0 {
		t.Errorf("deleted %v", d)
	}
	f.fake.Fail("DELETE", "/rooms/", 1, dailytest.Fault{Status: 429, RetryAfter: "1"})
	v2 := visit()
	room2, _ := f.p.CreateRoom(ctx, v2, settings(false))
	v2.ProviderRoomID = room2.ID
	if err := f.p.DeleteRoom(ctx, v2); err != nil || len(f.fake.Rooms()) != 0 {
		t.Errorf("delete after 429: %v", err)
	}
	if res, err := f.p.DeleteUploads(ctx, v2); err != nil || res != (tc.UploadsDeleted{}) {
		t.Errorf("uploads: %+v %v", res, err)
	}
}

// Ensure a meeting token is only minted for a room the call page may show:
// on the configured DAILY_DOMAIN origin, or without one on
// https://<name>.daily.co; any other room is refused before Daily is asked.
func TestJoinRoomOrigin(t *testing.T) {
	for _, tt := range []struct {
		origin, roomURL string
		ok              bool
	}{
		{"", "https://acme.daily.co/room", true},
		{"", "https://acme.daily.co.evil.example/room", false},
		{"", "http://acme.daily.co/room", false},
		{"", "http://127.0.0.1:9000/room", false},
		{"https://acme.daily.co", "https://acme.daily.co/room", true},
		{"https://acme.daily.co", "https://other.daily.co/room", false},
		{"https://video.clinic.example", "https://video.clinic.example/room", true},
		{"http://127.0.0.1:9000", "http://127.0.0.1:9000/room", true},
		{"http://127.0.0.1:9000", "http://127.0.0.1:9001/room", false},
		{"https://acme.daily.co", "https://acme.daily.co/room?t=stolen", false},
		{"https://acme.daily.co", "https://user@acme.daily.co/room", false},
	} {
		fake := dailytest.New(t, apiKey)
		p, err := daily.New(daily.Config{APIKey: apiKey, BaseURL: fake.URL, NamingKey: bytes.Repeat([]byte{7}, 32), RoomOrigin: tt.origin, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		v := visit()
		s := settings(false)
		room, err := p.CreateRoom(ctx, v, s)
		if err != nil {
			t.Fatal(err)
		}
		v.ProviderRoomID, v.ProviderRoomURL, v.RoomRevision = room.ID, tt.roomURL, 1
		j, err := p.Join(ctx, v, &v.Participants[0], s, tc.JoinOptions{Until: start.Add(time.Minute)})
		switch {
		case tt.ok && (err != nil || j.URL != tt.roomURL):
			t.Errorf("origin %q, room %s: %+v %v", tt.origin, tt.roomURL, j, err)
		case !tt.ok && (tc.ErrorCode(err) != tc.EINTERNAL || !strings.Contains(err.Error(), "DAILY_DOMAIN")):
			t.Errorf("origin %q, room %s: %+v %v, want a refusal naming DAILY_DOMAIN", tt.origin, tt.roomURL, j, err)
		case !tt.ok && len(fake.Tokens()) != 0:
			t.Errorf("origin %q, room %s: a token was minted", tt.origin, tt.roomURL)
		}
	}
}
