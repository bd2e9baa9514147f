package sfu

import (
	"strings"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// admitted sets up a call of a doctor and a patient let in from the
// waiting room, both sending media, and returns them once each receives
// the other's.
func (e *env) admitted(t *testing.T) (string, []string, *client, *client) {
	t.Helper()
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{})
	pat := e.dial(id, tokens[1], clientOptions{})
	pat.waitFor("waiting")
	pid := waitingList(doc.waitList(1))[0]["participantId"].(string)
	doc.send(map[string]any{"type": "admit", "participantId": pid})
	pat.welcome = pat.waitFor("welcome")
	doc.waitMedia(pat)
	pat.waitMedia(doc)
	return id, tokens, doc, pat
}

// flowing reports how many packets of from's source c received in the
// next 700 ms, after 300 ms for packets already on the way, on from's
// current track (after a reconnect the older one has stopped for good).
func (c *client) flowing(from, source string) int64 {
	time.Sleep(300 * time.Millisecond)
	n := c.packetsOfLatest(from, source)
	time.Sleep(700 * time.Millisecond)
	return c.packetsOfLatest(from, source) - n
}

// packetsOfLatest returns how many RTP packets c received on the track of
// from's source named by the latest tracks message.
func (c *client) packetsOfLatest(from, source string) int64 {
	id := c.trackOf(from, source)
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.received[id]; n != nil {
		return n.Load()
	}
	return 0
}

// moderationOf waits for the moderation message about pid with action act.
func (c *client) moderationOf(pid, act string) msg {
	c.tb.Helper()
	deadline := time.Now().Add(waitLong)
	for time.Now().Before(deadline) {
		if m := c.waitFor("moderation"); m.str("participantId") == pid && m.str("action") == act {
			return m
		}
	}
	c.tb.Fatalf("no moderation %s of %s in time", act, pid)
	return msg{}
}

// wantError waits for an error message and checks its text.
func (c *client) wantError(what, text string) {
	c.tb.Helper()
	if m := c.waitFor("error"); m.str("message") != text {
		c.tb.Errorf("%s: %s, want %q", what, m.raw, text)
	}
}

// Ensure a doctor's mute stops the forwarding of the patient's microphone
// (their camera goes on) until the doctor allows it again, that the
// patient and the doctor are told, that a reconnect does not lift it, and
// that camera off does the same for the camera.
func TestModerationMute(t *testing.T) {
	e := newEnv(t, withWaitingRoom, func(_ *teleconsult.Settings, c *Config) { c.Grace = time.Minute })
	id, tokens, doc, pat := e.admitted(t)
	mod := func(act string) {
		doc.send(map[string]any{"type": "moderate", "participantId": pat.pid(), "action": act})
	}

	mod("mute")
	if m := pat.moderationOf(pat.pid(), "mute"); m.m["muted"] != true || m.m["cameraOff"] != false {
		t.Errorf("the patient was told %s", m.raw)
	}
	doc.moderationOf(pat.pid(), "mute")
	if n := doc.flowing(pat.pid(), sourceMicrophone); n != 0 {
		t.Errorf("%d audio packets of the muted patient forwarded", n)
	}
	if n := doc.packetsFrom(pat.pid(), sourceCamera); n == 0 || doc.flowing(pat.pid(), sourceCamera) == 0 {
		t.Error("the muted patient's camera stopped too")
	}

	// The patient cannot lift it; a repeated mute changes nothing.
	pat.send(map[string]any{"type": "moderate", "participantId": pat.pid(), "action": "unmute"})
	pat.wantError("unmute by the patient", errNoModerate.Error())
	mod("mute")
	doc.wantError("a second mute", "this participant's microphone is already muted")

	// A reconnect within the grace keeps the mute and says so.
	pat.hangUp()
	e.waitDropped(id, pat.pid())
	pat = e.join(id, tokens[1], clientOptions{})
	if m := pat.moderationOf(pat.pid(), ""); m.m["muted"] != true {
		t.Errorf("after a reconnect the patient was told %s", m.raw)
	}
	waitUntil(t, "the patient's camera again", func() bool { return doc.packetsOfLatest(pat.pid(), sourceCamera) > 5 })
	if n := doc.flowing(pat.pid(), sourceMicrophone); n != 0 {
		t.Errorf("%d audio packets forwarded after a reconnect", n)
	}

	mod("unmute")
	if m := pat.moderationOf(pat.pid(), "unmute"); m.m["muted"] != false {
		t.Errorf("unmute told %s", m.raw)
	}
	if n := doc.flowing(pat.pid(), sourceMicrophone); n == 0 {
		t.Error("the patient's microphone is not forwarded after unmute")
	}
	mod("unmute")
	doc.wantError("a second unmute", "this participant's microphone is not muted")

	mod("camera-off")
	pat.moderationOf(pat.pid(), "camera-off")
	if n := doc.flowing(pat.pid(), sourceCamera); n != 0 {
		t.Errorf("%d video packets of a camera turned off forwarded", n)
	}
	if n := doc.flowing(pat.pid(), sourceMicrophone); n == 0 {
		t.Error("camera off stopped the microphone")
	}
	mod("camera-on")
	pat.moderationOf(pat.pid(), "camera-on")
	if n := doc.flowing(pat.pid(), sourceCamera); n == 0 {
		t.Error("the camera is not forwarded after camera-on")
	}
}

