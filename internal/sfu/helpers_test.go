package sfu

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/teleconsult/teleconsult/internal/inmem"
	"github.com/teleconsult/teleconsult/internal/session"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/testkit"
)

// start is the test appointments' start; the clock starts 5 minutes
// before it, inside the window (which opens 10 minutes before).
var start = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

const waitLong = 10 * time.Second

// env is a real teleconsult.Service (in-memory store, real session tokens)
// with this package's provider behind an httptest server on 127.0.0.1.
type env struct {
	t     testing.TB
	clock *testkit.Clock
	ticks chan time.Time
	store *inmem.Store
	keys  *teleconsult.Keyring
	svc   *teleconsult.Service
	prov  *Provider
	srv   *httptest.Server
	mux   *http.ServeMux
	logs  *testkit.LogBuffer
}

type envOption func(*teleconsult.Settings, *Config)

func newEnv(tb testing.TB, opts ...envOption) *env {
	tb.Helper()
	master := make([]byte, teleconsult.KeySize)
	_, _ = rand.Read(master)
	keys, err := teleconsult.NewKeyring(master)
	if err != nil {
		tb.Fatal(err)
	}
	tokens, err := session.New(keys.SessionKey(), "http://127.0.0.1")
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{t: tb, clock: testkit.NewClock(start.Add(-5 * time.Minute)), ticks: make(chan time.Time),
		store: inmem.NewStore(), keys: keys, logs: &testkit.LogBuffer{}}
	settings := teleconsult.DefaultSettings()
	settings.ImmutablePeriod = 10 * time.Minute
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := DefaultConfig()
	cfg.LoopbackCandidates = true
	cfg.Now = e.clock.Now
	cfg.Ticks = e.ticks
	cfg.Logger = logger
	for _, o := range opts {
		o(&settings, &cfg)
	}
	if e.prov, err = NewProvider(nil, cfg); err != nil {
		tb.Fatal(err)
	}
	e.svc = &teleconsult.Service{Store: e.store, Provider: e.prov, Tokens: tokens, Keys: keys,
		Settings: settings, Now: e.clock.Now, Logger: logger}
	e.prov.SetService(e.svc)
	e.mux = http.NewServeMux()
	e.mux.Handle("GET "+CallPath, e.prov.Handler())
	e.srv = httptest.NewServer(e.mux)
	tb.Cleanup(func() {
		if err := e.prov.Close(); err != nil {
			tb.Errorf("Provider.Close: %v", err)
		}
		e.srv.Close()
		if tb.Failed() {
			tb.Logf("server logs:\n%s", e.logs.String())
		}
	})
	return e
}

// tick runs the rooms' periodic checks at the clock's time and returns
// when they are done: the loop takes the next tick only after the checks of
// the previous one, so the second send waits for the first to complete.
func (e *env) tick() {
	e.ticks <- e.clock.Now()
	e.ticks <- e.clock.Now()
}

// visit creates a teleconsultation of a doctor (plus) and n-1 patients
// (basic) starting at start for 30 minutes, and returns its id and a
// session token per participant (doctor first).
func (e *env) visit(n int) (string, []string) {
	e.t.Helper()
	in := teleconsult.CreateInput{StartDate: start, Duration: ptr(30 * time.Minute), Number: n}
	in.Participants = append(in.Participants, teleconsult.ParticipantInput{UserID: "doc-1", Groups: []string{"doctor"},
		FullName: "Dr. Anna Verdi", Language: "it"})
	for i := 1; i < n; i++ {
		in.Participants = append(in.Participants, teleconsult.ParticipantInput{UserID: fmt.Sprintf("pat-%d", i),
			Groups: []string{"patient"}, FullName: fmt.Sprintf("Mario Rossi %d", i), Language: "en"})
	}
	id, err := e.svc.Create(context.Background(), in)
	if err != nil {
		e.t.Fatal(err)
	}
	return id, e.tokens(id)
}

// tokens exchanges every participant's personal link for a session token.
func (e *env) tokens(id string) []string {
	e.t.Helper()
	tc, err := e.store.FindByID(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, p := range tc.ActiveParticipants() {
		cs, err := e.svc.Exchange(context.Background(), e.keys.LinkCode(p.LinkNonce))
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, cs.Token)
	}
	return out
}

