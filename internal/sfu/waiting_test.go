package sfu

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

func withWaitingRoom(s *teleconsult.Settings, _ *Config) { s.WaitingRoom = true }

// waitings records Service.ParticipantWaiting.
type waitings struct {
	mu  sync.Mutex
	got []teleconsult.WaitingEvent
}

func (w *waitings) ParticipantWaiting(_ context.Context, e teleconsult.WaitingEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, e)
}

func (w *waitings) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.got)
}

// waitingList returns the entries of a waiting-list message.
func waitingList(m msg) []map[string]any {
	var out []map[string]any
	list, _ := m.m["waiting"].([]any)
	for _, x := range list {
		out = append(out, x.(map[string]any))
	}
	return out
}

// waitList skips waiting-list messages until one with n entries.
func (c *client) waitList(n int) msg {
	c.tb.Helper()
	deadline := time.Now().Add(waitLong)
	for time.Now().Before(deadline) {
		if m := c.waitFor("waiting-list"); len(waitingList(m)) == n {
			return m
		}
	}
	c.tb.Fatalf("no waiting-list of %d in time", n)
	return msg{}
}

// waitStatus skips waiting messages until one whose host is host.
func (c *client) waitStatus(host string) msg {
	c.tb.Helper()
	deadline := time.Now().Add(waitLong)
	for time.Now().Before(deadline) {
		if m := c.waitFor("waiting"); m.str("host") == host {
			return m
		}
	}
	c.tb.Fatalf("no waiting message with host %s in time", host)
	return msg{}
}

// Ensure a patient in the waiting room is held: no welcome, no offer, no
// chat, no names; every message but leave and ping refused, join and
// offer included; the doctor sees them waiting (name, since) and admits
// them; then both are in the call with media both ways.
func TestWaitingRoomHoldsUntilAdmitted(t *testing.T) {
	e := newEnv(t, withWaitingRoom)
	hook := &waitings{}
	e.svc.Waiting = hook
	id, tokens := e.visit(2)

	pat := e.dial(id, tokens[1], clientOptions{})
	w := pat.waitFor("waiting")
	if w.str("host") != "not-connected" || w.m["told"] != false || w.str("since") != "2026-11-23T09:55:00.000Z" ||
		w.str("estimatedStart") != "2026-11-23T10:00:00.000Z" || w.m["window"].(map[string]any)["startDate"] != "2026-11-23T10:00:00.000Z" {
		t.Errorf("waiting = %s", w.raw)
	}
	for _, raw := range []string{
		`{"type":"join"}`,
		`{"type":"offer","sdp":"v=0"}`,
		`{"type":"answer","sdp":"v=0"}`,
		`{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}}`,
		`{"type":"chat","text":"hello?"}`,
		`{"type":"present","on":true}`,
		`{"type":"admit","participantId":"u_me"}`,
		`{"type":"auto-admit","on":true}`,
	} {
		pat.sendRaw([]byte(raw))
		if m := pat.waitFor("error"); m.str("message") != "you are in the waiting room: wait to be let in" {
			t.Errorf("%s: %s", raw, m.raw)
		}
	}
	pat.send(map[string]any{"type": "ping"})
	pat.waitFor("pong")

	doc := e.join(id, tokens[0], clientOptions{})
	if peers := doc.welcome.m["peers"].([]any); len(peers) != 0 {
		t.Errorf("the doctor's peers list the waiting patient: %v", peers)
	}
	list := waitingList(doc.waitList(1))
	if list[0]["name"] != "Mario Rossi 1" || list[0]["since"] != "2026-11-23T09:55:00.000Z" || !strings.HasPrefix(list[0]["participantId"].(string), "u_") {
		t.Errorf("waiting list = %v", list)
	}
	patPID := list[0]["participantId"].(string)
	if w := pat.waitStatus("in-call"); w.m["told"] != true {
		t.Errorf("waiting after the doctor joined = %s", w.raw)
	}
	doc.send(map[string]any{"type": "chat", "text": "Un momento"})
	doc.waitFor("chat")
	pat.send(map[string]any{"type": "ping"})
	pat.waitFor("pong")
	for _, typ := range []string{"welcome", "offer", "tracks", "candidate", "chat", "peer-joined"} {
		if n := len(pat.seen(typ)); n != 0 {
			t.Errorf("the waiting patient got %d %s messages", n, typ)
		}
	}
	if n := len(doc.seen("peer-joined")); n != 0 {
		t.Error("a waiting patient joined the call")
	}

	doc.send(map[string]any{"type": "admit", "participantId": patPID})
	pat.welcome = pat.waitFor("welcome")
	if pat.pid() != patPID {
		t.Errorf("admitted %s, welcomed %s", patPID, pat.pid())
	}
	if peers := pat.welcome.m["peers"].([]any); len(peers) != 1 || peers[0].(map[string]any)["name"] != "Dr. Anna Verdi" {
		t.Errorf("the admitted patient's peers = %v", peers)
	}
	doc.waitList(0)
	doc.waitMedia(pat)
	pat.waitMedia(doc)

	// Repeated, unknown, or from a role that does not admit: an error.
	doc.send(map[string]any{"type": "admit", "participantId": patPID})
	if m := doc.waitFor("error"); m.str("message") != errNotWaiting.Error() {
		t.Errorf("second admit: %s", m.raw)
	}
	doc.send(map[string]any{"type": "decline", "participantId": "u_nobody"})
	if m := doc.waitFor("error"); m.str("message") != errNotWaiting.Error() {
		t.Errorf("decline of nobody: %s", m.raw)
	}
	pat.send(map[string]any{"type": "admit", "participantId": doc.pid()})
	if m := pat.waitFor("error"); m.str("message") != errNoAdmit.Error() {
		t.Errorf("admit by the patient: %s", m.raw)
	}
	pat.send(map[string]any{"type": "join"})
	if m := pat.waitFor("error"); m.str("message") != "already in the call" {
		t.Errorf("join in the call: %s", m.raw)
	}
	if n := hook.count(); n != 1 {
		t.Errorf("ParticipantWaiting called %d times, want 1", n)
	}
	if strings.Contains(e.logs.String(), "Mario Rossi") {
		t.Error("a display name reached the logs")
	}
}

