package sfu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Limits of one connection.
const (
	maxBadMessages    = 10  // more closes with 1008
	outQueue          = 256 // messages waiting to be written; more closes with 1008
	maxCandidates     = 64  // remote ICE candidates per connection
	msgRate, msgBurst = 20, 60
	chatRate          = 2 // chat messages per second, burst 10
	chatBurst         = 10
	writeTimeout      = 10 * time.Second
)

// conn is one signalling WebSocket and, once authenticated, its peer
// connection. Its run loop owns the negotiation state; other goroutines
// only queue messages (sendRaw), ask for a renegotiation, or end it.
type conn struct {
	p    *Provider
	svc  *teleconsult.Service
	ws   *websocket.Conn
	tcID string
	host string
	log  *slog.Logger

	out     chan []byte
	in      chan inEvent
	closing chan struct{}
	endOnce sync.Once
	// Set once, before closing is closed.
	endMsg    []byte
	closeCode websocket.StatusCode
	closeWhy  string
	mode      detachMode

	// authenticated counts the socket out of the pending ones (see
	// pendingSockets); nil in tests that make a conn directly.
	authenticated func()

	renegotiateCh chan struct{}
	connectedCh   chan struct{}
	iceCh         chan struct{} // ICE disconnected: restart it
	admitCh       chan struct{} // the waiting room let this connection in
	lastSeen      atomic.Int64
	warned        atomic.Bool
	bwe           bwe // downlink estimate (bwe.go)

	// actor is who opened the socket (audit trail); the participant is
	// added at authentication.
	actor teleconsult.Actor

	// Set by the run loop at authentication, read-only afterwards.
	adm  *teleconsult.Admission
	pid  string
	room *room

	// held is set by the run loop (or by room.wait and room.hold, which
	// it calls) and read by it only.
	held held

	// Run loop only.
	pc           *webrtc.PeerConnection
	camera       *webrtc.RTPTransceiver // receiving the camera, offered simulcast
	subs         map[*pubTrack]*subscription
	freed        int                     // forwarding transceivers whose track went
	offer        *sdp.SessionDescription // in flight, nil when stable
	again        bool                    // renegotiate when the answer comes
	remoteSet    bool
	pendingCands []webrtc.ICECandidateInit
	candidates   int
	wantRestart  string    // why an ICE restart is wanted; empty: none
	lastRestart  time.Time // when the last ICE restart was offered
	bad          int
	chatTokens   bucket
	limits       boardLimits // board and pointer messages (board.go)
	modTokens    bucket

	mu         sync.Mutex
	recv       map[*webrtc.RTPReceiver]string // receiver → source
	published  []*pubTrack
	offerSent  bool
	heldCands  [][]byte
	cleaningUp bool
	media      sync.WaitGroup
	wg         sync.WaitGroup
}

// inEvent is a message from the reader: decoded, or why not.
type inEvent struct {
	msg inMessage
	err error
}

func newConn(p *Provider, svc *teleconsult.Service, ws *websocket.Conn, tcID, host string) *conn {
	c := &conn{
		p: p, svc: svc, ws: ws, tcID: tcID, host: host,
		log:           p.log.With("id", tcID, "conn", teleconsult.NewID()[:8]),
		out:           make(chan []byte, outQueue),
		in:            make(chan inEvent),
		closing:       make(chan struct{}),
		renegotiateCh: make(chan struct{}, 1),
		connectedCh:   make(chan struct{}, 1),
		iceCh:         make(chan struct{}, 1),
		admitCh:       make(chan struct{}, 1),
		subs:          map[*pubTrack]*subscription{},
		recv:          map[*webrtc.RTPReceiver]string{},
		chatTokens:    newBucket(chatRate, chatBurst),
		modTokens:     newBucket(modRate, modBurst),
	}
	c.lastSeen.Store(time.Now().UnixNano())
	return c
}

// serve runs the connection to its end and cleans up.
func (c *conn) serve() {
	// Frames are read through a limit of MaxMessageBytes+1 (reader); the
	// library's own limit is only a backstop above it.
	c.ws.SetReadLimit(MaxMessageBytes + 1)
	c.wg.Add(2)
	go c.reader()
	go c.writer()
	c.run()
	c.cleanup()
	c.wg.Wait()
}

