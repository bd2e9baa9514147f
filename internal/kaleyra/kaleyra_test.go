package kaleyra

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/teleconsult/teleconsult/internal/kaleyra/kaleyratest"
	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/testkit"
	"github.com/teleconsult/teleconsult/internal/vendorhttp"
)

const apiKey = "kk_SECRET-kaleyra-company-key-0123456789"

var (
	ctx   = context.Background()
	start = time.Date(2031, 5, 6, 10, 0, 0, 0, time.UTC)
)

type fixture struct {
	fake  *kaleyratest.Server
	p     *Provider
	clock time.Time
	mu    sync.Mutex
	waits []time.Duration
}

func newFixture(t *testing.T, timeout time.Duration) *fixture {
	t.Helper()
	f := &fixture{fake: kaleyratest.New(t, apiKey), clock: time.Now()}
	logs := &testkit.LogBuffer{}
	p, err := New(Config{
		APIKey: apiKey, BaseURL: f.fake.URL, NamingKey: bytes.Repeat([]byte{9}, 32), Timeout: timeout,
		Logger:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		BaseBackoff: time.Millisecond,
		Sleep: func(c context.Context, d time.Duration) error {
			f.mu.Lock()
			f.waits = append(f.waits, d)
			f.mu.Unlock()
			return c.Err()
		},
		Now: func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	t.Cleanup(func() {
		if strings.Contains(logs.String(), apiKey) || strings.Contains(logs.String(), "Mario") {
			t.Errorf("the logs show a secret:\n%s", logs)
		}
	})
	return f
}

func settings(limited bool) *tc.Settings {
	s := tc.DefaultSettings()
	s.Unlimited = !limited
	s.Config.Privileges.Basic.Tools = tc.Tools{Chat: true, ScreenSharing: false, FileUpload: true}
	return &s
}

// visit returns a teleconsultation whose participants have Kaleyra users.
func (f *fixture) visit(t *testing.T) *tc.Teleconsultation {
	t.Helper()
	v := &tc.Teleconsultation{ID: tc.NewID(), StartDate: start, EndDate: start.Add(30 * time.Minute), ExpectedParticipants: 2, Provider: Name,
		Participants: []tc.Participant{
			{UserID: "doc-1", FullName: "Dr. Anna Verdi", Role: tc.RolePlus},
			{UserID: "pat-1", FullName: "Mario Rossi", Role: tc.RoleBasic},
		}}
	for i := range v.Participants {
		pt := &v.Participants[i]
		id, err := f.p.NewUser(ctx, pt.UserID, pt.Role)
		if err != nil {
			t.Fatal(err)
		}
		pt.ProviderUserID = id
	}
	return v
}

func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	if tc.ErrorCode(err) != code || !strings.Contains(tc.ErrorMessage(err), msg) {
		t.Fatalf("error %v, want %s with %q", err, code, msg)
	}
	if strings.Contains(err.Error(), apiKey) {
		t.Errorf("error shows the key: %v", err)
	}
}

// Ensure users are made once with the role's Kaleyra role and an id that
// says nothing about the person; a repeat finds the user.
func TestNewUser(t *testing.T) {
	f := newFixture(t, time.Second)
	id, err := f.p.NewUser(ctx, "FHIR-Patient-12345", tc.RoleBasic)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "tc_") || len(id) != 29 || strings.Contains(strings.ToLower(id), "12345") {
		t.Errorf("user id %q", id)
	}
	again, err := f.p.NewUser(ctx, "FHIR-Patient-12345", tc.RoleBasic)
	if err != nil || again != id {
		t.Fatalf("repeat: %q %v", again, err)
	}
	doc, _ := f.p.NewUser(ctx, "doc-1", tc.RolePlus)
	unknown, _ := f.p.NewUser(ctx, "someone", tc.RoleUnknown)
	if u := f.fake.Users(); len(u) != 3 || u[id] != "basic" || u[doc] != "plus" || u[unknown] != "basic" {
		t.Errorf("users %v", u)
	}
	// A lost answer: the retry finds the user.
	f.fake.Fail("POST", "/v2/users", 1, kaleyratest.Fault{Lost: true, Status: 502})
	lost, err := f.p.NewUser(ctx, "pat-9", tc.RoleBasic)
	if err != nil || len(f.fake.Users()) != 4 || f.fake.Users()[lost] != "basic" {
		t.Errorf("lost answer: %q %v, users %v", lost, err, f.fake.Users())
	}
}

