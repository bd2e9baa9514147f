package sfu

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// CallPath is the route of the signalling WebSocket, under the API prefix.
const CallPath = "/api/v1/telecons-be/teleconsultation/{id}/call"

// closedRoomMemory is how long a deleted room id is remembered, so that a
// join racing with DeleteRoom is refused.
const closedRoomMemory = time.Hour

// Provider implements [teleconsult.VideoProvider] for the built-in SFU and
// serves the calls: see the package documentation.
type Provider struct {
	cfg  Config
	log  *slog.Logger
	api  *webrtc.API
	mux  io.Closer
	turn *turnServer
	svc  atomic.Pointer[teleconsult.Service]
	// metrics is the provider's Prometheus collector (metrics.go).
	metrics *metrics

	// ctx is the parent of every connection's work; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	rooms    map[roomKey]*room
	closed   map[string]time.Time // room ids deleted, and when
	conns    map[*conn]struct{}
	isClosed bool
	pending  *pendingSockets
	// checks cancels the connection checks running (check.go).
	checks      map[string]context.CancelFunc
	checkGate   checkGate
	checkLimits checkLimits

	startOnce sync.Once
	ticker    *time.Ticker
	bg        sync.WaitGroup // tick loop and call worker
	connWG    sync.WaitGroup // one per connection handler

	callMu      sync.Mutex
	calls       chan callEvent
	callsClosed bool
}

var (
	_ teleconsult.VideoProvider = (*Provider)(nil)
	_ teleconsult.CallNotifier  = (*Provider)(nil)
)

// NewProvider returns the built-in provider. svc may be nil and given
// later with [Provider.SetService] (the Service holds the provider, so
// cmd makes the provider first). With cfg.UDPPort or cfg.TURN.Enabled
// it opens its sockets now; otherwise nothing runs until the first call.
func NewProvider(svc *teleconsult.Service, cfg Config) (*Provider, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Provider{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "sfu"),
		rooms:  map[roomKey]*room{},
		closed: map[string]time.Time{},
		conns:  map[*conn]struct{}{},
		calls:  make(chan callEvent, 256),
		checks: map[string]context.CancelFunc{},

		checkLimits: defaultCheckLimits(),
	}
	p.pending = newPendingSockets(cfg.MaxPendingPerClient, cfg.MaxPending)
	p.metrics = newMetrics(p)
	if p.api, p.mux, err = newAPI(cfg, countingFactory{p.metrics}); err != nil {
		return nil, err
	}
	if cfg.TURN.Enabled {
		if p.turn, err = newTURNServer(cfg, &pionLogs{log: cfg.Logger}); err != nil {
			if p.mux != nil {
				_ = p.mux.Close() // the TURN error is the one to report
			}
			return nil, err
		}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if svc != nil {
		p.SetService(svc)
	}
	return p, nil
}

