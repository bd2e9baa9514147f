package sfu

import (
	"net"
	"regexp"
	"strings"
	"sync/atomic"
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

// holeConn loses every packet both ways while on holds.
type holeConn struct {
	net.PacketConn
	on *atomic.Bool
}

func (h *holeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := h.PacketConn.ReadFrom(b)
		if err != nil || !h.on.Load() {
			return n, addr, err
		}
	}
}

func (h *holeConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if h.on.Load() {
		return len(b), nil
	}
	return h.PacketConn.WriteTo(b, addr)
}

// A participant whose network goes quiet (every UDP packet lost, the
// socket alive) makes the server's ICE disconnect: the server offers an
// ICE restart by itself, the page answers it, and once packets pass again
// media flow on the same connection.
func TestICERestartOnDisconnect(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	var hole atomic.Bool
	doc := e.join(id, tokens[0], clientOptions{})
	pat := e.join(id, tokens[1], clientOptions{blackhole: &hole})
	pat.waitMedia(doc)
	doc.waitMedia(pat)
	waitUntil(t, "the patient's answers", func() bool { return len(pat.seen("offer")) >= 2 })
	old := ufragOf(pat.lastOffer())

	hole.Store(true)
	deadline := time.Now().Add(15 * time.Second)
	for ufragOf(pat.lastOffer()) == old {
		if time.Now().After(deadline) {
			t.Fatal("no ICE restart offered 15 s after the network went quiet")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(e.logs.String(), `msg="ICE restart offered" component=sfu`) || !strings.Contains(e.logs.String(), "why=disconnected") {
		t.Error("the restart was not the server's own")
	}
	hole.Store(false)
	before := [2]int64{pat.packetsFrom(doc.pid(), sourceCamera), doc.packetsFrom(pat.pid(), sourceCamera)}
	waitUntil(t, "media after the network came back", func() bool {
		return pat.packetsFrom(doc.pid(), sourceCamera) > before[0]+50 && doc.packetsFrom(pat.pid(), sourceCamera) > before[1]+50
	})
	if pat.closed() || len(pat.seen("end")) > 0 {
		t.Error("the connection ended")
	}
}