// Ensure a room is made with every participant (user_id, is_admin for
// plus, the role's tools), a duration only for a limited window, and that
// each participant's link comes back under their external id.
func TestCreateRoom(t *testing.T) {
	for _, limited := range []bool{false, true} {
		t.Run(fmt.Sprint("limited=", limited), func(t *testing.T) {
			f := newFixture(t, time.Second)
			v := f.visit(t)
			room, err := f.p.CreateRoom(ctx, v, settings(limited))
			if err != nil {
				t.Fatal(err)
			}
			rm := f.fake.Rooms()[room.ID]
			if len(rm.Participants) != 2 {
				t.Fatalf("room %+v", rm)
			}
			for i, pt := range rm.Participants {
				want := v.Participants[i]
				plus := want.Role == tc.RolePlus
				if pt.UserID != want.ProviderUserID || pt.IsAdmin != plus || len(pt.Tools) != 8 || pt.Tools["screen_sharing"] != plus || !pt.Tools["chat"] {
					t.Errorf("participant %d: %+v", i, pt)
				}
				if room.Links[want.UserID] != pt.Link {
					t.Errorf("link of %s: %q, want %q", want.UserID, room.Links[want.UserID], pt.Link)
				}
			}
			if want := map[bool]int64{true: 1800, false: 0}[limited]; rm.Duration != want {
				t.Errorf("duration %d, want %d", rm.Duration, want)
			}
			if room.URL != "" {
				t.Errorf("room URL %q", room.URL)
			}
		})
	}
	f := newFixture(t, time.Second)
	v := f.visit(t)
	v.Participants = v.Participants[:1]
	_, err := f.p.CreateRoom(ctx, v, settings(false))
	wantErr(t, err, tc.EINVALID, "at least 2 participants")
}

// Ensure a room creation is retried only when Kaleyra says it did not
// process it (429, 503), never after an ambiguous failure, so that it
// cannot make a second room in use; and that failures are clear 502/503.
func TestCreateRoomFailures(t *testing.T) {
	tests := []struct {
		name      string
		fault     kaleyratest.Fault
		times     int
		code, msg string
		posts     int
		rooms     int
	}{
		{"429 then ok", kaleyratest.Fault{Status: 429, RetryAfter: "1"}, 1, "", "", 2, 1},
		{"503 then ok", kaleyratest.Fault{Status: 503}, 1, "", "", 2, 1},
		{"500 not retried", kaleyratest.Fault{Status: 500}, 1, tc.EBADGATEWAY, "Kaleyra failed (HTTP 500) (create room)", 1, 0},
		{"made, answer lost with 502", kaleyratest.Fault{Lost: true, Status: 502}, 1, tc.EBADGATEWAY, "(HTTP 502)", 1, 1},
		{"made, answer lost (hang)", kaleyratest.Fault{Lost: true}, 1, tc.EUNAVAILABLE, "did not answer within", 1, 1},
		{"hang", kaleyratest.Fault{Hang: true}, 1, tc.EUNAVAILABLE, "did not answer within 200ms", 1, 0},
		{"401", kaleyratest.Fault{Status: 401}, 1, tc.EBADGATEWAY, "check BANDYER_API_SECRET_KEY", 1, 0},
		{"404", kaleyratest.Fault{Status: 404}, 1, tc.EBADGATEWAY, "answered HTTP 404 injected (create room)", 1, 0},
		{"malformed", kaleyratest.Fault{Malformed: true}, 1, tc.EBADGATEWAY, "malformed answer", 1, 0},
		{"huge", kaleyratest.Fault{Huge: true}, 1, tc.EBADGATEWAY, "more than", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := 5 * time.Second
			if tt.fault.Hang || tt.fault.Lost && tt.fault.Status == 0 {
				timeout = 200 * time.Millisecond
			}
			f := newFixture(t, timeout)
			v := f.visit(t)
			f.fake.Fail("POST", "/v2/rooms", tt.times, tt.fault)
			_, err := f.p.CreateRoom(ctx, v, settings(false))
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				wantErr(t, err, tt.code, tt.msg)
			}
			if n := f.fake.Count("POST", "/v2/rooms"); n != tt.posts {
				t.Errorf("%d room creations sent, want %d", n, tt.posts)
			}
			if n := len(f.fake.Rooms()); n != tt.rooms {
				t.Errorf("%d rooms, want %d", n, tt.rooms)
			}
		})
	}
	// Kaleyra refuses the key.
	f := newFixture(t, time.Second)
	f.fake.APIKey = "other"
	_, err := f.p.NewUser(ctx, "u", tc.RolePlus)
	wantErr(t, err, tc.EBADGATEWAY, "refused our credentials (HTTP 401): check BANDYER_API_SECRET_KEY")
}