// iceServers are the configured servers plus the embedded TURN server
// with credentials for user until exp; host is the host the page reached
// this server at, the TURN server's host when neither TURN.Host nor
// PublicIP is set.
func (p *Provider) iceServers(host, user string, exp time.Time) []ICEServer {
	out := make([]ICEServer, 0, len(p.cfg.ICEServers)+1)
	out = append(out, p.cfg.ICEServers...)
	t := p.turn
	if t == nil {
		return out
	}
	switch {
	case p.cfg.TURN.Host != "":
		host = p.cfg.TURN.Host
	case p.cfg.PublicIP != "":
		host = p.cfg.PublicIP
	default:
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	name, pass := t.credentials(user, exp)
	hp := net.JoinHostPort(host, strconv.Itoa(t.port))
	return append(out, ICEServer{URLs: []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"},
		Username: name, Credential: pass})
}

// SetService gives the provider the service whose rules it enforces
// (Admit, Recheck, CallStarted, CallEnded, Settings).
func (p *Provider) SetService(svc *teleconsult.Service) { p.svc.Store(svc) }

// TURNPort is the port of the embedded TURN server, 0 without one.
func (p *Provider) TURNPort() int {
	if p.turn == nil {
		return 0
	}
	return p.turn.port
}

func (p *Provider) now() time.Time { return p.cfg.Now() }

// Name implements [teleconsult.VideoProvider.Name].
func (*Provider) Name() string { return "builtin" }

// NewUser implements [teleconsult.VideoProvider.NewUser]: built-in user ids
// are random, so they say nothing about the person.
func (*Provider) NewUser(context.Context, string, teleconsult.Role) (string, error) {
	return "u_" + teleconsult.NewID(), nil
}

// CreateRoom implements [teleconsult.VideoProvider.CreateRoom]: a room id;
// the room itself comes to life with its first participant.
func (*Provider) CreateRoom(context.Context, *teleconsult.Teleconsultation, *teleconsult.Settings) (*teleconsult.Room, error) {
	return &teleconsult.Room{ID: "r_" + teleconsult.NewID()}, nil
}

// DeleteRoom implements [teleconsult.VideoProvider.DeleteRoom]: everyone
// in the room gets end{reason: cancelled} (the teleconsultation was
// cancelled or replaced) or end{reason: revoked} (the room was remade) and
// close code 4410, at once. Joins of the room are refused from then on.
func (p *Provider) DeleteRoom(_ context.Context, tc *teleconsult.Teleconsultation) error {
	if tc.ProviderRoomID == "" {
		return nil
	}
	key := roomKey{tc: tc.ID, room: tc.ProviderRoomID}
	now := p.now()
	p.mu.Lock()
	if len(p.closed) > 1024 {
		p.pruneClosed(now)
	}
	p.closed[tc.ProviderRoomID] = now
	r := p.rooms[key]
	p.mu.Unlock()
	if r == nil {
		return nil
	}
	gone := tc.Gone()
	reason := endOf(gone)
	p.log.Info("room deleted: disconnecting", "id", tc.ID, "room", tc.ProviderRoomID, "reason", gone.Reason)
	r.closeAll(reason, gone.Message, !tc.State.Final())
	return nil
}

// Closed reports whether room was deleted (in the last hour).
func (p *Provider) Closed(room string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.closed[room]
	return ok
}

// Handler returns the signalling WebSocket endpoint, to be mounted at
// GET [CallPath] (it reads the teleconsultation id with
// r.PathValue("id")). It authenticates by itself: mount it public.
func (p *Provider) Handler() http.Handler { return http.HandlerFunc(p.serveCall) }

// Announce sends msg, marshalled to JSON, to everyone in the calls of a
// teleconsultation (for example {type: "upload", …}). Nobody in a call:
// nothing happens.
func (p *Provider) Announce(teleconsultationID string, msg any) {
	b, err := json.Marshal(msg)
	if err != nil {
		p.log.Error("announce: cannot marshal message", "id", teleconsultationID, "err", err)
		return
	}
	if len(b) > MaxMessageBytes {
		p.log.Error("announce: message too large", "id", teleconsultationID, "bytes", len(b))
		return
	}
	p.mu.Lock()
	var rooms []*room
	for k, r := range p.rooms {
		if k.tc == teleconsultationID {
			rooms = append(rooms, r)
		}
	}
	p.mu.Unlock()
	for _, r := range rooms {
		r.broadcast(b, "")
	}
}

// Close ends every call (end{reason: shutdown}, close 1001), records the
// calls as ended, and stops the TURN server and the UDP mux. Call it
// before shutting the HTTP server down: hijacked connections are not
// waited for by http.Server.Shutdown.
func (p *Provider) Close() error {
	p.mu.Lock()
	if p.isClosed {
		p.mu.Unlock()
		return nil
	}
	p.isClosed = true
	rooms := make([]*room, 0, len(p.rooms))
	for _, r := range p.rooms {
		rooms = append(rooms, r)
	}
	conns := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	for _, cancel := range p.checks {
		cancel()
	}
	p.mu.Unlock()
	for _, r := range rooms {
		r.closeAll(endShutdown, shutdownMessage, true)
	}
	for _, c := range conns {
		c.end(endShutdown, shutdownMessage, detachNone)
	}
	p.connWG.Wait()
	p.cancel()
	if p.ticker != nil {
		p.ticker.Stop()
	}
	p.callMu.Lock()
	p.callsClosed = true
	close(p.calls)
	p.callMu.Unlock()
	p.bg.Wait()
	var err error
	if p.turn != nil {
		err = p.turn.Close()
	}
	if p.mux != nil {
		if e := p.mux.Close(); err == nil {
			err = e
		}
	}
	return err
}

// start runs the tick loop and the call-state worker, once.
func (p *Provider) start() {
	p.startOnce.Do(func() {
		ticks := p.cfg.Ticks
		if ticks == nil {
			p.ticker = time.NewTicker(p.cfg.RecheckInterval)
			ticks = p.ticker.C
		}
		p.bg.Add(2)
		go p.tickLoop(ticks)
		go p.callWorker()
	})
}

func (p *Provider) tickLoop(ticks <-chan time.Time) {
	defer p.bg.Done()
	for {
		select {
		case <-p.ctx.Done():
			return
		case _, ok := <-ticks:
			if !ok {
				return
			}
			p.checkRooms()
		}
	}
}

// checkRooms runs every room's periodic checks, rooms in parallel, and
// returns when all are done.
func (p *Provider) checkRooms() {
	now := p.now()
	p.mu.Lock()
	rooms := make([]*room, 0, len(p.rooms))
	for _, r := range p.rooms {
		rooms = append(rooms, r)
	}
	p.pruneClosed(now)
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range rooms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.check(ctx, now)
		}()
	}
	wg.Wait()
}

