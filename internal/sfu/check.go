package sfu

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// CheckPath is the route of the connection check's WebSocket, under the
// API prefix (docs/signalling.md, "Connection check"). It is anonymous:
// the device check page (/check) has no session.
const CheckPath = "/api/v1/telecons-be/check"

// Limits of the connection check. A check holds no room and no data of
// anyone: it is a peer connection with one data channel to this server,
// bounded in time, in bytes and in number, so that anyone may run it.
const (
	// CheckDuration is the longest a check socket and its peer
	// connection live.
	CheckDuration = 20 * time.Second
	// CheckMaxBytes is the most a check moves each way: the page's upload
	// is cut there, and the server's download stops there.
	CheckMaxBytes = 4 << 20
	// CheckTransferTime is how long the server sends for the download
	// measure, at most.
	CheckTransferTime = 3 * time.Second
	// CheckPerClient is how many checks one client may run at once (one
	// direct and one through TURN).
	CheckPerClient = 2
	// CheckPerClientWindow is how many checks one client may start per
	// CheckWindow.
	CheckPerClientWindow = 12
	// CheckWindow is the period of CheckPerClientWindow.
	CheckWindow = 10 * time.Minute
	// CheckMax is how many checks may run at once in all.
	CheckMax = 16
	// checkChunk is the size of the download's messages (the page's
	// upload uses the same): 16 KiB, the largest every browser's SCTP
	// takes without fragmentation trouble.
	checkChunk = 16 << 10
	// checkTURNTTL is the life of the TURN credentials a check gets.
	checkTURNTTL = 2 * time.Minute
	// checkPingRate, checkPingBurst bound the data channel's pings.
	checkPingRate, checkPingBurst = 5, 10
	// checkMaxCommandBytes is the longest data channel text message.
	checkMaxCommandBytes = 32
)

// Commands the page sends on the check's data channel, as text messages;
// binary messages are the upload.
const (
	checkUploadEnd = "upload-end"
	checkDownload  = "download"
	checkPing      = "ping"
)

// errCheckCommand is the answer to a data channel text message that is
// none of the commands.
var errCheckCommand = errors.New("unknown command; expected upload-end, download or ping")

// parseCheckCommand reads a text message of the check's data channel: one
// of the commands, exactly.
func parseCheckCommand(b []byte) (string, error) {
	if len(b) > checkMaxCommandBytes {
		return "", errCheckCommand
	}
	switch s := string(b); s {
	case checkUploadEnd, checkDownload, checkPing:
		return s, nil
	}
	return "", errCheckCommand
}

// checkLimits are the limits of the checks, the constants above but in
// tests.
type checkLimits struct {
	duration, transfer, window     time.Duration
	maxBytes                       int
	perClient, perWindow, maxTotal int
}

func defaultCheckLimits() checkLimits {
	return checkLimits{duration: CheckDuration, transfer: CheckTransferTime, window: CheckWindow,
		maxBytes: CheckMaxBytes, perClient: CheckPerClient, perWindow: CheckPerClientWindow, maxTotal: CheckMax}
}

// checkGate counts the checks running, per client and in all, and the
// checks each client started in the last window.
type checkGate struct {
	mu      sync.Mutex
	n       int
	open    map[string]int
	started map[string][]time.Time // within the window, oldest first
}

// acquire counts a check from client, or reports how long to wait when a
// limit is reached.
func (g *checkGate) acquire(l checkLimits, client string, now time.Time) (release func(), wait time.Duration, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open == nil {
		g.open, g.started = map[string]int{}, map[string][]time.Time{}
	}
	if len(g.started) > 4096 {
		for c, ts := range g.started {
			if now.Sub(ts[len(ts)-1]) >= l.window {
				delete(g.started, c)
			}
		}
	}
	ts := g.started[client]
	for len(ts) > 0 && now.Sub(ts[0]) >= l.window {
		ts = ts[1:]
	}
	switch {
	case len(ts) >= l.perWindow:
		g.started[client] = ts
		return nil, ts[0].Add(l.window).Sub(now), false
	case g.n >= l.maxTotal || g.open[client] >= l.perClient:
		return nil, l.duration, false
	}
	g.started[client] = append(ts, now)
	g.n++
	g.open[client]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.n--
			if g.open[client]--; g.open[client] <= 0 {
				delete(g.open, client)
			}
		})
	}, 0, true
}