// Ensure delete, join, details, credentials and uploads.
func TestRoomLifecycle(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	v := f.visit(t)
	room, err := f.p.CreateRoom(ctx, v, settings(true))
	if err != nil {
		t.Fatal(err)
	}
	v.ProviderRoomID = room.ID
	for i := range v.Participants {
		v.Participants[i].ProviderLink = room.Links[v.Participants[i].UserID]
	}
	j, err := f.p.Join(ctx, v, &v.Participants[1], settings(true), tc.JoinOptions{})
	if err != nil || j.Provider != Name || !strings.HasPrefix(j.URL, room.Links["pat-1"]+"?") || !strings.Contains(j.URL, "display_name=") || j.Token != "" ||
		strings.Contains(j.URL, "virtual_background") {
		t.Errorf("join %+v %v", j, err)
	}
	if j, err := f.p.Join(ctx, v, &v.Participants[1], settings(true), tc.JoinOptions{Background: true}); err != nil || !strings.Contains(j.URL, "virtual_background=image") {
		t.Errorf("join with the background %+v %v", j, err)
	}
	if _, err := f.p.Join(ctx, v, &tc.Participant{}, settings(true), tc.JoinOptions{}); tc.ErrorCode(err) != tc.EINTERNAL {
		t.Errorf("join without a link: %v", err)
	}

	f.fake.SetDurationUsed(room.ID, 754)
	d, err := f.p.RoomDetails(ctx, v)
	if err != nil || d.Status != "NOT_RUNNING" || d.CallType != "audio_video" || d.RecordingStatus != "stopped" ||
		d.DurationUsed == nil || *d.DurationUsed != 754*time.Second || d.Live == nil || !*d.Live {
		t.Errorf("details %+v %v", d, err)
	}
	if _, err := f.p.RoomDetails(ctx, v); err != nil || f.fake.Count("GET", "/v2/rooms/") != 1 {
		t.Errorf("details not reused: %d gets", f.fake.Count("GET", "/v2/rooms/"))
	}
	f.mu.Lock()
	f.clock = f.clock.Add(6 * time.Second)
	f.mu.Unlock()
	if _, err := f.p.RoomDetails(ctx, v); err != nil || f.fake.Count("GET", "/v2/rooms/") != 2 {
		t.Errorf("details not refreshed: %d gets", f.fake.Count("GET", "/v2/rooms/"))
	}

	// A failure is remembered as briefly as an answer.
	f.mu.Lock()
	f.clock = f.clock.Add(6 * time.Second)
	f.mu.Unlock()
	f.fake.Fail("GET", "/v2/rooms/", vendorhttp.DefaultMaxAttempts, kaleyratest.Fault{Status: 500})
	if _, err := f.p.RoomDetails(ctx, v); tc.ErrorCode(err) != tc.EBADGATEWAY {
		t.Errorf("details from a failing Kaleyra: %v", err)
	}
	gets := f.fake.Count("GET", "/v2/rooms/")
	if _, err := f.p.RoomDetails(ctx, v); err == nil || f.fake.Count("GET", "/v2/rooms/") != gets {
		t.Errorf("a failure was not reused: %v", err)
	}

	tok, exp, err := f.p.Credentials(ctx, v.Participants[0].ProviderUserID, 24*time.Hour)
	if err != nil || strings.Count(tok, ".") != 2 || exp.After(time.Now().Add(61*time.Minute)) {
		t.Errorf("credentials %q %v %v (the token's own expiry, 1h, comes first)", tok, exp, err)
	}
	_, exp, _ = f.p.Credentials(ctx, v.Participants[0].ProviderUserID, time.Minute)
	if !exp.Equal(f.clock.Add(time.Minute).UTC()) {
		t.Errorf("expiry %v, want the asked minute", exp)
	}

	var keys []string
	for i := range 120 {
		keys = append(keys, fmt.Sprintf("file-%03d", i))
	}
	f.fake.AddUploads(room.ID, keys...)
	f.fake.AddUploads("another-room", "keep-me")
	res, err := f.p.DeleteUploads(ctx, v)
	if err != nil || res.Total != 120 || res.Deleted != 120 || len(f.fake.Uploads(room.ID)) != 0 || len(f.fake.Uploads("another-room")) != 1 {
		t.Errorf("uploads %+v %v, left %v", res, err, f.fake.Uploads(room.ID))
	}
	f.fake.AddUploads(room.ID, "a", "b", "c")
	f.fake.Fail("DELETE", "/v2/uploads/", vendorhttp.DefaultMaxAttempts, kaleyratest.Fault{Status: 500}) // every attempt of the first
	res, err = f.p.DeleteUploads(ctx, v)
	if err != nil || res.Total != 3 || res.Deleted != 0 {
		t.Errorf("partial: %+v %v", res, err)
	}
	res, err = f.p.DeleteUploads(ctx, v)
	if err != nil || res.Total != 3 || res.Deleted != 3 {
		t.Errorf("retry: %+v %v", res, err)
	}
	f.fake.Fail("GET", "/v2/uploads", 1, kaleyratest.Fault{Status: 401})
	_, err = f.p.DeleteUploads(ctx, v)
	wantErr(t, err, tc.EBADGATEWAY, "list uploads")

	if err := f.p.DeleteRoom(ctx, v); err != nil {
		t.Fatal(err)
	}
	if err := f.p.DeleteRoom(ctx, v); err != nil {
		t.Errorf("deleting a gone room: %v", err)
	}
	if d := f.fake.Deleted(); len(d) != 1 || d[0] != room.ID {
		t.Errorf("deleted %v", d)
	}
}

