package sfu

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// End reasons (end.reason) and close codes: see docs/signalling.md, whose
// table is checked against [endCodes]. The reasons of refusals (the first
// five) are the domain's, from [teleconsult.Refusals].
const (
	endUnauthorized = "unauthorized"
	endForbidden    = "forbidden"
	endRevoked      = "revoked"
	endCancelled    = "cancelled"
	endExpired      = "expired"
	endFull         = "full"
	endReplaced     = "replaced"
	endCallEnded    = "call-ended"
	endLeft         = "left"
	endShutdown     = "shutdown"
	endTimeout      = "timeout"
	endPolicy       = "policy"
	endTooLarge     = "too-large"
	endTooSlow      = "too-slow"
	endMediaFailed  = "media-failed"
	endUnavailable  = "unavailable"

	closeUnauthorized websocket.StatusCode = teleconsult.CloseUnauthorized
	closeForbidden    websocket.StatusCode = teleconsult.CloseForbidden
	closeGone         websocket.StatusCode = teleconsult.CloseGone
)

// shutdownMessage is the message of every end with endShutdown: the server
// is going away (a restart, a deploy, a node taken out of service), and the
// page reconnects in a moment, to this server or to another.
const shutdownMessage = "the server is going away: reconnect in a moment"

// ownEnds are the ends this package decides by itself (the protocol's),
// with their close codes.
var ownEnds = map[string]websocket.StatusCode{
	endFull:        closeForbidden,
	endReplaced:    closeGone,
	endCallEnded:   websocket.StatusNormalClosure,
	endLeft:        websocket.StatusNormalClosure,
	endShutdown:    websocket.StatusGoingAway,
	endTimeout:     websocket.StatusGoingAway,
	endPolicy:      websocket.StatusPolicyViolation,
	endTooSlow:     websocket.StatusPolicyViolation,
	endTooLarge:    websocket.StatusMessageTooBig,
	endMediaFailed: websocket.StatusInternalError,
	endUnavailable: websocket.StatusTryAgainLater,
}

// endCodes maps every end reason to its close code: ownEnds and the
// refusals of the domain (each [teleconsult.Refusal]'s End and CloseCode).
var endCodes = func() map[string]websocket.StatusCode {
	m := maps.Clone(ownEnds)
	for _, ref := range teleconsult.Refusals() {
		code := websocket.StatusCode(ref.CloseCode)
		if c, ok := m[ref.End]; ok && c != code {
			panic("sfu: end reason " + ref.End + " has two close codes")
		}
		m[ref.End] = code
	}
	return m
}()

// endOf returns the end reason of a refusal.
func endOf(err error) string {
	reason, _, _ := refusalEnd(err)
	return reason
}

// refusalEnd returns the end reason and close code of a refusal of
// Admit or Recheck (or of a deleted room). transient is true for an error
// that is not a refusal (the store is unreachable): the participant is then
// neither refused for good nor ejected, and a connection being opened is
// told to try again later.
func refusalEnd(err error) (reason string, code websocket.StatusCode, transient bool) {
	ref, ok := teleconsult.ReasonOf(err).Refusal()
	if !ok {
		return endUnavailable, endCodes[endUnavailable], true
	}
	return ref.End, websocket.StatusCode(ref.CloseCode), false
}

var (
	errRoomDead = errors.New("sfu: room ended")
	errRoomGone = errors.New("sfu: room deleted")
	errRoomFull = errors.New("sfu: room full")
)

// roomKey names a room: one teleconsultation's room of one revision.
type roomKey struct{ tc, room string }

// room is one call: its members (present, or dropped and within their
// grace), the tracks they publish, and whether a call is recorded as
// running. A room ends (dead) when its last member goes, when the LIVE
// rule ends the call, or when it is deleted; a later join makes a new one.
type room struct {
	p        *Provider
	key      roomKey
	window   teleconsult.Window
	expected int

	mu          sync.Mutex
	dead        bool
	members     map[string]*member
	seq         int
	tracks      []*pubTrack
	callRunning bool
	// board is the call's whiteboard (board.go); nil until first used.
	board *board

	// The waiting room (see waiting.go): who waits, by participant id;
	// the connections of participants who admit that are held before the
	// call (their pre-join screen); who was let in (they do not wait
	// again while the room lives); and "admit automatically from the
	// appointment start".
	waiting   map[string]*waiter
	lobby     map[*conn]bool
	admitted  map[string]bool
	autoAdmit bool

	// In-call moderation (see moderate.go): what is held back of each
	// participant, and who was removed and waits to be let in again.
	mod     map[string]*modState
	removed map[string]bool
}