// CheckHandler returns the connection check's WebSocket endpoint, to be
// mounted public at GET [CheckPath]: see docs/signalling.md.
func (p *Provider) CheckHandler() http.Handler { return http.HandlerFunc(p.serveCheck) }

func (p *Provider) serveCheck(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.isClosed {
		p.mu.Unlock()
		writeJSONError(w, http.StatusServiceUnavailable, "the connection check is not available")
		return
	}
	p.connWG.Add(1)
	p.mu.Unlock()
	defer p.connWG.Done()
	release, wait, ok := p.checkGate.acquire(p.checkLimits, p.cfg.ClientAddr(r), time.Now())
	if !ok {
		secs := strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
		w.Header().Set("Retry-After", secs)
		writeJSONError(w, http.StatusTooManyRequests, "too many connection checks; try again in "+secs+" seconds")
		return
	}
	defer release()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: p.cfg.OriginPatterns})
	if err != nil {
		return // Accept answered
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.checkLimits.duration)
	defer cancel()
	p.mu.Lock()
	if p.isClosed {
		p.mu.Unlock()
		_ = ws.Close(websocket.StatusGoingAway, endShutdown) // best effort: shutting down
		return
	}
	id := teleconsult.NewID()[:8]
	p.checks[id] = cancel
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.checks, id)
		p.mu.Unlock()
	}()
	ck := &check{p: p, ws: ws, ctx: ctx, limits: p.checkLimits, host: r.Host, id: id,
		log: p.log.With("check", id), pings: newBucket(checkPingRate, checkPingBurst)}
	ck.run()
}

// check is one connection check: its socket and peer connection.
type check struct {
	p      *Provider
	ws     *websocket.Conn
	ctx    context.Context
	limits checkLimits
	host   string
	id     string
	log    *slog.Logger

	pc       *webrtc.PeerConnection
	dc       *webrtc.DataChannel
	offer    *sdp.SessionDescription
	answered bool
	pending  []webrtc.ICECandidateInit
	cands    int
	bad      int

	mu         sync.Mutex // the data channel's state below
	up         int
	upFirst    time.Time
	upLast     time.Time
	upReported bool
	downBegun  bool
	down       int
	pings      bucket
	wg         sync.WaitGroup // the download
}

// send writes one message to the socket; coder/websocket serialises
// concurrent writes. Not under ck.ctx: a write whose context ends drops
// the connection, and the close frame must still go out.
func (ck *check) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return ck.ws.Write(ctx, websocket.MessageText, b)
}

type outCheckWelcome struct {
	Type       string      `json:"type"`
	ICEServers []ICEServer `json:"iceServers"`
	Seconds    int         `json:"seconds"`
	MaxBytes   int         `json:"maxBytes"`
	TransferMs int         `json:"transferMs"`
}

type outCheckResult struct {
	Type  string `json:"type"`
	Bytes int    `json:"bytes"`
	Ms    int64  `json:"ms,omitempty"`
}