func (e *env) state(id string) teleconsult.State {
	tc, err := e.store.FindByID(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return tc.State
}

// waitState waits until the stored state of id is want.
func (e *env) waitState(id string, want teleconsult.State) {
	e.t.Helper()
	waitUntil(e.t, fmt.Sprintf("state %s", want), func() bool { return e.state(id) == want })
}

func ptr[T any](v T) *T { return &v }

// waitUntil polls cond until it holds or waitLong passes.
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// msg is a message a client received.
type msg struct {
	Type string
	m    map[string]any
	raw  []byte
}

func (m msg) str(k string) string { s, _ := m.m[k].(string); return s }

// clientOptions shape a test client.
type clientOptions struct {
	// screen adds a screen track next to the microphone and camera.
	screen bool
	// noMedia sends nothing.
	noMedia bool
	// relayOnly uses only the TURN servers of welcome.iceServers.
	relayOnly bool
	// mangleAnswer rewrites the SDP of every answer.
	mangleAnswer func(string) string
	// raw does not start a peer connection: the test plays the page.
	raw bool
	// from is the local address to dial from (127.0.0.x); empty: any.
	from string
	// simulcast publishes the camera in three layers (simulcast_test.go).
	simulcast bool
	// blackhole, while true, loses every UDP packet of the client's ICE
	// (its only UDP socket) both ways: a network gone (icerestart_test.go).
	blackhole *atomic.Bool
	// drop loses, on the client's side of the wire, every video RTP
	// packet (sent or received) whose sequence number is a multiple of
	// it, retransmissions included (see dropFactory).
	drop uint16
}

// client is a pion peer that speaks the signalling protocol like the call
// page: it answers offers, trickles candidates, sends Opus and VP8, and
// counts what it receives.
type client struct {
	tb   testing.TB
	e    *env
	opts clientOptions
	ws   *websocket.Conn
	pc   *webrtc.PeerConnection

	msgs    chan msg
	done    chan struct{}
	closeMu sync.Mutex
	status  websocket.StatusCode
	welcome msg

	mu       sync.Mutex
	all      []msg
	received map[string]*atomic.Int64 // remote track id → packets
	kinds    map[string]string        // remote track id → kind
	ssrcs    map[string]uint32        // remote track id → SSRC
	answers  int

	plis    atomic.Int64
	remb    atomic.Int64           // the last REMB bitrate received for the camera
	layers  map[string]*layerMarks // remote track id → what simulcast layers it carried
	stop    chan struct{}
	wg      sync.WaitGroup
	writeMu sync.Mutex
}

// dial connects to the call of teleconsultation id and sends auth with
// token (no auth when token is empty).
func (e *env) dial(id, token string, opts clientOptions) *client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	ws, _, err := e.dialFrom(ctx, opts.from, id)
	if err != nil {
		e.t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	c := &client{tb: e.t, e: e, opts: opts, ws: ws, msgs: make(chan msg, 1000), done: make(chan struct{}),
		received: map[string]*atomic.Int64{}, layers: map[string]*layerMarks{}, kinds: map[string]string{}, ssrcs: map[string]uint32{}, stop: make(chan struct{})}
	c.wg.Add(1)
	go c.readLoop()
	e.t.Cleanup(c.close)
	if token != "" {
		c.send(map[string]any{"type": "auth", "token": token})
	}
	return c
}

// dialFrom opens the signalling WebSocket of teleconsultation id from the
// local address from (any when empty), sending nothing.
func (e *env) dialFrom(ctx context.Context, from, id string) (*websocket.Conn, *http.Response, error) {
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + strings.Replace(CallPath, "{id}", id, 1)
	var opts *websocket.DialOptions
	if from != "" {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		opts = &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}}
	}
	return websocket.Dial(ctx, url, opts)
}

// join dials and waits for welcome.
func (e *env) join(id, token string, opts clientOptions) *client {
	e.t.Helper()
	c := e.dial(id, token, opts)
	c.welcome = c.waitFor("welcome")
	return c
}

func (c *client) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.tb.Fatal(err)
	}
	c.sendRaw(b)
}

func (c *client) sendRaw(b []byte) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	_ = c.ws.Write(ctx, websocket.MessageText, b)
}