// member is a participant in a room.
type member struct {
	pid  string
	user string // the external user id, for presence events
	name string
	seq  int
	// conn is the current connection; nil while the participant's
	// connection dropped and graceUntil has not passed.
	conn       *conn
	graceUntil time.Time
	// admits is true when the participant's role admits (waiting room).
	admits bool
	// adm is the participant's admission, of their latest connection.
	adm *teleconsult.Admission
}

func newRoom(p *Provider, key roomKey, adm *teleconsult.Admission) *room {
	return &room{p: p, key: key, window: adm.Window, expected: adm.Expected, members: map[string]*member{},
		waiting: map[string]*waiter{}, lobby: map[*conn]bool{}, admitted: map[string]bool{},
		mod: map[string]*modState{}, removed: map[string]bool{}}
}

func (r *room) isDead() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dead
}

// join makes c the connection of its participant, replacing an older one
// (which gets end{reason: replaced}), and returns the others.
func (r *room) join(c *conn) ([]peerInfo, error) {
	joined, _ := json.Marshal(outPeerJoined{Type: typePeerJoined, ParticipantID: c.pid, Name: c.adm.DisplayName})
	r.mu.Lock()
	if r.dead {
		r.mu.Unlock()
		return nil, errRoomDead
	}
	m := r.members[c.pid]
	fresh := m == nil
	if fresh {
		if r.expected > 0 && len(r.members) >= r.expected {
			r.mu.Unlock()
			return nil, errRoomFull
		}
		r.seq++
		m = &member{pid: c.pid, user: c.adm.UserID, seq: r.seq}
		r.members[c.pid] = m
	}
	old := m.conn
	switch {
	case !fresh && old == nil:
		r.p.metrics.reconnected(reconnectResumed)
	case !fresh:
		r.p.metrics.reconnected(reconnectReplaced)
	}
	m.conn, m.name, m.graceUntil, m.adm = c, c.adm.DisplayName, time.Time{}, c.adm
	m.admits = r.admits(c)
	delete(r.lobby, c)
	c.room = r
	peers := []peerInfo{}
	others := make([]*member, 0, len(r.members))
	for _, o := range r.members {
		if o != m {
			others = append(others, o)
		}
	}
	sort.Slice(others, func(i, j int) bool { return others[i].seq < others[j].seq })
	for _, o := range others {
		peers = append(peers, peerInfo{ParticipantID: o.pid, Name: o.name})
		if fresh && o.conn != nil {
			o.conn.sendRaw(joined)
		}
	}
	start := !r.callRunning
	r.callRunning = true
	r.mu.Unlock()
	if old != nil {
		old.log.Info("connection replaced by a newer one")
		old.end(endReplaced, "you joined from another window or device", detachNone)
	}
	if fresh {
		r.p.recordPresence(r.key.tc, m.user, true)
	}
	if start {
		r.p.recordCall(r.key.tc, true)
	}
	return peers, nil
}

// detachMode says what a connection's end means for its participant.
type detachMode int

const (
	// detachNone: nothing (not joined, replaced, or the room ended).
	detachNone detachMode = iota
	// detachGrace: the connection dropped; the participant stays for the
	// grace period, in which they may come back.
	detachGrace
	// detachRemove: the participant left or was ejected.
	detachRemove
)

