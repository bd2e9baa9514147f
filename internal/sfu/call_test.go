package sfu

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Two participants exchange Opus and VP8 through the SFU and each receives
// the other's RTP; the call is recorded as started.
func TestCallForwardsMedia(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{})
	pat := e.join(id, tokens[1], clientOptions{})

	w := doc.welcome
	if w.str("name") != "Dr. Anna Verdi" || w.str("role") != "plus" || !strings.HasPrefix(w.str("participantId"), "u_") {
		t.Errorf("doctor's welcome = %s", w.raw)
	}
	if w.m["startAudioOff"] != true || w.m["startVideoOff"] != true {
		t.Errorf("welcome start flags = %s", w.raw)
	}
	if peers := w.m["peers"].([]any); len(peers) != 0 {
		t.Errorf("first participant's peers = %v", peers)
	}
	if servers := w.m["iceServers"].([]any); len(servers) != 0 {
		t.Errorf("iceServers = %v, want none configured", servers)
	}
	win := w.m["window"].(map[string]any)
	if win["startDate"] != "2026-11-23T10:00:00.000Z" || win["endDate"] != "2026-11-23T10:30:00.000Z" || win["limited"] != false {
		t.Errorf("window = %v", win)
	}
	peers := pat.welcome.m["peers"].([]any)
	if len(peers) != 1 || peers[0].(map[string]any)["participantId"] != doc.pid() || peers[0].(map[string]any)["name"] != "Dr. Anna Verdi" {
		t.Errorf("patient's peers = %v", peers)
	}
	if j := doc.waitFor("peer-joined"); j.str("participantId") != pat.pid() || j.str("name") != "Mario Rossi 1" {
		t.Errorf("peer-joined = %s", j.raw)
	}

	doc.waitMedia(pat)
	pat.waitMedia(doc)
	for _, m := range append(doc.seen("tracks"), pat.seen("tracks")...) {
		for _, x := range m.m["tracks"].([]any) {
			tr := x.(map[string]any)
			if tr["streamId"] == "" || tr["trackId"] == "" || tr["mid"] == "" || tr["name"] == "" {
				t.Errorf("incomplete track %v", tr)
			}
		}
	}
	e.waitState(id, teleconsult.StateInProgress)
	if strings.Contains(e.logs.String(), "Mario Rossi") || strings.Contains(e.logs.String(), "Anna Verdi") {
		t.Error("a display name reached the logs")
	}
	// The state is stored just before its log line is written.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(e.logs.String(), `msg="call started" id=`+id) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	logs := e.logs.String()
	for _, want := range []string{`msg="call started" id=` + id, `msg="participant joined"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %s", want)
		}
	}
	joined := regexp.MustCompile(`msg="participant joined" .*role=(\w+)`).FindAllStringSubmatch(logs, -1)
	if len(joined) != 2 || joined[0][1] != "plus" || joined[1][1] != "basic" {
		t.Errorf("participant joined lines %q, want the doctor's role plus, then the patient's basic", joined)
	}
	checkLogMessages(t, logs)
}

// checkLogMessages fails t for a log message (msg= of slog's text format)
// that repeats a word, as "call call started" did.
func checkLogMessages(t *testing.T, logs string) {
	t.Helper()
	n := 0
	for _, m := range regexp.MustCompile(`msg=("(?:[^"\\]|\\.)*"|\S+)`).FindAllStringSubmatch(logs, -1) {
		n++
		words := strings.Fields(strings.Trim(m[1], `"`))
		for i := 1; i < len(words); i++ {
			if strings.EqualFold(words[i], words[i-1]) {
				t.Errorf("log message %s repeats %q", m[1], words[i])
			}
		}
	}
	if n == 0 {
		t.Error("no log messages to check")
	}
}

// A participant who starts receiving a video track makes the SFU ask its
// publisher for a keyframe (PLI).
func TestNewSubscriberTriggersPLI(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(3)
	doc := e.join(id, tokens[0], clientOptions{})
	p1 := e.join(id, tokens[1], clientOptions{})
	p1.waitMedia(doc)
	waitUntil(t, "a PLI for the first subscriber", func() bool { return doc.plis.Load() > 0 })
	before := doc.plis.Load()

	p2 := e.join(id, tokens[2], clientOptions{})
	p2.waitMedia(doc)
	waitUntil(t, "a PLI for the second subscriber", func() bool { return doc.plis.Load() > before })
	p2.waitMedia(p1)
	doc.waitMedia(p2)

	// A subscriber's own PLI reaches the publisher.
	before = doc.plis.Load()
	tr := p1.trackOf(doc.pid(), sourceCamera)
	p1.mu.Lock()
	ssrc := p1.ssrcs[tr]
	p1.mu.Unlock()
	if ssrc == 0 {
		t.Fatal("no SSRC for the doctor's camera")
	}
	if err := p1.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the subscriber's PLI at the publisher", func() bool { return doc.plis.Load() > before })
}

// Tracks coming and going renegotiate: a participant reconnecting again
// and again is forwarded each time. Each track that went leaves an
// inactive media section; past Config.maxFreed the page is told to reconnect,
// which starts a fresh session.
func TestTracksComeAndGo(t *testing.T) {
	e := newEnv(t, func(_ *teleconsult.Settings, c *Config) { c.maxFreed = 4 })
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{})
	var pat *client
	for i := range 3 {
		pat = e.join(id, tokens[1], clientOptions{})
		waitUntil(t, fmt.Sprintf("connection %d's media at the doctor", i), func() bool {
			tr := doc.trackOf(pat.pid(), sourceCamera)
			doc.mu.Lock()
			defer doc.mu.Unlock()
			n := doc.received[tr]
			return n != nil && n.Load() > 5
		})
		pat.waitMedia(doc)
	}
	if got := strings.Count(doc.lastOffer(), "a=inactive"); got != 4 {
		t.Errorf("%d inactive sections after two reconnections, want 4", got)
	}
	e.join(id, tokens[1], clientOptions{})
	if reason, _ := doc.waitEnd(); reason != endMediaFailed {
		t.Errorf("end %q past the limit", reason)
	}
	again := e.join(id, tokens[0], clientOptions{})
	again.waitMedia(pat)
	if peers := again.welcome.m["peers"].([]any); len(peers) != 1 {
		t.Errorf("peers after reconnecting: %v", peers)
	}
}
