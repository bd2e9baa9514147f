package sfu

import (
	"net"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"

	"github.com/teleconsult/teleconsult/internal/testkit"
)

// With the embedded TURN server, welcome.iceServers carries a turn: URL
// and per-session credentials, and a peer restricted to relay candidates
// gets its call through it.
func TestEmbeddedTURN(t *testing.T) {
	secret := []byte("a test secret of some length....")
	e := newEnv(t, func(_ *teleconsult.Settings, c *Config) {
		c.TURN = TURNConfig{Enabled: true, Port: freePort(t), Secret: secret}
	})
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{})
	pat := e.join(id, tokens[1], clientOptions{relayOnly: true})

	servers := pat.welcome.m["iceServers"].([]any)
	if len(servers) != 1 {
		t.Fatalf("iceServers = %v", servers)
	}
	srv := servers[0].(map[string]any)
	urls := srv["urls"].([]any)
	if !strings.HasPrefix(urls[0].(string), "turn:127.0.0.1:") {
		t.Errorf("urls = %v", urls)
	}
	user := srv["username"].(string)
	exp, pid, _ := strings.Cut(user, ":")
	if pid != pat.pid() || exp == "" {
		t.Errorf("username %q", user)
	}
	if srv["credential"] != e.prov.turn.password(user) {
		t.Error("credential is not the HMAC of the username")
	}

	pat.waitMedia(doc)
	doc.waitMedia(pat)
	if n := e.prov.turn.srv.AllocationCount(); n == 0 {
		t.Error("no TURN allocation: the relay was not used")
	}
}

// TURN credentials expire on the injected clock, and forged ones fail.
func TestTURNCredentials(t *testing.T) {
	clock := testkit.NewClock(start)
	ts := &turnServer{secret: []byte("k"), now: clock.Now, allocs: map[string]int{}}
	user, pass := ts.credentials("u_1", start.Add(time.Hour))
	if _, ok := ts.auth(user, "r", nil); !ok {
		t.Fatal("fresh credentials refused")
	}
	if pass != ts.password(user) {
		t.Fatal("password")
	}
	clock.Set(start.Add(time.Hour))
	if _, ok := ts.auth(user, "r", nil); ok {
		t.Error("expired credentials accepted")
	}
	for _, bad := range []string{"", "u_1", "notanumber:u_1", "99999999999:"} {
		if _, ok := ts.auth(bad, "r", nil); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	for range turnMaxAllocationsPerUser {
		if !ts.quota(user, "r", nil) {
			t.Fatal("quota refused too early")
		}
		ts.retain(user)
	}
	if ts.quota(user, "r", nil) {
		t.Error("quota not enforced")
	}
	ts.release(user)
	if !ts.quota(user, "r", nil) {
		t.Error("quota not released")
	}
}

// The TURN relay reaches this host's own addresses only: never loopback
// (unless calls run on loopback), private, link-local or metadata
// addresses of other hosts (ASVS 5.0 V17.1.1).
func TestTURNRelaysOnlyToThisHost(t *testing.T) {
	ts := &turnServer{own: ownAddresses(Config{PublicIP: "203.0.113.7"})}
	if !ts.permit(net.ParseIP("203.0.113.7")) {
		t.Error("own public address refused")
	}
	for _, ip := range []string{"127.0.0.1", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
		"fe80::1", "fd00::1", "8.8.8.8", "0.0.0.0", "::"} {
		if ts.permit(net.ParseIP(ip)) {
			t.Errorf("relay to %s permitted", ip)
		}
	}
	loop := &turnServer{own: ownAddresses(Config{LoopbackCandidates: true})}
	if !loop.permit(net.ParseIP("127.0.0.1")) {
		t.Error("loopback refused in loopback mode")
	}
}

// With RTC_UDP_PORT all ICE traffic shares one UDP port.
func TestSingleUDPPort(t *testing.T) {
	port := freePort(t)
	e := newEnv(t, func(_ *teleconsult.Settings, c *Config) { c.UDPPort = port })
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{})
	pat := e.join(id, tokens[1], clientOptions{})
	pat.waitMedia(doc)
	doc.waitMedia(pat)
	for _, c := range []*client{doc, pat} {
		for _, m := range c.seen("candidate") {
			cand, ok := m.m["candidate"].(map[string]any)
			if !ok {
				continue
			}
			if s := cand["candidate"].(string); !strings.Contains(s, " "+strconv.Itoa(port)+" ") {
				t.Errorf("candidate %q is not on port %d", s, port)
			}
		}
	}
}

// A full call, hung up and closed, leaves no goroutine behind.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		e := newEnv(t)
		id, tokens := e.visit(2)
		doc := e.join(id, tokens[0], clientOptions{})
		pat := e.join(id, tokens[1], clientOptions{})
		pat.waitMedia(doc)
		doc.waitMedia(pat)
		pat.send(map[string]any{"type": "leave"})
		doc.waitEnd()
		doc.close()
		pat.close()
		if err := e.prov.Close(); err != nil {
			t.Fatal(err)
		}
		e.srv.Close()
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return freePort(t)
	}
	l.Close()
	return port
}

// The HTTP server's read and write timeouts (cmd sets 30 s) do not cut a
// call: net/http clears them when the connection is hijacked.
func TestServerTimeoutsDoNotCutCalls(t *testing.T) {
	e := newEnv(t)
	e.srv.Close()
	e.srv = httptest.NewUnstartedServer(e.mux)
	e.srv.Config.ReadTimeout = 200 * time.Millisecond
	e.srv.Config.WriteTimeout = 200 * time.Millisecond
	e.srv.Start()
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	time.Sleep(500 * time.Millisecond) // past both timeouts
	doc.send(map[string]any{"type": "ping"})
	doc.waitFor("pong")
}