// detach is called when c ended.
func (r *room) detach(c *conn, mode detachMode) {
	r.mu.Lock()
	if r.detachHeldLocked(c, mode) {
		return // unlocked
	}
	m := r.members[c.pid]
	if m == nil || m.conn != c || mode == detachNone {
		r.mu.Unlock()
		return
	}
	if mode == detachGrace {
		m.conn, m.graceUntil = nil, r.p.now().Add(r.p.cfg.Grace)
		if m.admits {
			r.lobbyChangedLocked(r.p.now())
		}
		r.mu.Unlock()
		return
	}
	r.removeLocked(m)
	r.afterRemoval() // unlocks
}

// removeLocked removes m and tells the others.
func (r *room) removeLocked(m *member) {
	delete(r.members, m.pid)
	r.p.recordPresence(r.key.tc, m.user, false)
	left, _ := json.Marshal(outPeerLeft{Type: typePeerLeft, ParticipantID: m.pid})
	for _, o := range r.members {
		if o.conn != nil {
			o.conn.sendRaw(left)
		}
	}
}

// afterRemoval applies, with r.mu held (and released), what follows a
// participant's going: the room ends with its last member, and with the
// LIVE rule the call ends for everyone left.
func (r *room) afterRemoval() {
	svc := r.p.svc.Load()
	remaining := len(r.members)
	switch {
	case remaining == 0:
		// The call is over; the room lives on while someone waits.
		empty := r.emptyLocked()
		r.dead = empty
		running := r.callRunning
		r.callRunning = false
		if !empty {
			r.lobbyChangedLocked(r.p.now())
		}
		r.mu.Unlock()
		if empty {
			r.p.dropRoom(r)
		}
		if running {
			r.p.recordCall(r.key.tc, false)
		}
	case r.callRunning && svc != nil && svc.Settings.CallEndsWhenLeaving(remaining):
		r.mu.Unlock()
		r.p.log.Info("call ended by the LIVE rule", "id", r.key.tc, "room", r.key.room, "remaining", remaining)
		r.closeAll(endCallEnded, "the call has ended", true)
	default:
		r.lobbyChangedLocked(r.p.now())
		r.mu.Unlock()
	}
}

// closeAll ends the room: every member's connection gets end{reason} and
// its close code, and with endCall a running call is recorded as ended.
func (r *room) closeAll(reason, message string, endCall bool) {
	r.mu.Lock()
	r.dead = true
	var conns []*conn
	var users []string
	for _, m := range r.members {
		if m.conn != nil {
			conns = append(conns, m.conn)
		}
		users = append(users, m.user)
	}
	conns = append(conns, r.heldConnsLocked()...)
	r.members = map[string]*member{}
	r.waiting, r.lobby = map[string]*waiter{}, map[*conn]bool{}
	running := r.callRunning
	r.callRunning = false
	r.mu.Unlock()
	for _, c := range conns {
		r.p.metrics.ejected(string(reason))
		c.end(reason, message, detachNone)
	}
	r.p.dropRoom(r)
	for _, u := range users {
		r.p.recordPresence(r.key.tc, u, false)
	}
	if running && endCall {
		r.p.recordCall(r.key.tc, false)
	}
}

// broadcast sends an encoded message to every present member but the one
// named by except.
func (r *room) broadcast(b []byte, except string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.members {
		if m.conn != nil && m.pid != except {
			m.conn.sendRaw(b)
		}
	}
}

// publish adds a track published by t.owner, if it is still its
// participant's connection, and has the others renegotiate.
func (r *room) publish(t *pubTrack) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.members[t.pid]
	if r.dead || m == nil || m.conn != t.owner {
		return false
	}
	t.mod = r.modLocked(t.pid)
	r.tracks = append(r.tracks, t)
	for _, o := range r.members {
		if o.conn != nil && o.pid != t.pid {
			o.conn.renegotiate()
		}
	}
	return true
}

// unpublish removes a track; the others renegotiate.
func (r *room) unpublish(t *pubTrack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, x := range r.tracks {
		if x == t {
			r.tracks = append(r.tracks[:i:i], r.tracks[i+1:]...)
			for _, o := range r.members {
				if o.conn != nil && o.pid != t.pid {
					o.conn.renegotiate()
				}
			}
			return
		}
	}
}