// run sends the welcome and the offer, then reads answer and candidates
// until the page goes, the check's time is up or the provider closes.
func (ck *check) run() {
	reason := "done"
	defer func() {
		if ck.pc != nil {
			_ = ck.pc.Close() // nothing to tell anyone: the check is over
		}
		ck.wg.Wait() // the download stops at the closed channel
		ck.mu.Lock()
		up, down := ck.up, ck.down
		ck.mu.Unlock()
		ck.log.Debug("connection check ended", "reason", reason, "up", up, "down", down)
	}()
	ck.ws.SetReadLimit(MaxMessageBytes + 1)
	ended := func() {
		// The check's time is up, or Close cancelled it.
		if errors.Is(ck.ctx.Err(), context.DeadlineExceeded) {
			reason = endTimeout
			_ = ck.ws.Close(websocket.StatusNormalClosure, "the check's time is up") // best effort
		} else {
			reason = endShutdown
			_ = ck.ws.Close(websocket.StatusGoingAway, endShutdown) // best effort
		}
	}
	if err := ck.start(); ck.ctx.Err() != nil {
		ended()
		return
	} else if err != nil {
		ck.log.Error("connection check: cannot start the peer connection", "err", err)
		_ = ck.ws.Close(websocket.StatusInternalError, endMediaFailed) // best effort
		reason = "failed"
		return
	}
	// The reader's context ends only when run does: a cancelled read
	// would drop the connection before the close frame is written.
	readCtx, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	in := make(chan inEvent)
	go func() {
		defer close(in)
		for {
			typ, rd, err := ck.ws.Reader(readCtx)
			if err != nil {
				return
			}
			b, err := io.ReadAll(io.LimitReader(rd, MaxMessageBytes+1))
			if err != nil {
				return
			}
			ev := inEvent{}
			switch {
			case len(b) > MaxMessageBytes:
				ev.err = ErrMessageTooLarge
			case typ != websocket.MessageText:
				ev.err = ErrMalformed
			default:
				ev.msg, ev.err = decodeMessage(b)
			}
			select {
			case in <- ev:
			case <-readCtx.Done():
				return
			}
			if errors.Is(ev.err, ErrMessageTooLarge) {
				return
			}
		}
	}()
	for {
		select {
		case <-ck.ctx.Done():
			ended()
			return
		case ev, ok := <-in:
			if !ok {
				reason = "left"
				_ = ck.ws.CloseNow() // the page has gone
				return
			}
			if why := ck.handle(ev); why != "" {
				reason = why
				return
			}
		}
	}
}

// start makes the peer connection with its data channel and sends the
// welcome and the offer, with every server candidate in it (the server
// has only host candidates: gathering them takes no round trip).
func (ck *check) start() error {
	pc, err := ck.p.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	ck.pc = pc
	ordered := true
	dc, err := pc.CreateDataChannel("check", &webrtc.DataChannelInit{Ordered: &ordered})
	if err != nil {
		return err
	}
	ck.dc = dc
	dc.OnMessage(ck.onMessage)
	// The check's bytes are counted on its own channel only: a channel
	// the page opens is closed at once.
	pc.OnDataChannel(func(d *webrtc.DataChannel) { _ = d.Close() }) // nothing to tell: the page gets the close
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ck.ctx.Done():
		return ck.ctx.Err()
	}
	local := pc.LocalDescription()
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(local.SDP); err != nil {
		return err
	}
	ck.offer = &parsed
	exp := ck.p.now().Add(checkTURNTTL)
	if err := ck.send(outCheckWelcome{Type: typeWelcome, ICEServers: ck.p.iceServers(ck.host, "check_"+ck.id, exp),
		Seconds: int(ck.limits.duration / time.Second), MaxBytes: ck.limits.maxBytes,
		TransferMs: int(ck.limits.transfer / time.Millisecond)}); err != nil {
		return err
	}
	return ck.send(outSDP{Type: typeOffer, SDP: local.SDP})
}

// handle handles one signalling message; it returns why the check ends,
// or "".
func (ck *check) handle(ev inEvent) string {
	refuse := func(msg string) string {
		ck.bad++
		if ck.bad > maxBadMessages {
			_ = ck.send(outEnd{Type: typeEnd, Reason: endPolicy, Message: "too many invalid messages"}) // best effort: closing
			_ = ck.ws.Close(websocket.StatusPolicyViolation, endPolicy)                                 // best effort
			return endPolicy
		}
		_ = ck.send(outError{Type: typeError, Message: msg}) // a failed write ends the reader
		return ""
	}
	switch {
	case errors.Is(ev.err, ErrMessageTooLarge):
		_ = ck.send(outError{Type: typeError, Message: ErrMessageTooLarge.Error()}) // best effort: closing
		_ = ck.ws.Close(websocket.StatusMessageTooBig, endTooLarge)                 // best effort
		return endTooLarge
	case ev.err != nil:
		return refuse(describeDecodeError(ev.err))
	}
	m := ev.msg
	switch m.Type {
	case typeAnswer:
		if ck.answered {
			return refuse("no offer is waiting for an answer")
		}
		if err := checkAnswer(ck.offer, m.SDP); err != nil {
			return refuse(err.Error())
		}
		if err := ck.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
			return refuse("the answer does not fit the offer")
		}
		ck.answered = true
		for _, c := range ck.pending {
			ck.addCandidate(c)
		}
		ck.pending = nil
	case typeCandidate:
		if m.Candidate == nil || m.Candidate.Candidate == "" {
			return "" // end of candidates
		}
		if ck.cands++; ck.cands > maxCandidates {
			return refuse("too many ICE candidates")
		}
		c := webrtc.ICECandidateInit{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid,
			SDPMLineIndex: m.Candidate.SDPMLineIndex, UsernameFragment: m.Candidate.UsernameFragment}
		if !ck.answered {
			ck.pending = append(ck.pending, c)
		} else {
			ck.addCandidate(c)
		}
	case typePing:
		_ = ck.send(outType{Type: typePong}) // a failed write ends the reader
	default:
		return refuse("a connection check takes only answer, candidate and ping")
	}
	return ""
}