// end ends the connection once: the queued messages and then, unless
// reason is empty, end{reason, message} are written, and the socket is
// closed with the reason's code ([endCodes]; going away for none). mode
// says what it means for the participant.
func (c *conn) end(reason, message string, mode detachMode) {
	code, ok := endCodes[reason]
	if !ok {
		code = websocket.StatusGoingAway
	}
	c.endOnce.Do(func() {
		if reason != "" {
			c.endMsg, _ = json.Marshal(outEnd{Type: typeEnd, Reason: reason, Message: message})
		}
		c.closeCode, c.closeWhy, c.mode = code, reason, mode
		close(c.closing)
	})
}

// dropped ends a connection whose socket failed: nothing can be written.
func (c *conn) dropped() { c.end("", "", detachGrace) }

// send queues a message.
func (c *conn) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.log.Error("cannot marshal a message", "err", err)
		return
	}
	c.sendRaw(b)
}

// sendRaw queues an encoded message without blocking; a peer that cannot
// keep up is disconnected.
func (c *conn) sendRaw(b []byte) {
	select {
	case <-c.closing:
		return
	default:
	}
	select {
	case c.out <- b:
	default:
		c.log.Warn("outgoing queue full: disconnecting")
		c.end(endTooSlow, "the connection cannot keep up", detachGrace)
	}
}

func (c *conn) sendError(msg string) { c.send(outError{Type: typeError, Message: msg}) }

// renegotiate asks the run loop for a new offer.
func (c *conn) renegotiate() {
	select {
	case c.renegotiateCh <- struct{}{}:
	default:
	}
}

// reader reads frames, enforces the size and rate limits and decodes.
func (c *conn) reader() {
	defer c.wg.Done()
	rate := newBucket(msgRate, msgBurst)
	for {
		typ, rd, err := c.ws.Reader(c.p.ctx)
		if err != nil {
			c.dropped()
			return
		}
		b, err := io.ReadAll(io.LimitReader(rd, MaxMessageBytes+1))
		if err != nil {
			c.dropped()
			return
		}
		c.lastSeen.Store(time.Now().UnixNano())
		ev := inEvent{}
		switch {
		case len(b) > MaxMessageBytes:
			ev.err = ErrMessageTooLarge
		case typ != websocket.MessageText:
			ev.err = fmt.Errorf("%w: binary frames are not accepted", ErrMalformed)
		case !rate.allow():
			ev.err = errFlood
		default:
			ev.msg, ev.err = decodeMessage(b)
		}
		select {
		case c.in <- ev:
		case <-c.closing:
			return
		}
		if errors.Is(ev.err, ErrMessageTooLarge) {
			return
		}
	}
}

var errFlood = errors.New("too many messages: slow down")

// defaultMaxFreed bounds the media sections of tracks that went, which
// stay in a session (inactive): past it the page is asked to reconnect,
// which starts a fresh session (within the grace period, unseen by the
// others).
const defaultMaxFreed = 24

var errSessionTooLarge = errors.New("sfu: media session too large")

// writer writes queued messages; when the connection ends it flushes the
// queue, writes the end message and closes the socket.
func (c *conn) writer() {
	defer c.wg.Done()
	for {
		select {
		case b := <-c.out:
			if c.write(b) != nil {
				c.dropped()
				_ = c.ws.CloseNow() // the write failed: the socket is gone either way
				return
			}
		case <-c.closing:
			for {
				select {
				case b := <-c.out:
					if c.write(b) != nil {
						_ = c.ws.CloseNow() // as above
						return
					}
					continue
				default:
				}
				break
			}
			if c.endMsg != nil {
				if c.write(c.endMsg) != nil {
					_ = c.ws.CloseNow() // as above
					return
				}
			}
			// The closing handshake is best effort: the page reconnects
			// or has gone, and there is nothing left to send it.
			_ = c.ws.Close(c.closeCode, c.closeWhy)
			return
		}
	}
}