// pruneClosed forgets rooms deleted long ago; p.mu is held.
func (p *Provider) pruneClosed(now time.Time) {
	for id, at := range p.closed {
		if now.Sub(at) > closedRoomMemory {
			delete(p.closed, id)
		}
	}
}

// callEvent is a call starting or ending in a teleconsultation or, with
// user set, that participant joining (started) or leaving.
type callEvent struct {
	tc      string
	started bool
	user    string
}

// recordCall queues a call event for the worker, which records them in
// order with Service.CallStarted and Service.CallEnded.
func (p *Provider) recordCall(tc string, started bool) {
	p.callMu.Lock()
	defer p.callMu.Unlock()
	if p.callsClosed {
		return
	}
	p.calls <- callEvent{tc: tc, started: started}
}

// recordPresence queues, for the worker, that participant user of
// teleconsultation tc joined (or left) the call: Service.ParticipantJoined
// and Service.ParticipantLeft, in order with the call events.
func (p *Provider) recordPresence(tc, user string, joined bool) {
	p.callMu.Lock()
	defer p.callMu.Unlock()
	if p.callsClosed {
		return
	}
	p.calls <- callEvent{tc: tc, started: joined, user: user}
}

func (p *Provider) callWorker() {
	defer p.bg.Done()
	for ev := range p.calls {
		svc := p.svc.Load()
		if svc == nil {
			continue
		}
		// The SFU itself records what it saw (audit trail actor).
		ctx, cancel := context.WithTimeout(teleconsult.WithActor(context.Background(), teleconsult.Actor{Kind: teleconsult.ActorProvider}), 10*time.Second)
		var err error
		what := "call started"
		switch {
		case ev.user != "" && ev.started:
			what = "participant joined"
			err = svc.ParticipantJoined(ctx, ev.tc, ev.user)
		case ev.user != "":
			what = "participant left"
			err = svc.ParticipantLeft(ctx, ev.tc, ev.user)
		case ev.started:
			err = svc.CallStarted(ctx, ev.tc)
		default:
			what = "call ended"
			err = svc.CallEnded(ctx, ev.tc)
		}
		cancel()
		switch code := teleconsult.ErrorCode(err); code {
		case "":
		case teleconsult.ECONFLICT, teleconsult.EGONE, teleconsult.ENOTFOUND:
			// Already recorded, or the visit is gone: nothing to record.
			p.log.Info(what+": state not changed", "id", ev.tc, "code", code)
		default:
			p.log.Warn(what+": could not record", "id", ev.tc, "err", err)
		}
	}
}