func (ck *check) addCandidate(c webrtc.ICECandidateInit) {
	if err := ck.pc.AddICECandidate(c); err != nil {
		ck.log.Debug("remote candidate ignored", "err", err)
	}
}

// dcError tells the page on the data channel what it did wrong.
func (ck *check) dcError(msg string) {
	b, _ := json.Marshal(outError{Type: typeError, Message: msg})
	_ = ck.dc.SendText(string(b)) // the channel is closing if this fails
}

func (ck *check) dcSend(v any) {
	b, _ := json.Marshal(v)
	_ = ck.dc.SendText(string(b)) // the channel is closing if this fails
}

// onMessage takes the upload's bytes and the page's commands.
func (ck *check) onMessage(msg webrtc.DataChannelMessage) {
	ck.mu.Lock()
	defer ck.mu.Unlock()
	if !msg.IsString {
		if ck.upReported {
			ck.dcError("the upload is over")
			return
		}
		now := time.Now()
		if ck.upFirst.IsZero() {
			ck.upFirst = now
		}
		ck.upLast = now
		ck.up += len(msg.Data)
		if ck.up > ck.limits.maxBytes {
			ck.upReported = true
			ck.dcError("the upload is over " + strconv.Itoa(ck.limits.maxBytes) + " bytes")
			_ = ck.dc.Close() // the check's upload is over either way
		}
		return
	}
	cmd, err := parseCheckCommand(msg.Data)
	if err != nil {
		ck.dcError(err.Error())
		return
	}
	switch cmd {
	case checkUploadEnd:
		if ck.upReported {
			ck.dcError("the upload was already measured")
			return
		}
		ck.upReported = true
		ck.dcSend(outCheckResult{Type: "upload", Bytes: ck.up, Ms: ck.upLast.Sub(ck.upFirst).Milliseconds()})
	case checkDownload:
		if ck.downBegun {
			ck.dcError("the download was already measured")
			return
		}
		ck.downBegun = true
		ck.wg.Add(1)
		go func() {
			defer ck.wg.Done()
			ck.download()
		}()
	case checkPing:
		if !ck.pings.allow() {
			ck.dcError(errFlood.Error())
			return
		}
		_ = ck.dc.SendText("pong") // the channel is closing if this fails
	}
}

// download sends the page chunks for at most limits.transfer and
// limits.maxBytes, keeping at most 1 MiB in the channel's buffer, then
// says how much it sent.
func (ck *check) download() {
	const high, low = 1 << 20, 256 << 10
	ck.dc.SetBufferedAmountLowThreshold(low)
	drained := make(chan struct{}, 1)
	ck.dc.OnBufferedAmountLow(func() {
		select {
		case drained <- struct{}{}:
		default:
		}
	})
	chunk := make([]byte, checkChunk)
	deadline := time.Now().Add(ck.limits.transfer)
	sent := 0
	for sent+len(chunk) <= ck.limits.maxBytes && time.Now().Before(deadline) && ck.dc.ReadyState() == webrtc.DataChannelStateOpen {
		if ck.dc.BufferedAmount() > high {
			select {
			case <-drained:
			case <-time.After(50 * time.Millisecond):
			case <-ck.ctx.Done():
				return
			}
			continue
		}
		if err := ck.dc.Send(chunk); err != nil {
			return // the channel closed: the check is over
		}
		sent += len(chunk)
	}
	ck.mu.Lock()
	ck.down = sent
	ck.mu.Unlock()
	ck.dcSend(outCheckResult{Type: "download", Bytes: sent})
}