func (c *conn) write(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// run is the connection's loop: authentication, then messages and
// renegotiations, until the connection ends.
func (c *conn) run() {
	auth := time.NewTimer(c.p.cfg.AuthTimeout)
	defer auth.Stop()
	idleEvery := min(c.p.cfg.IdleTimeout/3, 5*time.Second)
	idle := time.NewTicker(idleEvery)
	defer idle.Stop()
	for {
		select {
		case <-c.closing:
			return
		case <-auth.C:
			if c.adm == nil {
				c.end(endUnauthorized, "no auth message in time", detachNone)
			}
		case <-idle.C:
			if time.Since(time.Unix(0, c.lastSeen.Load())) > c.p.cfg.IdleTimeout {
				c.end(endTimeout, "nothing received for too long", detachGrace)
			}
		case ev := <-c.in:
			c.handle(ev)
		case <-c.renegotiateCh:
			c.negotiate()
		case <-c.iceCh:
			c.restartICE("disconnected")
		case <-c.admitCh:
			if c.held == heldWaiting {
				c.enter()
			}
		case <-c.connectedCh:
			for _, s := range c.subs {
				s.fresh = false
				s.track.requestKeyframe(false)
			}
		}
	}
}

// refuse answers a bad message with an error; too many close the
// connection.
func (c *conn) refuse(msg string) {
	c.bad++
	if c.bad > maxBadMessages {
		c.log.Info("too many bad messages: disconnecting")
		c.end(endPolicy, "too many invalid messages", detachGrace)
		return
	}
	c.sendError(msg)
}

func (c *conn) handle(ev inEvent) {
	if errors.Is(ev.err, ErrMessageTooLarge) {
		c.sendError(ErrMessageTooLarge.Error())
		c.end(endTooLarge, ErrMessageTooLarge.Error(), detachGrace)
		return
	}
	if c.adm == nil {
		if ev.err != nil || ev.msg.Type != typeAuth {
			c.end(endUnauthorized, "the first message must be {\"type\":\"auth\",\"token\":…}", detachNone)
			return
		}
		c.authenticate(ev.msg.Token, ev.msg.Lobby)
		return
	}
	if ev.err != nil {
		if errors.Is(ev.err, errFlood) {
			c.refuse(errFlood.Error())
		} else {
			c.refuse(describeDecodeError(ev.err))
		}
		return
	}
	m := ev.msg
	if c.held != heldNot {
		c.handleHeld(m)
		return
	}
	switch m.Type {
	case typeAuth:
		c.refuse("already authenticated")
	case typeJoin:
		c.refuse("already in the call")
	case typeAdmit, typeDecline:
		c.decide(m.ParticipantID, m.Type == typeAdmit)
	case typeAutoAdmit:
		c.autoAdmit(m.On)
	case typeModerate:
		c.moderate(m.ParticipantID, m.Action)
	case typeOffer:
		c.refuse("the server always offers: answer its offer instead")
	case typeAnswer:
		c.answer(m.SDP)
	case typeCandidate:
		c.candidate(m.Candidate)
	case typeChat:
		c.chat(m.Text)
	case typePresent:
		c.present(m.On)
	case typeBoard:
		c.boardOp(m.Board)
	case typePointer:
		c.pointer(m.Pointer)
	case typeLeave:
		c.log.Info("participant left")
		c.end(endLeft, "", detachRemove)
	case typePing:
		c.send(outType{Type: typePong})
	case typeRestartICE:
		c.restartICE("asked")
	}
}

// handleHeld handles a message of a connection held out of the call: a
// participant in the waiting room may only leave (and ping); one held
// before the call by choice may also admit, decline and join.
func (c *conn) handleHeld(m inMessage) {
	switch {
	case m.Type == typeLeave:
		c.log.Info("participant left the waiting room")
		c.end(endLeft, "", detachRemove)
	case m.Type == typePing:
		c.send(outType{Type: typePong})
	case c.held == heldWaiting:
		c.refuse("you are in the waiting room: wait to be let in")
	case m.Type == typeJoin:
		c.enter()
	case m.Type == typeAdmit || m.Type == typeDecline:
		c.decide(m.ParticipantID, m.Type == typeAdmit)
	case m.Type == typeAutoAdmit:
		c.autoAdmit(m.On)
	case m.Type == typeAuth:
		c.refuse("already authenticated")
	default:
		c.refuse("join the call first")
	}
}

// decide admits or declines a waiting participant.
func (c *conn) decide(pid string, admit bool) {
	if err := c.room.decide(c, pid, admit); err != nil {
		c.refuse(err.Error())
	}
}

// autoAdmit sets "admit automatically from the appointment start".
func (c *conn) autoAdmit(on bool) {
	if err := c.room.setAutoAdmit(c, on); err != nil {
		c.refuse(err.Error())
	}
}

// authenticate admits the token's holder and then, if their role waits,
// holds them in the waiting room; if lobby, holds them before the call
// until join; otherwise enters the call.
func (c *conn) authenticate(token string, lobby bool) {
	ctx, cancel := context.WithTimeout(c.p.ctx, 10*time.Second)
	defer cancel()
	adm, err := c.svc.Admit(ctx, token, c.tcID)
	if err == nil && adm.RoomID == "" {
		err = teleconsult.Refuse(teleconsult.ReasonNotReady, "this visit is not ready yet")
	}
	if err != nil {
		reason, _, _ := refusalEnd(err)
		c.log.Info("connection refused", "reason", reason, "code", teleconsult.ErrorCode(err))
		c.end(reason, teleconsult.ErrorMessage(err), detachNone)
		return
	}
	c.adm, c.pid = adm, adm.ParticipantID
	c.actor.UserID, c.actor.ParticipantID = adm.UserID, adm.ParticipantID
	ctx = teleconsult.WithActor(ctx, c.actor)
	if c.authenticated != nil {
		c.authenticated()
	}
	c.log = c.log.With("room", adm.RoomID, "participant", c.pid)
	if c.svc.Settings.Waits(adm.Role) || c.p.wasRemoved(adm) {
		enter, fresh, err := c.p.wait(c)
		if err != nil {
			c.endJoin(err)
			return
		}
		if !enter {
			c.log.Info("participant waiting", "role", adm.Role.String(), "new", fresh)
			if fresh {
				c.svc.ParticipantWaiting(ctx, adm, c.p.now())
			}
			return
		}
	} else if lobby {
		if err := c.p.hold(c); err != nil {
			c.endJoin(err)
			return
		}
		c.log.Info("participant held before the call", "role", adm.Role.String())
		return
	}
	c.enter()
}

// endJoin ends a connection that could not join its room.
func (c *conn) endJoin(err error) {
	switch {
	case errors.Is(err, errRoomFull):
		c.log.Info("connection refused: room full", "expected", c.adm.Expected)
		c.end(endFull, fmt.Sprintf("this visit is for %d participants and they are all connected", c.adm.Expected), detachNone)
	case errors.Is(err, ErrClosed):
		c.end(endShutdown, shutdownMessage, detachNone)
	default:
		c.end(endCancelled, "this visit's room was closed: open your link again", detachNone)
	}
}

// admit lets a waiting connection in (its run loop enters the call).
func (c *conn) admit() {
	select {
	case c.admitCh <- struct{}{}:
	default:
	}
}

// enter joins the room, welcomes the participant and makes the first
// offer.
func (c *conn) enter() {
	adm := c.adm
	c.held = heldNot
	r, peers, err := c.p.join(c)
	if err != nil {
		c.endJoin(err)
		return
	}
	c.log.Info("participant joined", "role", adm.Role.String(), "peers", len(peers))
	w := adm.Window
	c.send(outWelcome{
		Type: typeWelcome, ParticipantID: c.pid, Name: adm.DisplayName, Role: adm.Role.String(),
		Tools: adm.Tools, Peers: peers, ICEServers: c.iceServers(),
		Window: windowInfo{OpensAt: w.Opens.UTC().Format(teleconsult.TimeLayout), StartDate: w.Start.UTC().Format(teleconsult.TimeLayout),
			EndDate: w.End.UTC().Format(teleconsult.TimeLayout), Limited: w.Limited},
		StartAudioOff: c.p.cfg.StartAudioOff, StartVideoOff: c.p.cfg.StartVideoOff,
	})
	if now := c.p.now(); r.inWarning(now) && c.warned.CompareAndSwap(false, true) {
		c.sendRaw(r.warning(now))
	}
	if state := r.boardState(); state != nil {
		c.sendRaw(state)
	}
	r.entered(c)
	r.tellModeration(c)
	if err := c.startMedia(); err != nil {
		c.log.Error("cannot start the peer connection", "err", err)
		c.end(endMediaFailed, "the media connection could not start: reconnect", detachGrace)
	}
}

// iceServers are the configured servers plus the embedded TURN server
// with credentials for this participant.
func (c *conn) iceServers() []ICEServer {
	exp := c.p.now().Add(c.p.cfg.TURN.CredentialTTL)
	if w := c.adm.Window; w.Limited && w.End.Before(exp) {
		exp = w.End.Add(time.Minute)
	}
	return c.p.iceServers(c.host, c.pid, exp)
}

// startMedia makes the peer connection with its receiving transceivers
// (microphone, camera, and screen with screen_sharing) and sends the
// first offer.
func (c *conn) startMedia() error {
	pc, err := c.p.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	c.pc = pc
	pc.OnICECandidate(c.onCandidate)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			select {
			case c.connectedCh <- struct{}{}:
			default:
			}
		case webrtc.PeerConnectionStateFailed:
			c.log.Info("media connection failed")
			c.end(endMediaFailed, "the media connection failed: reconnect", detachGrace)
		}
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s == webrtc.ICEConnectionStateDisconnected {
			select {
			case c.iceCh <- struct{}{}:
			default:
			}
		}
	})
	pc.OnTrack(c.onTrack)
	kinds := []struct {
		kind   webrtc.RTPCodecType
		source string
	}{{webrtc.RTPCodecTypeAudio, sourceMicrophone}, {webrtc.RTPCodecTypeVideo, sourceCamera}}
	if c.adm.Tools.ScreenSharing {
		kinds = append(kinds, struct {
			kind   webrtc.RTPCodecType
			source string
		}{webrtc.RTPCodecTypeVideo, sourceScreen})
	}
	for _, k := range kinds {
		t, err := pc.AddTransceiverFromKind(k.kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.recv[t.Receiver()] = k.source
		c.mu.Unlock()
		if k.source == sourceCamera {
			c.camera = t
		}
	}
	c.negotiate()
	return nil
}