// Ensure a decline ends the waiting connection with declined and 4403;
// the patient may open the link again and waits anew. A cancellation
// reaches the waiting room too.
func TestWaitingRoomDecline(t *testing.T) {
	e := newEnv(t, withWaitingRoom)
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.dial(id, tokens[1], clientOptions{raw: true})
	pat.waitFor("waiting")
	patPID := waitingList(doc.waitList(1))[0]["participantId"].(string)
	doc.send(map[string]any{"type": "decline", "participantId": patPID})
	if reason, code := pat.waitEnd(); reason != "declined" || code != closeForbidden {
		t.Errorf("declined: end %q, close %d", reason, code)
	}
	doc.waitList(0)

	again := e.dial(id, tokens[1], clientOptions{raw: true})
	again.waitFor("waiting")
	doc.waitList(1)
	if err := e.svc.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if reason, code := again.waitEnd(); reason != endCancelled || code != closeGone {
		t.Errorf("cancelled while waiting: end %q, close %d", reason, code)
	}
}

// Ensure the place in the waiting room survives a reload or a network
// drop within the waiting grace (same since, no new waiting event), and
// is given up after it.
func TestWaitingPlaceSurvivesReconnect(t *testing.T) {
	e := newEnv(t, withWaitingRoom, func(_ *teleconsult.Settings, c *Config) { c.WaitingGrace = time.Minute })
	hook := &waitings{}
	e.svc.Waiting = hook
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.dial(id, tokens[1], clientOptions{raw: true})
	pat.waitFor("waiting")
	doc.waitList(1)

	pat.hangUp()
	e.waitWaitingDropped(id)
	e.clock.Set(e.clock.Now().Add(50 * time.Second))
	e.tick()
	pat = e.dial(id, tokens[1], clientOptions{raw: true})
	if w := pat.waitFor("waiting"); w.str("since") != "2026-11-23T09:55:00.000Z" {
		t.Errorf("since after a reconnect = %s", w.raw)
	}
	if list := waitingList(doc.waitList(1)); list[0]["since"] != "2026-11-23T09:55:00.000Z" {
		t.Errorf("list after a reconnect = %v", list)
	}
	if n := hook.count(); n != 1 {
		t.Errorf("ParticipantWaiting called %d times, want 1", n)
	}

	pat.hangUp()
	e.waitWaitingDropped(id)
	e.clock.Set(e.clock.Now().Add(59 * time.Second))
	e.tick()
	doc.send(map[string]any{"type": "ping"})
	doc.waitFor("pong")
	if last := doc.seen("waiting-list"); len(waitingList(last[len(last)-1])) != 1 {
		t.Error("the place was given up within the grace")
	}
	e.clock.Set(e.clock.Now().Add(time.Second))
	e.tick()
	doc.waitList(0)
}