// The fuzz targets feed arbitrary answers to each decoder of Kaleyra's
// responses: no panic, only a 502 or a valid result.
func fuzzProvider(f *testing.F) *Provider {
	p, err := New(Config{APIKey: "k", BaseURL: "http://127.0.0.1:1", NamingKey: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		f.Fatal(err)
	}
	return p
}

func check502(t *testing.T, err error) {
	if err != nil && tc.ErrorCode(err) != tc.EBADGATEWAY {
		t.Fatalf("code %s: %v", tc.ErrorCode(err), err)
	}
}

func FuzzDecodeRoom(f *testing.F) {
	f.Add([]byte(`{"room_id":"room_1","participants":[{"user_id":"a","link":"https://x.test/1"},{"user_id":"b","link":"https://x.test/2"}]}`))
	f.Add([]byte(`{"room_id":"room_1","participants":[{"user_id":"a","link":"javascript:x"}]}`))
	f.Add([]byte(`{"room_id":null}`))
	p := fuzzProvider(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		room, err := p.decodeRoom(&vendorhttp.Response{Status: 201, Body: body}, "create room", map[string]string{"a": "ext-a", "b": "ext-b"})
		check502(t, err)
		if err == nil && (!idRE.MatchString(room.ID) || len(room.Links) != 2 || !validLink(room.Links["ext-a"]) || !validLink(room.Links["ext-b"])) {
			t.Fatalf("accepted %+v", room)
		}
	})
}

func FuzzDecodeDetails(f *testing.F) {
	f.Add([]byte(`{"status":"NOT_RUNNING","duration_used_in_seconds":12,"live":true}`))
	f.Add([]byte(`{"status":"<script>","duration_used_in_seconds":-1}`))
	p := fuzzProvider(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := p.decodeDetails(&vendorhttp.Response{Status: 200, Body: body}, "get room")
		check502(t, err)
		if err == nil && (!wordRE.MatchString(d.Status) || d.DurationUsed != nil && *d.DurationUsed < 0) {
			t.Fatalf("accepted %+v", d)
		}
	})
}