// onCandidate sends the server's candidates, holding them until the first
// offer is out, or the offer of an ICE restart (the page cannot use a
// candidate before the offer).
func (c *conn) onCandidate(cand *webrtc.ICECandidate) {
	m := outCandidate{Type: typeCandidate}
	if cand != nil {
		init := cand.ToJSON()
		m.Candidate = &iceCandidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex}
	}
	b, _ := json.Marshal(m)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.offerSent {
		c.heldCands = append(c.heldCands, b)
		return
	}
	c.sendRaw(b)
}

// negotiate brings the forwarded tracks up to date and sends an offer,
// unless one is in flight (then it runs again when the answer comes).
func (c *conn) negotiate() {
	if c.pc == nil {
		return
	}
	if c.offer != nil {
		c.again = true
		return
	}
	c.again = false
	changed, err := c.syncSubscriptions()
	if errors.Is(err, errSessionTooLarge) {
		c.log.Info("media session too large: the page must reconnect", "freed", c.freed)
		c.end(endMediaFailed, "the media session must be remade: reconnect", detachGrace)
		return
	} else if err != nil {
		c.log.Error("cannot update forwarded tracks", "err", err)
		c.end(endMediaFailed, "the media connection could not be updated: reconnect", detachGrace)
		return
	}
	if !changed && c.pc.LocalDescription() != nil && c.wantRestart == "" {
		return // nothing to offer
	}
	var opts *webrtc.OfferOptions
	if c.wantRestart != "" {
		opts = &webrtc.OfferOptions{ICERestart: true}
		// The candidates gathered for the new credentials wait for the
		// offer that carries them (onCandidate).
		c.mu.Lock()
		c.offerSent = false
		c.mu.Unlock()
	}
	offer, err := c.pc.CreateOffer(opts)
	if err == nil {
		err = c.pc.SetLocalDescription(offer)
	}
	var parsed sdp.SessionDescription
	if err == nil {
		err = parsed.UnmarshalString(offer.SDP)
	}
	// The page is offered simulcast for the camera; pion takes only its
	// own offer as the local description, and reads the streams the
	// answer names (see offerSimulcast).
	if err == nil && c.camera != nil && offerSimulcast(&parsed, c.camera.Mid()) {
		var b []byte
		if b, err = parsed.Marshal(); err == nil {
			offer.SDP = string(b)
		}
	}
	if err != nil {
		c.log.Error("cannot make an offer", "err", err)
		c.end(endMediaFailed, "the media connection could not be updated: reconnect", detachGrace)
		return
	}
	c.offer = &parsed
	if opts != nil {
		c.log.Info("ICE restart offered", "why", c.wantRestart)
		c.wantRestart, c.lastRestart = "", time.Now()
		// The page's candidates for the new credentials wait for its
		// answer, and count anew.
		c.remoteSet, c.candidates = false, 0
	}
	tracks := outTracks{Type: typeTracks, Tracks: []trackInfo{}}
	for _, s := range c.subs {
		t := s.track
		tracks.Tracks = append(tracks.Tracks, trackInfo{StreamID: t.streamID, TrackID: t.trackID, Mid: s.transceiver.Mid(),
			Kind: t.kind.String(), ParticipantID: t.pid, Name: t.name, Source: t.source})
	}
	c.send(tracks)
	c.send(outSDP{Type: typeOffer, SDP: offer.SDP})
	c.mu.Lock()
	if !c.offerSent {
		c.offerSent = true
		for _, b := range c.heldCands {
			c.sendRaw(b)
		}
		c.heldCands = nil
	}
	c.mu.Unlock()
}