func (c *client) readLoop() {
	defer c.wg.Done()
	defer close(c.done)
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			c.closeMu.Lock()
			c.status = websocket.CloseStatus(err)
			c.closeMu.Unlock()
			return
		}
		var m msg
		m.raw = b
		if err := json.Unmarshal(b, &m.m); err != nil {
			c.tb.Errorf("server sent invalid JSON %q", b)
			continue
		}
		m.Type = m.str("type")
		c.mu.Lock()
		c.all = append(c.all, m)
		c.mu.Unlock()
		if !c.opts.raw {
			switch m.Type {
			case "welcome":
				if err := c.startPeer(m); err != nil && !c.closed() {
					c.tb.Errorf("client peer: %v", err)
				}
			case "offer":
				if err := c.onOffer(m.str("sdp")); err != nil && !c.closed() {
					c.tb.Errorf("client answer: %v", err)
				}
				continue
			case "candidate":
				if cand, ok := m.m["candidate"].(map[string]any); ok && c.pc != nil {
					init := webrtc.ICECandidateInit{Candidate: cand["candidate"].(string)}
					if mid, ok := cand["sdpMid"].(string); ok {
						init.SDPMid = &mid
					}
					if idx, ok := cand["sdpMLineIndex"].(float64); ok {
						init.SDPMLineIndex = ptr(uint16(idx))
					}
					_ = c.pc.AddICECandidate(init)
				}
				continue
			}
		}
		select {
		case c.msgs <- m:
		default:
			c.tb.Errorf("client message buffer full")
		}
	}
}

// waitFor skips messages until one of type typ.
func (c *client) waitFor(typ string) msg {
	c.tb.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case m := <-c.msgs:
			if m.Type == typ {
				return m
			}
			if m.Type == "end" && typ != "end" {
				c.tb.Fatalf("waiting for %s, got end: %s", typ, m.raw)
			}
		case <-deadline:
			c.tb.Fatalf("no %s message in time", typ)
		}
	}
}

// waitEnd waits for the end message and the close, and returns the end
// reason and the close code.
func (c *client) waitEnd() (string, websocket.StatusCode) {
	c.tb.Helper()
	m := c.waitFor("end")
	select {
	case <-c.done:
	case <-time.After(waitLong):
		c.tb.Fatalf("socket not closed after end")
	}
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return m.str("reason"), c.status
}

// seen returns every message received so far of type typ.
func (c *client) seen(typ string) []msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []msg
	for _, m := range c.all {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// clientAPI is a pion API for test peers: default codecs and interceptors,
// loopback only; with drop > 0, lossy (clientOptions.drop).
func clientAPI(drop uint16, blackhole ...*atomic.Bool) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if drop > 0 {
		reg.Add(dropFactory{every: drop})
	}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, err
	}
	s := webrtc.SettingEngine{}
	s.SetIncludeLoopbackCandidate(true)
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	loop := loopbackInterfaces()
	s.SetInterfaceFilter(func(name string) bool { return loop[name] })
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	if len(blackhole) > 0 && blackhole[0] != nil {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		s.SetICEUDPMux(ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: &holeConn{PacketConn: conn, on: blackhole[0]}}))
		s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s)), nil
}

// startPeer makes the client's peer connection with its sending tracks.
func (c *client) startPeer(welcome msg) error {
	api, err := clientAPI(c.opts.drop, c.opts.blackhole)
	if err != nil {
		return err
	}
	var conf webrtc.Configuration
	if c.opts.relayOnly {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
		b, _ := json.Marshal(welcome.m["iceServers"])
		if err := json.Unmarshal(b, &conf.ICEServers); err != nil {
			return err
		}
	}
	pc, err := api.NewPeerConnection(conf)
	if err != nil {
		return err
	}
	c.pc = pc
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			c.send(map[string]any{"type": "candidate", "candidate": nil})
			return
		}
		init := cand.ToJSON()
		c.send(map[string]any{"type": "candidate", "candidate": map[string]any{
			"candidate": init.Candidate, "sdpMid": init.SDPMid, "sdpMLineIndex": init.SDPMLineIndex}})
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		n := &atomic.Int64{}
		marks := &layerMarks{}
		c.mu.Lock()
		c.received[tr.ID()] = n
		c.layers[tr.ID()] = marks
		c.kinds[tr.ID()] = tr.Kind().String()
		c.ssrcs[tr.ID()] = uint32(tr.SSRC())
		c.mu.Unlock()
		buf := make([]byte, 1500)
		var pkt rtp.Packet
		for {
			k, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			n.Add(1)
			if tr.Kind() == webrtc.RTPCodecTypeVideo && pkt.Unmarshal(buf[:k]) == nil {
				marks.see(&pkt)
			}
		}
	})
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "local")
	if err != nil {
		return err
	}
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", "local")
	if err != nil {
		return err
	}
	tracks := []*webrtc.TrackLocalStaticSample{audio, video}
	if c.opts.screen {
		screen, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "screen", "screen")
		if err != nil {
			return err
		}
		tracks = append(tracks, screen)
	}
	if c.opts.simulcast {
		return c.startSimulcast(pc, audio)
	}
	for i, tr := range tracks {
		t, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		if i == 1 {
			sender := t.Sender()
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				for {
					pkts, _, err := sender.ReadRTCP()
					if err != nil {
						return
					}
					for _, p := range pkts {
						switch p := p.(type) {
						case *rtcp.PictureLossIndication:
							c.plis.Add(1)
						case *rtcp.ReceiverEstimatedMaximumBitrate:
							c.remb.Store(int64(p.Bitrate))
						}
					}
				}
			}()
		}
	}
	if !c.opts.noMedia {
		c.wg.Add(1)
		go c.sendMedia(tracks)
	}
	return nil
}

