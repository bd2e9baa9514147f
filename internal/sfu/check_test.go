package sfu

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
)

// checkClient is a page running the connection check: its socket and a
// pion peer connection on loopback.
type checkClient struct {
	t       *testing.T
	ws      *websocket.Conn
	welcome map[string]any
	pc      *webrtc.PeerConnection
	dc      chan *webrtc.DataChannel
	text    chan string
	bin     chan int
}

// dialCheck opens a check socket; resp is the refusal when err is set.
func (e *env) dialCheck(ctx context.Context) (*websocket.Conn, *http.Response, error) {
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + CheckPath
	return websocket.Dial(ctx, url, nil)
}

func (e *env) withCheck(l func(*checkLimits)) {
	e.mux.Handle("GET "+CheckPath, e.prov.CheckHandler())
	if l != nil {
		l(&e.prov.checkLimits)
	}
}

// readJSON reads one text message of the socket.
func readJSON(t *testing.T, ws *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

func writeJSON(t *testing.T, ws *websocket.Conn, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := ws.Write(context.Background(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

// startCheck dials, reads welcome and offer, answers with a pion peer
// connection and waits for the data channel to open.
func (e *env) startCheck(t *testing.T) *checkClient {
	t.Helper()
	ws, _, err := e.dialCheck(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := &checkClient{t: t, ws: ws, dc: make(chan *webrtc.DataChannel, 1), text: make(chan string, 16), bin: make(chan int, 1024)}
	t.Cleanup(func() {
		_ = ws.CloseNow()
		if c.pc != nil {
			_ = c.pc.Close()
		}
	})
	c.welcome = readJSON(t, ws)
	if c.welcome["type"] != "welcome" {
		t.Fatalf("first message %v, want welcome", c.welcome)
	}
	offer := readJSON(t, ws)
	if offer["type"] != "offer" {
		t.Fatalf("second message %v, want offer", offer)
	}
	api, err := clientAPI(0)
	if err != nil {
		t.Fatal(err)
	}
	if c.pc, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	c.pc.OnDataChannel(func(d *webrtc.DataChannel) {
		d.OnMessage(func(m webrtc.DataChannelMessage) {
			if m.IsString {
				c.text <- string(m.Data)
			} else {
				c.bin <- len(m.Data)
			}
		})
		d.OnOpen(func() { c.dc <- d })
	})
	c.pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		writeJSON(t, ws, map[string]any{"type": "candidate", "candidate": cand.ToJSON()})
	})
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer["sdp"].(string)}); err != nil {
		t.Fatal(err)
	}
	answer, err := c.pc.CreateAnswer(nil)
	if err == nil {
		err = c.pc.SetLocalDescription(answer)
	}
	if err != nil {
		t.Fatal(err)
	}
	writeJSON(t, ws, map[string]any{"type": "answer", "sdp": answer.SDP})
	return c
}

func (c *checkClient) channel() *webrtc.DataChannel {
	c.t.Helper()
	select {
	case d := <-c.dc:
		c.dc <- d
		return d
	case <-time.After(waitLong):
		c.t.Fatal("the check's data channel did not open")
		return nil
	}
}

func (c *checkClient) waitText() string {
	c.t.Helper()
	select {
	case s := <-c.text:
		return s
	case <-time.After(waitLong):
		c.t.Fatal("no text message on the data channel")
		return ""
	}
}

func resultOf(t *testing.T, s string) (typ string, bytes int) {
	t.Helper()
	var m struct {
		Type  string `json:"type"`
		Bytes int    `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return m.Type, m.Bytes
}

// A check measures what the page uploads and what the server sends back,
// answers pings, and refuses unknown commands without ending.
func TestCheckMeasures(t *testing.T) {
	e := newEnv(t)
	e.withCheck(func(l *checkLimits) { l.maxBytes = 1 << 20; l.transfer = time.Second })
	c := e.startCheck(t)
	if n := c.welcome["maxBytes"]; n != float64(1<<20) {
		t.Errorf("welcome maxBytes %v", n)
	}
	dc := c.channel()
	chunk := make([]byte, checkChunk)
	for range 32 {
		if err := dc.Send(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := dc.SendText(checkUploadEnd); err != nil {
		t.Fatal(err)
	}
	if typ, n := resultOf(t, c.waitText()); typ != "upload" || n != 32*checkChunk {
		t.Errorf("upload result %s %d, want upload %d", typ, n, 32*checkChunk)
	}
	if err := dc.SendText(checkUploadEnd); err != nil {
		t.Fatal(err)
	}
	if typ, _ := resultOf(t, c.waitText()); typ != "error" {
		t.Errorf("a second upload-end: %s, want error", typ)
	}
	if err := dc.SendText(checkDownload); err != nil {
		t.Fatal(err)
	}
	typ, sent := resultOf(t, c.waitText())
	if typ != "download" || sent <= 0 || sent > 1<<20 {
		t.Errorf("download result %s %d, want download within 1 MiB", typ, sent)
	}
	got := 0
	for got < sent {
		select {
		case n := <-c.bin:
			got += n
		case <-time.After(waitLong):
			t.Fatalf("received %d of the %d bytes sent", got, sent)
		}
	}
	if err := dc.SendText("ping"); err != nil {
		t.Fatal(err)
	}
	if s := c.waitText(); s != "pong" {
		t.Errorf("ping: %q", s)
	}
	if err := dc.SendText("PING please"); err != nil {
		t.Fatal(err)
	}
	if typ, _ := resultOf(t, c.waitText()); typ != "error" {
		t.Errorf("an unknown command: %s, want error", typ)
	}
	// The socket refuses what a check does not take, and the check goes on.
	writeJSON(t, c.ws, map[string]any{"type": "chat", "text": "hello"})
	if m := readJSON(t, c.ws); m["type"] != "error" {
		t.Errorf("chat on a check socket: %v", m)
	}
	writeJSON(t, c.ws, map[string]any{"type": "answer", "sdp": "v=0"})
	if m := readJSON(t, c.ws); m["type"] != "error" {
		t.Errorf("a second answer: %v", m)
	}
	writeJSON(t, c.ws, map[string]any{"type": "ping"})
	if m := readJSON(t, c.ws); m["type"] != "pong" {
		t.Errorf("ping on the socket: %v", m)
	}
}

// An upload past the cap is cut: the page is told and the channel closes.
func TestCheckUploadCap(t *testing.T) {
	e := newEnv(t)
	e.withCheck(func(l *checkLimits) { l.maxBytes = 8 * checkChunk })
	c := e.startCheck(t)
	dc := c.channel()
	closed := make(chan struct{})
	dc.OnClose(func() { close(closed) })
	chunk := make([]byte, checkChunk)
	for range 9 {
		if err := dc.Send(chunk); err != nil {
			break
		}
	}
	if typ, _ := resultOf(t, c.waitText()); typ != "error" {
		t.Errorf("an upload over the cap: %s, want error", typ)
	}
	select {
	case <-closed:
	case <-time.After(waitLong):
		t.Error("the data channel stayed open past the cap")
	}
}

// Checks are limited per client at once and per window, and in time.
func TestCheckLimits(t *testing.T) {
	e := newEnv(t)
	e.withCheck(func(l *checkLimits) { l.perClient = 1; l.perWindow = 2; l.duration = 2 * time.Second })
	first, _, err := e.dialCheck(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer first.CloseNow()
	readJSON(t, first) // welcome: the check runs
	_, resp, err := e.dialCheck(context.Background())
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a second check at once: %v %v, want 429 with Retry-After", resp, err)
	}
	// The check's time runs out: the server closes it.
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	for {
		if _, _, err := first.Read(ctx); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				t.Errorf("end of the check's time: %v", err)
			}
			break
		}
	}
	if d := time.Since(began); d > 4*time.Second {
		t.Errorf("the check lasted %v past its 2 s", d)
	}
	waitUntil(t, "the first check counted out", func() bool {
		e.prov.checkGate.mu.Lock()
		defer e.prov.checkGate.mu.Unlock()
		return e.prov.checkGate.n == 0
	})
	second, _, err := e.dialCheck(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	second.CloseNow()
	_, resp, err = e.dialCheck(context.Background())
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a third check in the window: %v %v, want 429", resp, err)
	}
	if s, _ := strconv.Atoi(resp.Header.Get("Retry-After")); s < int(CheckWindow.Seconds())-60 {
		t.Errorf("Retry-After %q, want about the window", resp.Header.Get("Retry-After"))
	}
}

// The gate counts in all, per client and per window.
func TestCheckGate(t *testing.T) {
	l := checkLimits{duration: time.Second, window: time.Minute, perClient: 2, perWindow: 3, maxTotal: 3}
	var g checkGate
	now := time.Unix(1000, 0)
	a1, _, ok1 := g.acquire(l, "a", now)
	_, _, ok2 := g.acquire(l, "a", now)
	_, _, ok3 := g.acquire(l, "a", now)
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("three at once from one client: %v %v %v, want two", ok1, ok2, ok3)
	}
	_, _, okB := g.acquire(l, "b", now)
	_, _, okC := g.acquire(l, "c", now)
	if !okB || okC {
		t.Fatalf("past the total: b %v c %v", okB, okC)
	}
	a1()
	a1() // twice counts out once
	if _, _, ok := g.acquire(l, "a", now); !ok {
		t.Fatal("a after one ended")
	}
	if _, wait, ok := g.acquire(l, "a", now); ok || wait != time.Minute {
		t.Fatalf("a's fourth in the window: %v %v, want refused for a minute", ok, wait)
	}
	if _, _, ok := g.acquire(l, "a", now.Add(time.Minute)); ok {
		t.Fatal("a's window passed, but two still run")
	}
}

// Provider.Close ends the checks running.
func TestCheckClose(t *testing.T) {
	e := newEnv(t)
	e.withCheck(nil)
	ws, _, err := e.dialCheck(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	readJSON(t, ws)
	done := make(chan error, 1)
	go func() { done <- e.prov.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Errorf("closing: %v", err)
			}
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, resp, err := e.dialCheck(context.Background())
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a check after Close: %v %v", resp, err)
	}
}

func FuzzCheckCommand(f *testing.F) {
	for _, s := range []string{checkUploadEnd, checkDownload, checkPing, "", "ping ", "PING", strings.Repeat("x", 64), "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cmd, err := parseCheckCommand(b)
		known := string(b) == checkUploadEnd || string(b) == checkDownload || string(b) == checkPing
		if known != (err == nil) || (err == nil && cmd != string(b)) || (err != nil && cmd != "") {
			t.Fatalf("%q: %q, %v", b, cmd, err)
		}
	})
}