// waitWaitingDropped waits until the server has seen the connection of
// the one participant waiting in id's room drop.
func (e *env) waitWaitingDropped(id string) {
	e.t.Helper()
	waitUntil(e.t, "the server to see the drop", func() bool {
		e.prov.mu.Lock()
		defer e.prov.mu.Unlock()
		for k, r := range e.prov.rooms {
			if k.tc != id {
				continue
			}
			r.mu.Lock()
			dropped := false
			for _, w := range r.waiting {
				dropped = dropped || w.conn == nil
			}
			r.mu.Unlock()
			if dropped {
				return true
			}
		}
		return false
	})
}

// Ensure the doctor can watch the waiting room before joining (auth with
// lobby), that the patient is told the doctor's state and how late they
// are, and that "admit automatically from the appointment start" lets the
// patient in at the start, not before.
func TestWaitingLobbyAndAutoAdmit(t *testing.T) {
	e := newEnv(t, withWaitingRoom)
	id, tokens := e.visit(2)
	pat := e.dial(id, tokens[1], clientOptions{noMedia: true})
	pat.waitFor("waiting")

	doc := e.dial(id, "", clientOptions{noMedia: true})
	doc.send(map[string]any{"type": "auth", "token": tokens[0], "lobby": true})
	doc.waitList(1)
	if w := pat.waitStatus("connected"); w.m["told"] != true {
		t.Errorf("waiting with the doctor on the pre-join screen = %s", w.raw)
	}
	doc.send(map[string]any{"type": "chat", "text": "x"})
	if m := doc.waitFor("error"); m.str("message") != "join the call first" {
		t.Errorf("chat before joining: %s", m.raw)
	}
	doc.send(map[string]any{"type": "auto-admit", "on": true})
	if m := doc.waitFor("waiting-list"); m.m["autoAdmit"] != true {
		t.Errorf("after auto-admit on: %s", m.raw)
	}
	e.tick()
	if n := len(pat.seen("welcome")); n != 0 {
		t.Fatal("admitted automatically before the start")
	}

	// The doctor goes; at the start nobody is there and the patient waits.
	doc.close()
	pat.waitStatus("not-connected")
	doc = e.dial(id, "", clientOptions{noMedia: true})
	doc.send(map[string]any{"type": "auth", "token": tokens[0], "lobby": true})
	if m := doc.waitList(1); m.m["autoAdmit"] != false {
		t.Errorf("auto-admit outlived the doctors: %s", m.raw)
	}
	e.clock.Set(start.Add(7*time.Minute + 10*time.Second))
	e.tick()
	var late msg
	for late = pat.waitFor("waiting"); late.m["lateMinutes"] == float64(0); late = pat.waitFor("waiting") {
	}
	if late.m["lateMinutes"] != float64(7) || late.str("host") != "connected" || late.str("estimatedStart") != "2026-11-23T10:07:10.000Z" {
		t.Errorf("7 minutes late = %s", late.raw)
	}
	doc.send(map[string]any{"type": "auto-admit", "on": true})
	pat.welcome = pat.waitFor("welcome")
	doc.send(map[string]any{"type": "join"})
	doc.welcome = doc.waitFor("welcome")
	if peers := doc.welcome.m["peers"].([]any); len(peers) != 1 {
		t.Errorf("doctor's peers after joining = %v", peers)
	}
}

// Ensure that with WAITING_ROOM off nobody waits and nobody admits.
func TestWaitingRoomOff(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	doc.send(map[string]any{"type": "admit", "participantId": pat.pid()})
	if m := doc.waitFor("error"); m.str("message") != errNoAdmit.Error() {
		t.Errorf("admit with the waiting room off: %s", m.raw)
	}
	doc.send(map[string]any{"type": "auto-admit", "on": true})
	if m := doc.waitFor("error"); m.str("message") != errNoAdmit.Error() {
		t.Errorf("auto-admit with the waiting room off: %s", m.raw)
	}
	for _, c := range []*client{doc, pat} {
		if n := len(c.seen("waiting")) + len(c.seen("waiting-list")); n != 0 {
			t.Errorf("waiting room messages with the room off: %d", n)
		}
	}
}

// Ensure leave gives the place up at once: the doctor's list empties and
// the socket closes normally.
func TestWaitingRoomLeave(t *testing.T) {
	e := newEnv(t, withWaitingRoom)
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.dial(id, tokens[1], clientOptions{raw: true})
	pat.waitFor("waiting")
	doc.waitList(1)
	pat.send(map[string]any{"type": "leave"})
	if reason, code := pat.waitEnd(); reason != endLeft || code != 1000 {
		t.Errorf("leave while waiting: end %q, close %d", reason, code)
	}
	doc.waitList(0)
}
