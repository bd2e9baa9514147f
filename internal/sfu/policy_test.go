package sfu

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// withoutTools takes tools from the basic role (the patients).
func withoutTools(mod func(*teleconsult.Tools)) envOption {
	return func(s *teleconsult.Settings, _ *Config) { mod(&s.Config.Privileges.Basic.Tools) }
}

// Without screen_sharing no screen transceiver is offered, so a screen
// track has nowhere to go; with it the screen is forwarded and labelled.
func TestScreenSharingNeedsTheTool(t *testing.T) {
	e := newEnv(t, withoutTools(func(t *teleconsult.Tools) { t.ScreenSharing = false }))
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{screen: true})
	pat := e.join(id, tokens[1], clientOptions{screen: true})
	if doc.welcome.m["tools"].(map[string]any)["screen_sharing"] != true || pat.welcome.m["tools"].(map[string]any)["screen_sharing"] != false {
		t.Fatalf("tools: doctor %v, patient %v", doc.welcome.m["tools"], pat.welcome.m["tools"])
	}
	pat.waitMedia(doc)
	doc.waitMedia(pat)
	waitUntil(t, "the doctor's screen at the patient", func() bool { return pat.packetsFrom(doc.pid(), sourceScreen) > 5 })

	recvonly := func(c *client) int {
		c.mu.Lock()
		defer c.mu.Unlock()
		n := 0
		for _, m := range c.all {
			if m.Type == "offer" {
				n = strings.Count(m.str("sdp"), "a=recvonly")
			}
		}
		return n
	}
	if got := recvonly(doc); got != 3 {
		t.Errorf("doctor's offer has %d receiving sections, want 3 (microphone, camera, screen)", got)
	}
	if got := recvonly(pat); got != 2 {
		t.Errorf("patient's offer has %d receiving sections, want 2 (no screen)", got)
	}
	for _, m := range doc.seen("tracks") {
		for _, x := range m.m["tracks"].([]any) {
			if tr := x.(map[string]any); tr["participantId"] == pat.pid() && tr["source"] == sourceScreen {
				t.Errorf("the patient's screen was forwarded: %v", tr)
			}
		}
	}
	doc.mu.Lock()
	tracks := len(doc.received)
	doc.mu.Unlock()
	if tracks != 2 {
		t.Errorf("doctor receives %d tracks, want the patient's 2", tracks)
	}
}

// An answer that would send on a transceiver the server only sends on is
// refused with an error; the call goes on.
func TestAnswerSendingOnForwardedTrackRefused(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{})
	// The patient turns every receiving section of its answers (the
	// server's sendonly ones) into sendrecv.
	pat := e.join(id, tokens[1], clientOptions{mangleAnswer: func(s string) string {
		return strings.ReplaceAll(s, "a=recvonly", "a=sendrecv")
	}})
	waitUntil(t, "the doctor's tracks offered to the patient", func() bool { return len(pat.seen("tracks")) > 1 })
	m := pat.waitFor("error")
	if !strings.Contains(m.str("message"), "not allowed") {
		t.Errorf("error = %s", m.raw)
	}
	doc.waitMedia(pat) // the patient's own media still reaches the doctor
}

// Chat is relayed to everyone with the sender's own id and name; without
// the tool the sender alone gets an error. Messages naming a sender or a
// room are refused.
func TestChat(t *testing.T) {
	e := newEnv(t, withoutTools(func(t *teleconsult.Tools) { t.Chat = false }))
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})

	doc.send(map[string]any{"type": "chat", "text": "Buongiorno"})
	for _, c := range []*client{doc, pat} {
		m := c.waitFor("chat")
		if m.str("from") != doc.pid() || m.str("name") != "Dr. Anna Verdi" || m.str("text") != "Buongiorno" || m.str("at") != "2026-11-23T09:55:00Z" {
			t.Errorf("chat = %s", m.raw)
		}
	}

	pat.send(map[string]any{"type": "chat", "text": "hello"})
	if m := pat.waitFor("error"); m.str("message") != "chat is not allowed for you" {
		t.Errorf("error = %s", m.raw)
	}
	for _, bad := range []string{
		`{"type":"chat","text":"x","from":"u_someone"}`,
		`{"type":"chat","text":"x","teleconsultationId":"another"}`,
		`{"type":"chat","text":""}`,
		`{"type":"chat","text":"` + strings.Repeat("x", 2001) + `"}`,
	} {
		doc.sendRaw([]byte(bad))
		if m := doc.waitFor("error"); m.str("message") == "" {
			t.Errorf("%s: error = %s", bad, m.raw)
		}
	}
	doc.send(map[string]any{"type": "ping"})
	doc.waitFor("pong")
	if n := len(pat.seen("chat")); n != 1 {
		t.Errorf("patient saw %d chat messages, want 1", n)
	}
}