func FuzzDecodeCredentials(f *testing.F) {
	f.Add([]byte(`{"access_token":"eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE5MDAwMDAwMDB9.sig"}`))
	f.Add([]byte(`{"access_token":""}`))
	p := fuzzProvider(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := p.decodeCredentials(&vendorhttp.Response{Status: 200, Body: body}, "create SDK credentials")
		check502(t, err)
		if err == nil && (tok == "" || strings.ContainsAny(tok, " \"\n")) {
			t.Fatalf("accepted %q", tok)
		}
		jwtExpiry(tok)
		jwtExpiry(string(body))
	})
}

func FuzzDecodeUploads(f *testing.F) {
	f.Add([]byte(`{"has_more":true,"uploads":[{"key":"k1"},{"key":"k2"}]}`))
	f.Add([]byte(`{"uploads":[{"key":"../x"}]}`))
	p := fuzzProvider(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		page, err := p.decodeUploads(&vendorhttp.Response{Status: 200, Body: body}, "list uploads")
		check502(t, err)
		for _, k := range page.keys {
			if !keyRE.MatchString(k) {
				t.Fatalf("accepted key %q", k)
			}
		}
	})
}

// Ensure the link a participant is sent on to carries the options Kaleyra
// documents: the participant's language (when Kaleyra's UI has it), name,
// START_AUDIO_OFF/START_VIDEO_OFF and the virtual background when asked
// (useBackground, or a group of groupsWithBackgroundList: the domain's
// Settings.Background), replacing options already there.
func TestLinkURL(t *testing.T) {
	const link = "https://acme.bandyer.com/eu/direct-rest-call-handler/abc123"
	settings := func(audioOff, videoOff bool) *tc.Settings {
		s := tc.DefaultSettings()
		s.StartAudioOff, s.StartVideoOff = audioOff, videoOff
		return &s
	}
	doctor := &tc.Participant{UserID: "d", Groups: []string{"doctor"}, FullName: "Dr. Anna Verdi", Language: "it"}
	tests := []struct {
		name string
		link string
		pt   *tc.Participant
		s    *tc.Settings
		bg   bool
		want string // the query, encoded
	}{
		{"defaults", link, doctor, settings(true, true), false,
			"audio_disabled=true&display_name=Dr.+Anna+Verdi&language=it&video_disabled=true"},
		{"audio and video on", link, doctor, settings(false, false), false,
			"audio_disabled=false&display_name=Dr.+Anna+Verdi&language=it&video_disabled=false"},
		{"background", link, doctor, settings(true, false), true,
			"audio_disabled=true&display_name=Dr.+Anna+Verdi&language=it&video_disabled=false&virtual_background=image"},
		{"a background in the link is replaced", link + "?vb=blur&virtual_background=blur", doctor, settings(true, true), false,
			"audio_disabled=true&display_name=Dr.+Anna+Verdi&language=it&video_disabled=true"},
		{"a region is cut", link, &tc.Participant{FullName: "Mario", Language: "en-GB"}, settings(true, true), false,
			"audio_disabled=true&display_name=Mario&language=en&video_disabled=true"},
		{"a language Kaleyra lacks is left to the company's default", link, &tc.Participant{FullName: "Ana", Language: "pt"}, settings(true, true), false,
			"audio_disabled=true&display_name=Ana&video_disabled=true"},
		{"no name, no display_name", link, &tc.Participant{}, settings(true, true), false,
			"audio_disabled=true&video_disabled=true"},
		{"names are encoded", link, &tc.Participant{FullName: "Zoë & Co=1?#x"}, settings(true, true), false,
			"audio_disabled=true&display_name=Zo%C3%AB+%26+Co%3D1%3F%23x&video_disabled=true"},
		{"options in the link are replaced, others kept", link + "?l=de&dn=x&ad=false&theme=dark&language=fr", doctor, settings(true, true), false,
			"audio_disabled=true&display_name=Dr.+Anna+Verdi&language=it&theme=dark&video_disabled=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LinkURL(tt.link, tt.pt, tt.s, tt.bg)
			if err != nil {
				t.Fatal(err)
			}
			base, query, _ := strings.Cut(got, "?")
			if base != link || query != tt.want {
				t.Errorf("LinkURL = %s\nwant    %s?%s", got, link, tt.want)
			}
		})
	}
	for _, bad := range []string{"http://acme.bandyer.com/x", "javascript:alert(1)", "https://user:pw@acme.bandyer.com/x", "/relative"} {
		if got, err := LinkURL(bad, doctor, settings(true, true), false); err == nil {
			t.Errorf("LinkURL(%q) = %q, want an error", bad, got)
		}
	}
	if got, err := LinkURL("http://127.0.0.1:9/eu/x", doctor, settings(true, true), true); err != nil || !strings.HasPrefix(got, "http://127.0.0.1:9/eu/x?") {
		t.Errorf("a loopback fake's link: %q, %v", got, err)
	}
}