// roomFor returns the live room of an admission, making it if needed.
func (p *Provider) roomFor(adm *teleconsult.Admission) (*room, error) {
	key := roomKey{tc: adm.TeleconsultationID, room: adm.RoomID}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isClosed {
		return nil, ErrClosed
	}
	if _, gone := p.closed[adm.RoomID]; gone {
		return nil, errRoomGone
	}
	r := p.rooms[key]
	if r == nil || r.isDead() {
		r = newRoom(p, key, adm)
		p.rooms[key] = r
	}
	return r, nil
}

// join puts c in its room.
func (p *Provider) join(c *conn) (*room, []peerInfo, error) {
	for range 3 {
		r, err := p.roomFor(c.adm)
		if err != nil {
			return nil, nil, err
		}
		peers, err := r.join(c)
		if errors.Is(err, errRoomDead) {
			continue
		}
		return r, peers, err
	}
	return nil, nil, errRoomGone
}

// wait puts c in its room's waiting room (see room.wait).
func (p *Provider) wait(c *conn) (enter, fresh bool, err error) {
	for range 3 {
		r, err := p.roomFor(c.adm)
		if err != nil {
			return false, false, err
		}
		enter, fresh, err = r.wait(c)
		if errors.Is(err, errRoomDead) {
			continue
		}
		return enter, fresh, err
	}
	return false, false, errRoomGone
}

// hold holds c before its room's call (see room.hold).
func (p *Provider) hold(c *conn) error {
	for range 3 {
		r, err := p.roomFor(c.adm)
		if err != nil {
			return err
		}
		if err = r.hold(c); !errors.Is(err, errRoomDead) {
			return err
		}
	}
	return errRoomGone
}

// dropRoom forgets r.
func (p *Provider) dropRoom(r *room) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rooms[r.key] == r {
		delete(p.rooms, r.key)
	}
}

// serveCall is the WebSocket endpoint.
func (p *Provider) serveCall(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		writeJSONError(w, http.StatusNotFound, "not found")
		return
	}
	svc := p.svc.Load()
	p.mu.Lock()
	if svc == nil || p.isClosed {
		p.mu.Unlock()
		writeJSONError(w, http.StatusServiceUnavailable, "calls are not available")
		return
	}
	p.connWG.Add(1)
	p.mu.Unlock()
	defer p.connWG.Done()
	// Counted until it authenticates (or ends): refused before the
	// upgrade past a cap, so a flood costs no socket beyond it.
	release, ok := p.pending.acquire(p.cfg.ClientAddr(r))
	if !ok {
		wait := strconv.Itoa(max(1, int(math.Ceil(p.cfg.AuthTimeout.Seconds()))))
		w.Header().Set("Retry-After", wait)
		writeJSONError(w, http.StatusTooManyRequests,
			"too many call connections are waiting to authenticate; try again in "+wait+" seconds")
		return
	}
	defer release()
	p.start()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: p.cfg.OriginPatterns})
	if err != nil {
		return // Accept answered
	}
	c := newConn(p, svc, ws, id, r.Host)
	c.actor = callActor(r)
	c.authenticated = release
	p.mu.Lock()
	if p.isClosed {
		p.mu.Unlock()
		_ = ws.Close(websocket.StatusGoingAway, endShutdown) // best effort: shutting down
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	began := time.Now()
	c.serve()
	p.metrics.connectionEnded(c.room != nil, string(c.closeWhy), time.Since(began))
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	_, _ = w.Write(b) // the client has gone if this fails: no one to tell
}