// minICERestart is the least time between two ICE restarts: a page
// asking more often is not answered (nor refused).
const minICERestart = 2 * time.Second

// restartICE offers an ICE restart (RFC 8445 section 2.4; RFC 8829
// section 4.1.10.1): new ICE credentials in a new offer, which the page
// answers as any other; the checks find a path on its new network while
// the session, the tracks and the signalling go on. Asked by the page
// (restart-ice: it sees media stall or its ICE disconnect) or by the
// server's own ICE disconnecting. One asked while an offer is in flight
// is made after its answer.
func (c *conn) restartICE(why string) {
	if c.pc == nil || c.pc.LocalDescription() == nil || c.wantRestart != "" {
		return // no session yet, or a restart is coming
	}
	if time.Since(c.lastRestart) < minICERestart {
		c.log.Debug("ICE restart not offered: too soon", "why", why)
		return
	}
	c.wantRestart = why
	c.negotiate()
}

// syncSubscriptions adds the room's tracks this participant does not
// receive yet and removes the ones that are gone, and reports whether
// anything changed.
func (c *conn) syncSubscriptions() (bool, error) {
	want := c.room.tracksFor(c.pid)
	wanted := make(map[*pubTrack]bool, len(want))
	for _, t := range want {
		wanted[t] = true
	}
	changed := false
	for t, s := range c.subs {
		if wanted[t] {
			continue
		}
		if err := c.pc.RemoveTrack(s.sender); err != nil {
			return changed, err
		}
		t.unsubscribe(s.viewer)
		delete(c.subs, t)
		c.freed++
		changed = true
	}
	if c.freed > c.p.cfg.maxFreed {
		return changed, errSessionTooLarge
	}
	for _, t := range want {
		if c.subs[t] != nil {
			continue
		}
		v, local, err := t.subscribe(c)
		if err != nil {
			return changed, err
		}
		tr, err := c.sendTransceiver(local)
		if err != nil {
			t.unsubscribe(v)
			return changed, err
		}
		s := &subscription{track: t, transceiver: tr, sender: tr.Sender(), viewer: v, fresh: true}
		c.subs[t] = s
		changed = true
		if !c.goMedia(s.readRTCP) {
			return changed, ErrClosed
		}
	}
	return changed, nil
}