// tracksFor returns the tracks participant pid receives: everyone else's.
func (r *room) tracksFor(pid string) []*pubTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*pubTrack, 0, len(r.tracks))
	for _, t := range r.tracks {
		if t.pid != pid {
			out = append(out, t)
		}
	}
	return out
}

// inWarning reports whether now is within the last WarnBeforeEnd of a
// limited window.
func (r *room) inWarning(now time.Time) bool {
	return r.window.Limited && !now.Before(r.window.End.Add(-teleconsult.WarnBeforeEnd))
}

func (r *room) warning(now time.Time) []byte {
	left := int(r.window.End.Sub(now).Round(time.Second) / time.Second)
	left = max(left, 0)
	b, _ := json.Marshal(outWarning{Type: typeWarning, Reason: "ending",
		EndsAt: r.window.End.UTC().Format(teleconsult.TimeLayout), SecondsLeft: left})
	return b
}

// check is the periodic work: the window's end (everyone ejected) and its
// warning, the end of dropped members' grace, and Service.Recheck of every
// present member.
func (r *room) check(ctx context.Context, now time.Time) {
	if r.window.Limited && !now.Before(r.window.End) {
		if !r.isDead() {
			r.p.log.Info("window closed: ejecting everyone", "id", r.key.tc, "room", r.key.room)
			ended := teleconsult.Refuse(teleconsult.ReasonEnded, "this visit has ended")
			r.closeAll(endOf(ended), ended.Message, true)
		}
		return
	}
	r.mu.Lock()
	if r.dead {
		r.mu.Unlock()
		return
	}
	if r.inWarning(now) {
		var warn []byte
		for _, m := range r.members {
			if m.conn != nil && m.conn.warned.CompareAndSwap(false, true) {
				if warn == nil {
					warn = r.warning(now)
				}
				m.conn.sendRaw(warn)
			}
		}
	}
	r.checkWaitingLocked(now)
	if r.emptyLocked() {
		r.dead = true
		r.mu.Unlock()
		r.p.dropRoom(r)
		return
	}
	removed := false
	for _, m := range r.members {
		if m.conn == nil && !now.Before(m.graceUntil) {
			r.p.log.Info("participant gone: grace over", "id", r.key.tc, "room", r.key.room, "participant", m.pid)
			r.removeLocked(m)
			removed = true
		}
	}
	if removed {
		r.afterRemoval() // unlocks
		if r.isDead() {
			return
		}
		r.mu.Lock()
	}
	conns := make([]*conn, 0, len(r.members))
	for _, m := range r.members {
		if m.conn != nil {
			conns = append(conns, m.conn)
		}
	}
	conns = append(conns, r.heldConnsLocked()...)
	r.mu.Unlock()

	svc := r.p.svc.Load()
	if svc == nil {
		return
	}
	var out []ejection
	for _, c := range conns {
		err := svc.Recheck(ctx, c.adm)
		if err == nil {
			continue
		}
		reason, _, transient := refusalEnd(err)
		if transient {
			c.log.Warn("recheck failed: participant kept", "err", err)
			continue
		}
		out = append(out, ejection{c: c, reason: reason, message: teleconsult.ErrorMessage(err)})
	}
	if len(out) > 0 {
		r.eject(out)
	}
}

// ejection is a participant refused by Recheck.
type ejection struct {
	c       *conn
	reason  string
	message string
}

// eject removes participants together, then applies what follows (the
// LIVE rule sees them all gone at once: a cancellation ends everyone's
// connection as cancelled, not as call-ended).
func (r *room) eject(list []ejection) {
	r.mu.Lock()
	removed := false
	for _, ej := range list {
		if r.ejectHeldLocked(ej) {
			continue
		}
		m := r.members[ej.c.pid]
		if m == nil || m.conn != ej.c {
			continue
		}
		ej.c.log.Info("participant ejected", "reason", ej.reason)
		r.p.metrics.ejected(string(ej.reason))
		ej.c.end(ej.reason, ej.message, detachNone)
		r.removeLocked(m)
		removed = true
	}
	if !removed {
		r.mu.Unlock()
		return
	}
	r.afterRemoval() // unlocks
}