// The newer connection of a participant wins; the older gets
// end{replaced} and 4410, and the others see no one leave.
func TestSecondConnectionWins(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{})
	first := e.join(id, tokens[1], clientOptions{})
	doc.waitMedia(first)
	second := e.join(id, tokens[1], clientOptions{})
	if reason, code := first.waitEnd(); reason != endReplaced || code != closeGone {
		t.Errorf("older connection: end %q, close %d", reason, code)
	}
	if second.pid() != first.pid() {
		t.Fatal("not the same participant")
	}
	second.waitMedia(doc)
	waitUntil(t, "the new connection's media", func() bool { return doc.packetsFrom(second.pid(), sourceCamera) > 0 })
	if left := doc.seen("peer-left"); len(left) != 0 {
		t.Errorf("peer-left on replacement: %v", left[0].raw)
	}
	if e.state(id) != teleconsult.StateInProgress {
		t.Errorf("state %s", e.state(id))
	}
}

// Cancelling the teleconsultation disconnects everyone at once; the links
// are dead afterwards.
func TestDeleteRoomDisconnects(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})
	begin := time.Now()
	if err := e.svc.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{doc, pat} {
		if reason, code := c.waitEnd(); reason != endCancelled || code != closeGone {
			t.Errorf("end %q, close %d", reason, code)
		}
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("disconnected after %v", d)
	}
	again := e.dial(id, tokens[0], clientOptions{raw: true})
	if reason, code := again.waitEnd(); reason != endCancelled || code != closeGone {
		t.Errorf("reconnect: end %q, close %d", reason, code)
	}
}

// A cancellation made through another replica (another Service and
// provider over the same store) reaches the call at the next recheck.
func TestRevocationThroughAnotherReplica(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})
	other, err := NewProvider(nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	replica := *e.svc
	replica.Provider = other
	if err := replica.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	e.tick()
	for _, c := range []*client{doc, pat} {
		if reason, code := c.waitEnd(); reason != endCancelled || code != closeGone {
			t.Errorf("end %q, close %d", reason, code)
		}
	}
}

// With a limited window everyone is warned a minute before the end and
// ejected at the end; the call is recorded as ended.
func TestWindowEndWarnsThenEjects(t *testing.T) {
	e := newEnv(t, func(s *teleconsult.Settings, _ *Config) { s.Unlimited = false })
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})
	if doc.welcome.m["window"].(map[string]any)["limited"] != true {
		t.Errorf("window = %v", doc.welcome.m["window"])
	}
	end := start.Add(30 * time.Minute)

	e.clock.Set(end.Add(-61 * time.Second))
	e.tick()
	doc.send(map[string]any{"type": "ping"})
	doc.waitFor("pong")
	if w := doc.seen("warning"); len(w) != 0 {
		t.Fatalf("warned too early: %s", w[0].raw)
	}

	e.clock.Set(end.Add(-60 * time.Second))
	e.tick()
	for _, c := range []*client{doc, pat} {
		m := c.waitFor("warning")
		if m.str("reason") != "ending" || m.str("endsAt") != "2026-11-23T10:30:00.000Z" || m.m["secondsLeft"] != float64(60) {
			t.Errorf("warning = %s", m.raw)
		}
	}
	e.tick()
	doc.send(map[string]any{"type": "ping"})
	doc.waitFor("pong")
	if n := len(doc.seen("warning")); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}

	e.clock.Set(end)
	e.tick()
	for _, c := range []*client{doc, pat} {
		if reason, code := c.waitEnd(); reason != endExpired || code != closeGone {
			t.Errorf("end %q, close %d", reason, code)
		}
	}
	e.waitState(id, teleconsult.StateEnded)
}