// sendTransceiver returns a new sendonly transceiver carrying local.
//
// Freed transceivers are not reused for another track: a reused one goes
// from inactive back to sendonly with a new SSRC and msid, which browsers
// take but pion (as an answerer it stops a transceiver offered inactive)
// does not. A session therefore grows by one media section per track
// that came and went, up to defaultMaxFreed (see syncSubscriptions).
func (c *conn) sendTransceiver(local webrtc.TrackLocal) (*webrtc.RTPTransceiver, error) {
	return c.pc.AddTransceiverFromTrack(local, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
}

// goMedia runs f as one of the connection's media goroutines, unless the
// connection is being cleaned up.
func (c *conn) goMedia(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cleaningUp {
		return false
	}
	c.media.Add(1)
	go func() {
		defer c.media.Done()
		f()
	}()
	return true
}

// answer applies the page's answer to the offer in flight.
func (c *conn) answer(text string) {
	if c.offer == nil {
		c.refuse("no offer is waiting for an answer")
		return
	}
	if err := checkAnswer(c.offer, text); err != nil {
		c.refuse(err.Error())
		return
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: text}); err != nil {
		c.log.Info("answer refused", "err", err)
		c.refuse("the answer does not fit the offer")
		return
	}
	c.offer = nil
	c.remoteSet = true
	for _, cand := range c.pendingCands {
		c.addCandidate(cand)
	}
	c.pendingCands = nil
	if c.pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
		for _, s := range c.subs {
			if s.fresh {
				s.fresh = false
				s.track.requestKeyframe(false)
			}
		}
	}
	if c.again {
		c.negotiate()
	}
}