// Ensure moderation is refused clearly, changing nothing, from a role that
// does not admit, for oneself, for another doctor, for someone not in the
// call (another visit's, one who left), with a bad action, and when
// flooded.
func TestModerationBadInput(t *testing.T) {
	e := newEnv(t, withWaitingRoom)
	id, tokens, doc, pat := e.admitted(t)

	pat.send(map[string]any{"type": "moderate", "participantId": doc.pid(), "action": "mute"})
	pat.wantError("mute by the patient", errNoModerate.Error())
	for _, tt := range []struct {
		raw, want string
	}{
		{`{"type":"moderate","participantId":"` + doc.pid() + `","action":"mute"}`, "you cannot moderate yourself"},
		{`{"type":"moderate","participantId":"u_nobody","action":"remove"}`, errNotInCall.Error()},
		{`{"type":"moderate","participantId":"` + pat.pid() + `","action":"kick"}`, "invalid field: action must be one of mute, unmute, camera-off, camera-on, remove"},
		{`{"type":"moderate","participantId":"` + pat.pid() + `"}`, "missing field: action"},
		{`{"type":"moderate","participantId":"` + pat.pid() + `","action":"mute","room":"x"}`, "unknown field; expected type, participantId, action"},
	} {
		doc.sendRaw([]byte(tt.raw))
		doc.wantError(tt.raw, tt.want)
	}

	// Flooded (a fresh connection: refusals count as bad messages): past
	// the burst, refused.
	doc = e.join(id, tokens[0], clientOptions{noMedia: true})
	for range modBurst + 1 {
		doc.send(map[string]any{"type": "moderate", "participantId": "u_nobody", "action": "mute"})
	}
	for range modBurst {
		doc.wantError("within the burst", errNotInCall.Error())
	}
	doc.wantError("past the burst", errModFlood.Error())
	if n := len(pat.seen("moderation")); n != 0 {
		t.Errorf("the patient got %d moderation messages", n)
	}

	// One who waits is not in the call; nor is one who left (the LIVE
	// rule off, so that the call goes on).
	e2 := newEnv(t, withWaitingRoom, func(s *teleconsult.Settings, _ *Config) { s.Live = false })
	id2, tokens2 := e2.visit(2)
	d := e2.join(id2, tokens2[0], clientOptions{noMedia: true})
	p := e2.dial(id2, tokens2[1], clientOptions{noMedia: true})
	p.waitFor("waiting")
	pid := waitingList(d.waitList(1))[0]["participantId"].(string)
	d.send(map[string]any{"type": "moderate", "participantId": pid, "action": "mute"})
	d.wantError("mute of one who waits", errNotInCall.Error())
	d.send(map[string]any{"type": "admit", "participantId": pid})
	p.welcome = p.waitFor("welcome")
	p.send(map[string]any{"type": "leave"})
	p.waitEnd()
	d.waitFor("peer-left")
	d.send(map[string]any{"type": "moderate", "participantId": pid, "action": "mute"})
	d.wantError("mute of one who left", errNotInCall.Error())
}

// Ensure removal ends the patient's call with removed and 4403, that the
// doctor sees them go, that the patient's next connection waits (auto-admit
// does not let them back) and is listed in WaitingFor, and that the doctor
// lets them in again.
func TestModerationRemove(t *testing.T) {
	e := newEnv(t, withWaitingRoom)
	id, tokens, doc, pat := e.admitted(t)
	patPID := pat.pid()
	doc.send(map[string]any{"type": "auto-admit", "on": true})
	e.clock.Set(start.Add(time.Minute))
	doc.send(map[string]any{"type": "moderate", "participantId": patPID, "action": "remove"})
	if reason, code := pat.waitEnd(); reason != "removed" || code != closeForbidden {
		t.Errorf("removed: end %q, close %d", reason, code)
	}
	if m := doc.waitFor("peer-left"); m.str("participantId") != patPID {
		t.Errorf("peer-left %s", m.raw)
	}
	doc.send(map[string]any{"type": "moderate", "participantId": patPID, "action": "remove"})
	doc.wantError("a second removal", errNotInCall.Error())

	again := e.dial(id, tokens[1], clientOptions{})
	again.waitFor("waiting")
	doc.waitList(1)
	e.tick()
	if n := len(again.seen("welcome")); n != 0 {
		t.Fatal("auto-admit let a removed participant back in")
	}
	if w := e.prov.WaitingFor(id); len(w) != 1 || w[0].ParticipantID != patPID || !w[0].Since.Equal(start.Add(time.Minute)) {
		t.Errorf("WaitingFor = %+v", w)
	}
	if w := e.prov.WaitingFor("another"); w == nil || len(w) != 0 {
		t.Errorf("WaitingFor of another visit = %#v", w)
	}
	doc.send(map[string]any{"type": "admit", "participantId": patPID})
	again.welcome = again.waitFor("welcome")
	doc.waitMedia(again)
	if strings.Contains(e.logs.String(), "Mario Rossi") {
		t.Error("a display name reached the logs")
	}
}

// Ensure a removed participant whose role does not wait (privileges
// basic.waits false) waits all the same when they come back, and is let
// in by the doctor.
func TestModerationRemoveOneWhoDoesNotWait(t *testing.T) {
	no := false
	e := newEnv(t, withWaitingRoom, func(s *teleconsult.Settings, _ *Config) { s.Config.Privileges.Basic.Waits = &no })
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true, raw: true})
	doc.waitFor("peer-joined")
	doc.send(map[string]any{"type": "moderate", "participantId": pat.pid(), "action": "remove"})
	if reason, _ := pat.waitEnd(); reason != "removed" {
		t.Errorf("end %q", reason)
	}
	again := e.dial(id, tokens[1], clientOptions{raw: true})
	again.waitFor("waiting")
	doc.send(map[string]any{"type": "admit", "participantId": pat.pid()})
	again.welcome = again.waitFor("welcome")
	if again.pid() != pat.pid() {
		t.Errorf("welcomed %s", again.pid())
	}
}