// With LIVE_TELECONSULTATION, a participant leaving ends the call for the
// other, who may come back while the window is open.
func TestLiveRuleEndsCall(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})
	e.waitState(id, teleconsult.StateInProgress)

	pat.send(map[string]any{"type": "leave"})
	if reason, code := pat.waitEnd(); reason != endLeft || code != websocket.StatusNormalClosure {
		t.Errorf("leaver: end %q, close %d", reason, code)
	}
	if m := doc.waitFor("peer-left"); m.str("participantId") != pat.pid() {
		t.Errorf("peer-left = %s", m.raw)
	}
	if reason, code := doc.waitEnd(); reason != endCallEnded || code != websocket.StatusNormalClosure {
		t.Errorf("other: end %q, close %d", reason, code)
	}
	e.waitState(id, teleconsult.StateEnded)

	back := e.join(id, tokens[0], clientOptions{noMedia: true})
	if back.pid() != doc.pid() {
		t.Error("another participant came back")
	}
	e.waitState(id, teleconsult.StateInProgress)
}

// A dropped connection counts as leaving only after the grace period; a
// reconnection within it is not a leave.
func TestDroppedConnectionGrace(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})

	pat.hangUp()
	e.waitDropped(id, pat.pid())
	e.clock.Set(e.clock.Now().Add(4 * time.Second))
	e.tick()
	pat = e.join(id, tokens[1], clientOptions{noMedia: true})
	e.clock.Set(e.clock.Now().Add(10 * time.Second))
	e.tick()
	doc.send(map[string]any{"type": "ping"})
	doc.waitFor("pong")
	if left := doc.seen("peer-left"); len(left) != 0 {
		t.Fatalf("peer-left within the grace: %s", left[0].raw)
	}

	pat.hangUp()
	e.waitDropped(id, pat.pid())
	e.clock.Set(e.clock.Now().Add(5 * time.Second))
	e.tick()
	if m := doc.waitFor("peer-left"); m.str("participantId") != pat.pid() {
		t.Errorf("peer-left = %s", m.raw)
	}
	if reason, _ := doc.waitEnd(); reason != endCallEnded {
		t.Errorf("end %q", reason)
	}
	e.waitState(id, teleconsult.StateEnded)
}

// Without the LIVE rule the call goes on until the last one leaves.
func TestWithoutLiveCallEndsWithLastOne(t *testing.T) {
	e := newEnv(t, func(s *teleconsult.Settings, _ *Config) { s.Live = false })
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})
	pat.send(map[string]any{"type": "leave"})
	doc.waitFor("peer-left")
	doc.send(map[string]any{"type": "ping"})
	doc.waitFor("pong")
	if e.state(id) != teleconsult.StateInProgress {
		t.Errorf("state %s while the doctor is in", e.state(id))
	}
	doc.send(map[string]any{"type": "leave"})
	doc.waitEnd()
	e.waitState(id, teleconsult.StateEnded)
}

// Announce reaches everyone in the teleconsultation's call.
func TestAnnounce(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})
	e.prov.Announce(id, map[string]any{"type": "upload", "from": doc.pid(), "file": map[string]any{"id": "f1", "size": 3}})
	e.prov.Announce("another-visit", map[string]any{"type": "upload"})
	for _, c := range []*client{doc, pat} {
		if m := c.waitFor("upload"); m.str("from") != doc.pid() {
			t.Errorf("upload = %s", m.raw)
		}
	}
}

