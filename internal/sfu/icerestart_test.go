package sfu

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

var iceUfrag = regexp.MustCompile(`(?m)^a=ice-ufrag:(\S+)`)

// ufragOf returns the ICE username fragment of an SDP.
func ufragOf(sdp string) string {
	m := iceUfrag.FindStringSubmatch(sdp)
	if m == nil {
		return ""
	}
	return m[1]
}

// A page that asks for an ICE restart gets an offer with new ICE
// credentials; once it answers, media flow both ways on the new session
// of checks, without a new connection. Asking again at once is not
// answered (nor refused); after minICERestart it is.
func TestICERestartAsked(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{})
	pat := e.join(id, tokens[1], clientOptions{})
	pat.waitMedia(doc)
	doc.waitMedia(pat)
	waitUntil(t, "the patient's answers", func() bool { return len(pat.seen("offer")) >= 2 })
	offers := len(pat.seen("offer"))
	old := ufragOf(pat.lastOffer())

	pat.send(map[string]any{"type": "restart-ice"})
	waitUntil(t, "the restart's offer", func() bool { return len(pat.seen("offer")) > offers })
	fresh := ufragOf(pat.lastOffer())
	if fresh == "" || fresh == old {
		t.Fatalf("ICE ufrag %q after a restart, %q before", fresh, old)
	}
	pat.send(map[string]any{"type": "restart-ice"})
	before := [2]int64{pat.packetsFrom(doc.pid(), sourceCamera), doc.packetsFrom(pat.pid(), sourceCamera)}
	waitUntil(t, "media after the restart", func() bool {
		return pat.packetsFrom(doc.pid(), sourceCamera) > before[0]+50 && doc.packetsFrom(pat.pid(), sourceCamera) > before[1]+50
	})
	if n := len(pat.seen("offer")); n != offers+1 {
		t.Errorf("%d offers after two restarts asked at once, want %d", n, offers+1)
	}
	if errs := pat.seen("error"); len(errs) > 0 {
		t.Errorf("errors: %s", errs[0].raw)
	}
	time.Sleep(minICERestart)
	pat.send(map[string]any{"type": "restart-ice"})
	waitUntil(t, "the second restart's offer", func() bool { return len(pat.seen("offer")) > offers+1 })
	if u := ufragOf(pat.lastOffer()); u == fresh {
		t.Error("the second restart kept the ICE credentials")
	}
	before = [2]int64{pat.packetsFrom(doc.pid(), sourceCamera), doc.packetsFrom(pat.pid(), sourceCamera)}
	waitUntil(t, "media after the second restart", func() bool {
		return pat.packetsFrom(doc.pid(), sourceCamera) > before[0]+50 && doc.packetsFrom(pat.pid(), sourceCamera) > before[1]+50
	})
	if !strings.Contains(e.logs.String(), `msg="ICE restart offered"`) {
		t.Error("no log of the restart")
	}
}

// Held before the call (the lobby), restart-ice is refused like any other
// call message.
func TestICERestartBeforeJoin(t *testing.T) {
	e := newEnv(t, withWaitingRoom)
	id, tokens := e.visit(2)
	c := e.dial(id, "", clientOptions{raw: true})
	c.send(map[string]any{"type": "auth", "token": tokens[0], "lobby": true})
	c.waitFor("waiting-list")
	c.send(map[string]any{"type": "restart-ice"})
	if m := c.waitFor("error"); m.str("message") != "join the call first" {
		t.Errorf("error %s", m.raw)
	}
}