// FuzzLinkURL feeds LinkURL links and names as Kaleyra and integrators
// might send them: it never panics, and a link it accepts comes back an
// http(s) link to the same place, with the name as display_name exactly
// once and the options it controls set once each.
func FuzzLinkURL(f *testing.F) {
	f.Add("https://acme.bandyer.com/eu/direct-rest-call-handler/abc", "Mario Rossi", "it", "doctor")
	f.Add("https://acme.bandyer.com/x?display_name=a&dn=b&l=de", "Zoë & Co=1?#x", "en-GB", "patient")
	f.Add("http://127.0.0.1:9/x#frag", "", "", "")
	f.Add("https://%zz", "\x00", "xx", "")
	f.Fuzz(func(t *testing.T, link, name, lang, group string) {
		s := tc.DefaultSettings()
		s.Config.GroupsWithBackgroundList = []string{"doctor"}
		pt := &tc.Participant{FullName: name, Language: lang, Groups: []string{group}}
		got, err := LinkURL(link, pt, &s, s.Background(pt, false))
		if err != nil {
			return
		}
		u, err := url.Parse(got)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
			t.Fatalf("LinkURL(%q) = %q: not an http(s) URL (%v)", link, got, err)
		}
		in, _ := url.Parse(link)
		if u.Host != in.Host || u.Path != in.Path {
			t.Fatalf("LinkURL(%q) = %q: another place", link, got)
		}
		q := u.Query()
		for _, k := range []string{"audio_disabled", "video_disabled"} {
			if len(q[k]) != 1 {
				t.Fatalf("LinkURL(%q) = %q: %s %v", link, got, k, q[k])
			}
		}
		if want := strings.TrimSpace(name); want != "" && (len(q["display_name"]) != 1 || q.Get("display_name") != want) && utf8.ValidString(want) {
			t.Fatalf("LinkURL(%q, %q) = %q: display_name %v", link, name, got, q["display_name"])
		}
		if q.Has("dn") || q.Has("l") || q.Has("ad") || q.Has("vd") || q.Has("vb") {
			t.Fatalf("LinkURL(%q) = %q: a short option left to contradict ours", link, got)
		}
		if (group == "doctor") != (q.Get("virtual_background") == "image") {
			t.Fatalf("groups %q: virtual_background %q", group, q.Get("virtual_background"))
		}
	})
}

// Ensure LIVE_TELECONSULTATION becomes the room's live flag, and that the
// room's details report the flag the room was made with.
func TestRoomLive(t *testing.T) {
	for _, live := range []bool{true, false} {
		t.Run(fmt.Sprint("live=", live), func(t *testing.T) {
			f := newFixture(t, time.Second)
			v := f.visit(t)
			s := settings(false)
			s.Live = live
			room, err := f.p.CreateRoom(ctx, v, s)
			if err != nil {
				t.Fatal(err)
			}
			if rm := f.fake.Rooms()[room.ID]; rm.Body["live"] != live || rm.Live != live {
				t.Errorf("room sent with live %v (%v), want %v", rm.Body["live"], rm.Live, live)
			}
			v.ProviderRoomID = room.ID
			if d, err := f.p.RoomDetails(ctx, v); err != nil || d.Live == nil || *d.Live != live {
				t.Errorf("details %+v %v, want live %v", d, err, live)
			}
		})
	}
}