// checkAnswer refuses an answer that does not mirror the offer: another
// number or order of media sections, another kind, or a direction that
// sends where the server only offered to send (forwarded tracks) or
// receives where it only offered to receive.
func checkAnswer(offer *sdp.SessionDescription, text string) error {
	var a sdp.SessionDescription
	if err := a.UnmarshalString(text); err != nil {
		return errors.New("the answer is not valid SDP")
	}
	if len(a.MediaDescriptions) != len(offer.MediaDescriptions) {
		return fmt.Errorf("the answer has %d media sections, the offer %d", len(a.MediaDescriptions), len(offer.MediaDescriptions))
	}
	for i, om := range offer.MediaDescriptions {
		am := a.MediaDescriptions[i]
		omid, _ := om.Attribute("mid")
		amid, _ := am.Attribute("mid")
		if am.MediaName.Media != om.MediaName.Media || amid != omid {
			return fmt.Errorf("media section %d of the answer does not match the offer", i)
		}
		if am.MediaName.Port.Value == 0 {
			continue
		}
		if err := checkRIDs(om, am); err != nil {
			return fmt.Errorf("media section %s: %w", teleconsult.Quote(omid), err)
		}
		od, ad := direction(om), direction(am)
		ok := false
		switch od {
		case "sendonly":
			ok = ad == "recvonly" || ad == "inactive"
		case "recvonly":
			ok = ad == "sendonly" || ad == "inactive"
		case "inactive":
			ok = ad == "inactive"
		default:
			ok = true
		}
		if !ok {
			return fmt.Errorf("media section %s: the answer's direction %s is not allowed for an offered %s", teleconsult.Quote(omid), ad, od)
		}
	}
	return nil
}

