package sfu

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/teleconsult/teleconsult/internal/clientaddr"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// flood opens n signalling sockets of id from the local address from,
// sending nothing, and returns those upgraded. Every refusal must be a
// 429 with a JSON error and Retry-After.
func flood(t *testing.T, e *env, from, id string, n int) []*websocket.Conn {
	t.Helper()
	var held []*websocket.Conn
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		ws, resp, err := e.dialFrom(ctx, from, id)
		cancel()
		if err == nil {
			held = append(held, ws)
			t.Cleanup(func() { ws.CloseNow() })
			continue
		}
		if resp == nil {
			t.Fatalf("dial from %s: %v", from, err)
		}
		checkTooMany(t, resp)
	}
	return held
}

func checkTooMany(t *testing.T, resp *http.Response) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var eb struct {
		Error string `json:"error"`
	}
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Content-Type") != "application/json" ||
		json.Unmarshal(body, &eb) != nil || eb.Error == "" {
		t.Fatalf("refusal: %d %s %q, want 429 with a JSON error", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
		t.Fatalf("Retry-After = %q, want whole seconds", resp.Header.Get("Retry-After"))
	}
}

// A client flooding the signalling endpoint with sockets that never
// authenticate holds at most MaxPendingPerClient of them: the rest are
// refused before the upgrade, another client still joins, and once the
// flood's sockets time out the flooding address can join too.
func TestPendingSocketsPerClient(t *testing.T) {
	const perClient = 8
	e := newEnv(t, func(_ *teleconsult.Settings, c *Config) {
		c.MaxPendingPerClient, c.MaxPending = perClient, 100
		c.AuthTimeout = 3 * time.Second
	})
	id, tokens := e.visit(2)
	began := time.Now()
	held := flood(t, e, "127.0.0.2", id, 120)
	if time.Since(began) > 2*time.Second {
		t.Logf("the flood took %v: some sockets may have timed out during it", time.Since(began))
	}
	if len(held) != perClient {
		t.Fatalf("%d of 120 unauthenticated sockets from one address accepted, want %d", len(held), perClient)
	}
	if total, mine := e.prov.pending.count("127.0.0.2"); total != perClient || mine != perClient {
		t.Fatalf("pending = %d (%d of the flooder), want %d", total, mine, perClient)
	}

	// A real participant from another address joins during the flood;
	// once authenticated its socket no longer counts.
	doc := e.join(id, tokens[0], clientOptions{from: "127.0.0.1", noMedia: true})
	if total, mine := e.prov.pending.count("127.0.0.1"); total != perClient || mine != 0 {
		t.Fatalf("after a join: pending = %d (%d of the participant), want %d (0)", total, mine, perClient)
	}

	// The flood's sockets end at the auth timeout; then the address is
	// free again.
	for _, ws := range held {
		var err error
		for err == nil {
			_, _, err = ws.Read(context.Background())
		}
		if got := websocket.CloseStatus(err); got != closeUnauthorized {
			t.Errorf("flood socket closed with %d (%v), want %d", got, err, closeUnauthorized)
		}
	}
	waitUntil(t, "the flood cleared", func() bool { n, _ := e.prov.pending.count(""); return n == 0 })
	pat := e.join(id, tokens[1], clientOptions{from: "127.0.0.2", noMedia: true})
	if pat.welcome.str("participantId") == "" || doc.welcome.str("participantId") == "" {
		t.Fatal("welcome without a participant id")
	}
}

// MaxPending caps the unauthenticated sockets of every client together.
func TestPendingSocketsTotal(t *testing.T) {
	e := newEnv(t, func(_ *teleconsult.Settings, c *Config) {
		c.MaxPendingPerClient, c.MaxPending = 8, 20
		c.AuthTimeout = 5 * time.Second
	})
	id, tokens := e.visit(2)
	// A participant authenticated before the flood is not counted.
	e.join(id, tokens[0], clientOptions{noMedia: true})
	accepted := 0
	for i := 2; i <= 5; i++ {
		accepted += len(flood(t, e, fmt.Sprintf("127.0.0.%d", i), id, 10))
	}
	if accepted != 20 {
		t.Fatalf("%d sockets accepted from 4 addresses, want the total cap 20", accepted)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	_, resp, err := e.dialFrom(ctx, "127.0.0.6", id)
	if err == nil || resp == nil {
		t.Fatalf("a 21st pending socket: err %v, want a 429", err)
	}
	checkTooMany(t, resp)
}

func TestPendingSocketsRelease(t *testing.T) {
	ps := newPendingSockets(2, 3)
	r1, ok1 := ps.acquire("a")
	_, ok2 := ps.acquire("a")
	_, ok3 := ps.acquire("a")
	_, ok4 := ps.acquire("b")
	_, ok5 := ps.acquire("c")
	if !ok1 || !ok2 || ok3 || !ok4 || ok5 {
		t.Fatalf("acquire = %v %v %v %v %v, want true true false true false", ok1, ok2, ok3, ok4, ok5)
	}
	r1()
	r1() // a second release does not count twice
	if total, a := ps.count("a"); total != 2 || a != 1 {
		t.Fatalf("after release: %d (%d of a), want 2 (1)", total, a)
	}
	if _, ok := ps.acquire("c"); !ok {
		t.Fatal("a released slot is not reusable")
	}
}

func TestRemoteClient(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"127.0.0.2:5555", "127.0.0.2"},
		{"[::ffff:10.0.0.1]:1", "10.0.0.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:1", "fe80::/64"},
		{"@", "unknown"},
	} {
		if got := RemoteClient(&http.Request{RemoteAddr: tt.addr}); got != tt.want {
			t.Errorf("RemoteClient(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
	// The address the HTTP server resolved (a trusted proxy's client)
	// wins over the peer.
	r := clientaddr.WithAddr(httptest.NewRequest("GET", "/", nil), netip.MustParseAddr("198.51.100.7"), true)
	if got := RemoteClient(r); got != "198.51.100.7" {
		t.Errorf("RemoteClient behind a trusted proxy = %q, want the forwarded client", got)
	}
}