// sendMedia writes 20 ms Opus frames and 50 small VP8 frames a second on
// every track.
func (c *client) sendMedia(tracks []*webrtc.TrackLocalStaticSample) {
	defer c.wg.Done()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	opus := make([]byte, 60)
	vp8 := make([]byte, 900)
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		_ = tracks[0].WriteSample(media.Sample{Data: opus, Duration: 20 * time.Millisecond})
		for _, v := range tracks[1:] {
			_ = v.WriteSample(media.Sample{Data: vp8, Duration: 20 * time.Millisecond})
		}
	}
}

func (c *client) onOffer(offer string) error {
	if c.pc == nil {
		return errors.New("offer before welcome")
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return err
	}
	answer, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := c.pc.SetLocalDescription(answer); err != nil {
		return err
	}
	sdp := answerRecvRIDs.ReplaceAllString(answer.SDP, "")
	if c.opts.mangleAnswer != nil {
		sdp = c.opts.mangleAnswer(sdp)
	}
	c.mu.Lock()
	c.answers++
	c.mu.Unlock()
	c.send(map[string]any{"type": "answer", "sdp": sdp})
	return nil
}

// packetsFrom returns how many RTP packets of each kind the client received
// from participant pid, by the tracks messages.
func (c *client) packetsFrom(pid, source string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, m := range c.all {
		if m.Type != "tracks" {
			continue
		}
		list, _ := m.m["tracks"].([]any)
		for _, x := range list {
			t, _ := x.(map[string]any)
			if t["participantId"] == pid && t["source"] == source {
				if cnt := c.received[t["trackId"].(string)]; cnt != nil {
					n = max(n, cnt.Load())
				}
			}
		}
	}
	return n
}

func (c *client) closed() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// trackOf returns the id of the track of participant pid's source, by the
// latest tracks message.
func (c *client) trackOf(pid, source string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.all) - 1; i >= 0; i-- {
		if c.all[i].Type != "tracks" {
			continue
		}
		for _, x := range c.all[i].m["tracks"].([]any) {
			if t := x.(map[string]any); t["participantId"] == pid && t["source"] == source {
				return t["trackId"].(string)
			}
		}
		return ""
	}
	return ""
}

// lastOffer returns the SDP of the latest offer.
func (c *client) lastOffer() string {
	offers := c.seen("offer")
	if len(offers) == 0 {
		return ""
	}
	return offers[len(offers)-1].str("sdp")
}

func (c *client) pid() string { return c.welcome.str("participantId") }

// close hangs up: socket, peer connection and media goroutines.
func (c *client) close() {
	select {
	case <-c.stop:
		return
	default:
		close(c.stop)
	}
	_ = c.ws.CloseNow()
	if c.pc != nil {
		_ = c.pc.Close()
	}
	c.wg.Wait()
}

// hangUp closes the socket abruptly, as a closed tab does.
func (c *client) hangUp() { c.close() }

// waitMedia waits until c receives audio and camera RTP from other.
func (c *client) waitMedia(other *client) {
	c.tb.Helper()
	waitUntil(c.tb, "media from "+other.pid(), func() bool {
		return c.packetsFrom(other.pid(), sourceMicrophone) > 5 && c.packetsFrom(other.pid(), sourceCamera) > 5
	})
}

// waitDropped waits until the server has seen participant pid's
// connection drop (the participant is in its grace period).
func (e *env) waitDropped(id, pid string) {
	e.t.Helper()
	waitUntil(e.t, "the server to see the drop", func() bool {
		e.prov.mu.Lock()
		var rooms []*room
		for k, r := range e.prov.rooms {
			if k.tc == id {
				rooms = append(rooms, r)
			}
		}
		e.prov.mu.Unlock()
		for _, r := range rooms {
			r.mu.Lock()
			m := r.members[pid]
			dropped := m != nil && m.conn == nil
			r.mu.Unlock()
			if dropped {
				return true
			}
		}
		return false
	})
}