// Refusals at connect: each with its end reason and close code, before
// anything else is sent.
func TestConnectRefusals(t *testing.T) {
	e := newEnv(t, func(_ *teleconsult.Settings, c *Config) { c.AuthTimeout = 300 * time.Millisecond })
	id, tokens := e.visit(2)
	otherID, otherTokens := e.visit(2)
	_ = otherID
	expiredID, expiredTokens := e.visit(2)
	user, err := e.svc.Credentials(context.Background(), "doc-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, id string
		first    string
		reason   string
		code     websocket.StatusCode
	}{
		{"forged token", id, `{"type":"auth","token":"eyJhbGciOiJIUzI1NiJ9.e30.forged"}`, endUnauthorized, closeUnauthorized},
		{"empty token", id, `{"type":"auth","token":""}`, endUnauthorized, closeUnauthorized},
		{"not auth first", id, `{"type":"ping"}`, endUnauthorized, closeUnauthorized},
		{"malformed first", id, `{"type":`, endUnauthorized, closeUnauthorized},
		{"no auth in time", id, "", endUnauthorized, closeUnauthorized},
		{"token of another visit", id, `{"type":"auth","token":"` + otherTokens[0] + `"}`, endForbidden, closeForbidden},
		{"user token, not yet open", "", `{"type":"auth","token":"` + user.AccessToken + `"}`, endForbidden, closeForbidden},
		{"expired token", expiredID, "expired", endUnauthorized, closeUnauthorized},
	}
	// A visit of the user's, opening tomorrow.
	in := teleconsult.CreateInput{StartDate: start.Add(24 * time.Hour), Duration: ptr(30 * time.Minute), Number: 2,
		Participants: []teleconsult.ParticipantInput{{UserID: "doc-1", Groups: []string{"doctor"}, FullName: "A"},
			{UserID: "pat-9", Groups: []string{"patient"}, FullName: "B"}}}
	later, err := e.svc.Create(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			vid := tt.id
			if vid == "" {
				vid = later
			}
			first := tt.first
			if first == "expired" {
				e.clock.Set(start.Add(11 * time.Minute)) // the 15-minute session is over
				defer e.clock.Set(start.Add(-5 * time.Minute))
				first = `{"type":"auth","token":"` + expiredTokens[0] + `"}`
			}
			c := e.dial(vid, "", clientOptions{raw: true})
			if first != "" {
				c.sendRaw([]byte(first))
			}
			reason, code := c.waitEnd()
			if reason != tt.reason || code != tt.code {
				t.Errorf("end %q, close %d; want %q, %d", reason, code, tt.reason, tt.code)
			}
			if n := len(c.seen("welcome")); n != 0 {
				t.Error("welcomed")
			}
		})
	}
	// The refused attempts left the real participants' call alone.
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	e.join(id, tokens[1], clientOptions{noMedia: true})
	doc.waitFor("peer-joined")
}

// A room takes no more participants than expected.
func TestRoomFull(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(3)
	tc, err := e.store.FindByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	tc.ExpectedParticipants = 2
	if err := e.store.Apply(context.Background(), teleconsult.Change{Update: []*teleconsult.Teleconsultation{tc}}); err != nil {
		t.Fatal(err)
	}
	e.join(id, tokens[0], clientOptions{noMedia: true})
	e.join(id, tokens[1], clientOptions{noMedia: true})
	third := e.dial(id, tokens[2], clientOptions{raw: true})
	if reason, code := third.waitEnd(); reason != endFull || code != closeForbidden {
		t.Errorf("end %q, close %d", reason, code)
	}
}

// Bad messages get an error and leave the call alone; too many close the
// connection with 1008, an oversized frame with 1009.
func TestBadMessages(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})

	bad := []string{
		`not json`,
		`{"type":"chat","text":"a"} trailing`,
		`[1,2]`,
		`{"type":"teleport"}`,
		`{"type":"chat","text":"a","extra":1}`,
		`{"type":"chat","text":"a","text":"b"}`,
		`{"type":"present"}`,
		`{"type":"offer","sdp":"v=0"}`,
		`{"type":"answer","sdp":"v=0"}`,
		`{"Type":"ping"}`,
	}
	for _, b := range bad {
		pat.sendRaw([]byte(b))
		if m := pat.waitFor("error"); m.str("message") == "" {
			t.Errorf("%s: %s", b, m.raw)
		}
	}
	// The call is unaffected.
	doc.send(map[string]any{"type": "chat", "text": "still here"})
	pat.waitFor("chat")

	pat.sendRaw([]byte(`{"type":"nope"}`))
	if reason, code := pat.waitEnd(); reason != endPolicy || code != websocket.StatusPolicyViolation {
		t.Errorf("end %q, close %d", reason, code)
	}

	big := e.join(id, tokens[1], clientOptions{noMedia: true})
	big.sendRaw([]byte(`{"type":"chat","text":"` + strings.Repeat("x", MaxMessageBytes) + `"}`))
	if m := big.waitFor("error"); !strings.Contains(m.str("message"), "too large") {
		t.Errorf("error = %s", m.raw)
	}
	if reason, code := big.waitEnd(); reason != endTooLarge || code != websocket.StatusMessageTooBig {
		t.Errorf("end %q, close %d", reason, code)
	}
	doc.send(map[string]any{"type": "ping"})
	doc.waitFor("pong")
}

// A flood is cut short: rate-limited, then closed as abuse.
func TestFlood(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})
	for range 500 {
		pat.sendRaw([]byte(`{"type":"ping"}`))
	}
	if reason, code := pat.waitEnd(); reason != endPolicy || code != websocket.StatusPolicyViolation {
		t.Errorf("end %q, close %d", reason, code)
	}
	doc.send(map[string]any{"type": "ping"})
	doc.waitFor("pong")
}