func direction(m *sdp.MediaDescription) string {
	for _, a := range m.Attributes {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return "sendrecv"
}

// candidate adds a remote ICE candidate (kept until the first answer).
func (c *conn) candidate(cand *iceCandidate) {
	if cand == nil || cand.Candidate == "" {
		return // end of candidates
	}
	c.candidates++
	if c.candidates > maxCandidates {
		c.refuse("too many ICE candidates")
		return
	}
	init := webrtc.ICECandidateInit{Candidate: cand.Candidate, SDPMid: cand.SDPMid, SDPMLineIndex: cand.SDPMLineIndex,
		UsernameFragment: cand.UsernameFragment}
	if !c.remoteSet {
		c.pendingCands = append(c.pendingCands, init)
		return
	}
	c.addCandidate(init)
}

func (c *conn) addCandidate(init webrtc.ICECandidateInit) {
	if err := c.pc.AddICECandidate(init); err != nil {
		c.log.Debug("remote candidate ignored", "err", err)
	}
}

// chat relays a chat message to everyone in the room, sender included.
func (c *conn) chat(text string) {
	if !c.adm.Tools.Chat {
		c.refuse("chat is not allowed for you")
		return
	}
	if !c.chatTokens.allow() {
		c.refuse("too many chat messages: slow down")
		return
	}
	b, _ := json.Marshal(outChat{Type: typeChat, From: c.pid, Name: c.adm.DisplayName, Text: text,
		At: c.p.now().UTC().Format(time.RFC3339)})
	c.room.broadcast(b, "")
}

// present relays present-to-everyone.
func (c *conn) present(on bool) {
	if !c.adm.Tools.PresentToEveryone {
		c.refuse("present is not allowed for you")
		return
	}
	b, _ := json.Marshal(outPresent{Type: typePresent, ParticipantID: c.pid, On: on})
	c.room.broadcast(b, "")
}

// onTrack publishes a track that arrived on one of the receiving
// transceivers. Anything else is read and dropped.
func (c *conn) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	c.mu.Lock()
	source := c.recv[receiver]
	c.mu.Unlock()
	if source == "" || c.room == nil {
		c.goMedia(func() { drain(remote) })
		return
	}
	if remote.RID() != "" {
		c.onLayer(remote, receiver, source)
		return
	}
	t := c.newPubTrack(remote, source)
	local, err := webrtc.NewTrackLocalStaticRTP(remote.Codec().RTPCodecCapability, t.trackID, t.streamID)
	if err != nil {
		c.log.Error("cannot forward a track", "err", err)
		c.goMedia(func() { drain(remote) })
		return
	}
	t.local = local
	c.mu.Lock()
	if c.cleaningUp {
		c.mu.Unlock()
		return
	}
	c.published = append(c.published, t)
	c.mu.Unlock()
	if !c.room.publish(t) {
		c.goMedia(func() { drain(remote) })
		return
	}
	c.log.Info("track published", "source", source, "codec", remote.Codec().MimeType)
	c.goMedia(func() {
		t.forward()
		c.room.unpublish(t)
	})
	c.goMedia(func() { drainRTCP(receiver) })
}

// newPubTrack returns a track of this participant's source read from
// remote, not published yet.
func (c *conn) newPubTrack(remote *webrtc.TrackRemote, source string) *pubTrack {
	stream := c.pid + "-media"
	if source == sourceScreen {
		stream = c.pid + "-screen"
	}
	ssrc := uint32(remote.SSRC())
	return &pubTrack{owner: c, pid: c.pid, name: c.adm.DisplayName, source: source, kind: remote.Kind(),
		streamID: stream, trackID: source + "-" + teleconsult.NewID()[:12], remote: remote, pc: c.pc,
		ssrc: ssrc, kf: keyframer{pc: c.pc, ssrc: ssrc}}
}

func drain(remote *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := remote.Read(buf); err != nil {
			return
		}
	}
}

// cleanup runs after the loop: the participant leaves the room (or enters
// its grace), its tracks are withdrawn and the peer connection closed.
func (c *conn) cleanup() {
	if c.room != nil {
		c.room.detach(c, c.mode)
	}
	c.mu.Lock()
	c.cleaningUp = true
	pubs := c.published
	c.mu.Unlock()
	for t, s := range c.subs {
		t.unsubscribe(s.viewer)
	}
	if c.room != nil {
		for _, t := range pubs {
			c.room.unpublish(t)
		}
	}
	if c.pc != nil {
		if err := c.pc.Close(); err != nil {
			c.log.Debug("closing the peer connection", "err", err)
		}
	}
	c.media.Wait()
	if c.adm != nil {
		c.log.Info("connection ended", "reason", c.closeWhy)
	}
}

// bucket is a token bucket on the real clock (a transport limit).
type bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newBucket(rate, burst float64) bucket {
	return bucket{rate: rate, burst: burst, tokens: burst, last: time.Now()}
}

func (b *bucket) allow() bool {
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
