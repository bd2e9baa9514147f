package sfu

import (
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// The waiting room (WAITING_ROOM; the rules are the domain's:
// [teleconsult.Settings.Waits], [teleconsult.Settings.Admits],
// [teleconsult.AutoAdmits], [teleconsult.WaitingStatus]). A connection
// whose participant waits is authenticated as any other and then held: it
// is not a member of the room, has no peer connection, gets no offer, no
// chat, no presence and no names, and every message but leave and ping is
// refused, until a participant who admits lets it in (its run loop then
// joins the room as if it had just authenticated) or declines it (end
// declined). A connection of a participant who admits may be held too,
// by choice (auth with lobby: the pre-join screen), to see who waits
// before joining with join.

// held says whether and why a connection is held out of the call.
type held int

const (
	heldNot     held = iota
	heldWaiting      // in the waiting room, until admitted
	heldLobby        // by choice, until it sends join
)

// waiter is a participant in the waiting room. Its place (since) is kept
// while its connection is away, for the waiting grace.
type waiter struct {
	adm   *teleconsult.Admission
	since time.Time
	// conn is nil while the connection dropped and graceUntil has not
	// passed.
	conn       *conn
	graceUntil time.Time
	// sent is the status the connection was last told.
	sent teleconsult.WaitStatus
}

var (
	errNotWaiting = errors.New("nobody with this participantId is waiting for this visit")
	errNoAdmit    = errors.New("you may not admit or decline participants")
)

// admits reports whether c's participant may admit; r.mu is held or not
// needed.
func (r *room) admits(c *conn) bool {
	svc := r.p.svc.Load()
	return svc != nil && c.adm != nil && svc.Settings.Admits(c.adm.Role)
}

// emptyLocked reports whether nobody is in the room, waits, or is held
// before it.
func (r *room) emptyLocked() bool {
	return len(r.members) == 0 && len(r.waiting) == 0 && len(r.lobby) == 0
}

// heldConnsLocked returns the connections of the waiting room and of the
// participants held before the call.
func (r *room) heldConnsLocked() []*conn {
	var out []*conn
	for _, w := range r.waiting {
		if w.conn != nil {
			out = append(out, w.conn)
		}
	}
	for c := range r.lobby {
		out = append(out, c)
	}
	return out
}

// wait puts c in the waiting room, keeping the place of an earlier
// connection of its participant (which ends as replaced). It reports
// enter when c need not wait (it was let in already while the room
// lives, its participant is in the call, or auto-admit applies) and
// fresh when the participant starts waiting now.
func (r *room) wait(c *conn) (enter, fresh bool, err error) {
	now := r.p.now()
	r.mu.Lock()
	if r.dead {
		r.mu.Unlock()
		return false, false, errRoomDead
	}
	if !r.removed[c.pid] && (r.admitted[c.pid] || r.members[c.pid] != nil || teleconsult.AutoAdmits(r.window, now, r.autoAdmit)) {
		r.mu.Unlock()
		return true, false, nil
	}
	w := r.waiting[c.pid]
	fresh = w == nil
	if fresh {
		w = &waiter{since: now}
		r.waiting[c.pid] = w
	}
	old := w.conn
	w.adm, w.conn, w.graceUntil, w.sent = c.adm, c, time.Time{}, teleconsult.WaitStatus{}
	c.room, c.held = r, heldWaiting
	r.lobbyChangedLocked(now)
	r.mu.Unlock()
	if old != nil {
		old.log.Info("waiting connection replaced by a newer one")
		old.end(endReplaced, "you opened your link in another window or device", detachNone)
	}
	return false, fresh, nil
}

// entered tells, after c's welcome, the participants who admit (c
// included) who waits and the waiting ones their status.
func (r *room) entered(c *conn) {
	if !r.admits(c) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lobbyChangedLocked(r.p.now())
}

// hold holds c, whose participant does not wait, before the call (auth
// with lobby) until it sends join.
func (r *room) hold(c *conn) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead {
		return errRoomDead
	}
	r.lobby[c] = true
	c.room, c.held = r, heldLobby
	r.lobbyChangedLocked(r.p.now())
	return nil
}

// detachHeldLocked handles the end of a held connection and reports
// whether c was one (then r.mu is released).
func (r *room) detachHeldLocked(c *conn, mode detachMode) bool {
	now := r.p.now()
	if r.lobby[c] {
		delete(r.lobby, c)
	} else if w := r.waiting[c.pid]; w != nil && w.conn == c {
		switch mode {
		case detachGrace:
			w.conn, w.graceUntil = nil, now.Add(r.p.cfg.WaitingGrace)
		case detachRemove:
			delete(r.waiting, c.pid)
		default:
			return false
		}
	} else {
		return false
	}
	r.finishHeldLocked(now)
	return true
}

// finishHeldLocked tells everyone what changed and drops the room if
// nobody is left; it releases r.mu.
func (r *room) finishHeldLocked(now time.Time) {
	if r.emptyLocked() {
		r.dead = true
		r.mu.Unlock()
		r.p.dropRoom(r)
		return
	}
	r.lobbyChangedLocked(now)
	r.mu.Unlock()
}

// ejectHeldLocked ends a held connection refused by Recheck and reports
// whether ej was one.
func (r *room) ejectHeldLocked(ej ejection) bool {
	c := ej.c
	if r.lobby[c] {
		delete(r.lobby, c)
	} else if w := r.waiting[c.pid]; w != nil && w.conn == c {
		delete(r.waiting, c.pid)
	} else {
		return false
	}
	c.log.Info("held participant ejected", "reason", ej.reason)
	r.p.metrics.ejected(string(ej.reason))
	c.end(ej.reason, ej.message, detachNone)
	r.lobbyChangedLocked(r.p.now())
	return true
}

// decide admits or declines the waiting participant pid on behalf of by.
func (r *room) decide(by *conn, pid string, admit bool) error {
	svc := r.p.svc.Load()
	if svc == nil {
		return ErrClosed
	}
	r.mu.Lock()
	w := r.waiting[pid]
	if w == nil {
		r.mu.Unlock()
		if !svc.Settings.Admits(by.adm.Role) {
			return errNoAdmit
		}
		return errNotWaiting
	}
	decide := svc.Settings.Decide
	if r.removed[pid] {
		decide = svc.Settings.DecideRemoved
	}
	err := decide(by.adm, w.adm, admit)
	if err != nil && teleconsult.ReasonOf(err) == "" {
		r.mu.Unlock()
		return errors.New(teleconsult.ErrorMessage(err))
	}
	delete(r.waiting, pid)
	if admit {
		r.letInLocked(pid)
		if w.conn != nil {
			w.conn.admit()
		}
		by.log.Info("participant admitted", "admitted", pid)
	} else {
		by.log.Info("participant declined", "declined", pid)
		if w.conn != nil {
			r.p.metrics.ejected(endOf(err))
			w.conn.end(endOf(err), teleconsult.ErrorMessage(err), detachNone)
		}
	}
	r.finishHeldLocked(r.p.now())
	return nil
}

// setAutoAdmit turns "admit automatically from the appointment start" on
// or off for the room; from the start on, everyone waiting is let in. It
// goes off by itself when no participant who admits is connected any
// more.
func (r *room) setAutoAdmit(by *conn, on bool) error {
	if !r.admits(by) {
		return errNoAdmit
	}
	r.mu.Lock()
	r.autoAdmit = on
	r.checkWaitingLocked(r.p.now())
	r.lobbyChangedLocked(r.p.now())
	r.mu.Unlock()
	return nil
}

// checkWaitingLocked is the waiting room's periodic work: places whose
// grace is over are given up, auto-admit lets everyone in from the start,
// and a waiting participant whose status changed is told.
func (r *room) checkWaitingLocked(now time.Time) {
	changed := false
	for pid, w := range r.waiting {
		switch {
		case w.conn == nil && !now.Before(w.graceUntil):
			r.p.log.Info("waiting participant gone: grace over", "id", r.key.tc, "room", r.key.room, "participant", pid)
			delete(r.waiting, pid)
			changed = true
		case !r.removed[pid] && teleconsult.AutoAdmits(r.window, now, r.autoAdmit):
			delete(r.waiting, pid)
			r.letInLocked(pid)
			if w.conn != nil {
				w.conn.log.Info("participant admitted automatically from the appointment start")
				w.conn.admit()
			}
			changed = true
		}
	}
	if changed {
		r.lobbyChangedLocked(now)
		return
	}
	r.tellWaitingLocked(now, false)
}

// lobbyChangedLocked tells the participants who admit who waits, and the
// waiting ones their status.
func (r *room) lobbyChangedLocked(now time.Time) {
	if r.autoAdmit && !r.admitterLocked() {
		// Nobody who admits is left to stand behind it.
		r.autoAdmit = false
	}
	list := outWaitingList{Type: typeWaitingList, Waiting: []waitingInfo{}, AutoAdmit: r.autoAdmit}
	pids := make([]string, 0, len(r.waiting))
	for pid := range r.waiting {
		pids = append(pids, pid)
	}
	sort.Slice(pids, func(i, j int) bool {
		a, b := r.waiting[pids[i]], r.waiting[pids[j]]
		return a.since.Before(b.since) || a.since.Equal(b.since) && pids[i] < pids[j]
	})
	for _, pid := range pids {
		w := r.waiting[pid]
		list.Waiting = append(list.Waiting, waitingInfo{ParticipantID: pid, Name: w.adm.DisplayName,
			Since: w.since.UTC().Format(teleconsult.TimeLayout)})
	}
	b, _ := json.Marshal(list)
	for _, m := range r.members {
		if m.conn != nil && m.admits {
			m.conn.sendRaw(b)
		}
	}
	for c := range r.lobby {
		if r.admits(c) {
			c.sendRaw(b)
		}
	}
	r.tellWaitingLocked(now, true)
}

// admitterLocked reports whether a participant who admits is in the call
// (or within its grace) or held before it.
func (r *room) admitterLocked() bool {
	for _, m := range r.members {
		if m.admits {
			return true
		}
	}
	for c := range r.lobby {
		if r.admits(c) {
			return true
		}
	}
	return false
}

// tellWaitingLocked sends each waiting participant its status when it
// changed (or always, with force).
func (r *room) tellWaitingLocked(now time.Time, force bool) {
	if len(r.waiting) == 0 {
		return
	}
	connected, inCall := false, false
	for _, m := range r.members {
		if m.admits {
			inCall = true
		}
	}
	for c := range r.lobby {
		connected = connected || r.admits(c)
	}
	for _, w := range r.waiting {
		if w.conn == nil {
			continue
		}
		st := teleconsult.WaitingStatus(r.window, now, connected || inCall, inCall)
		if !force && st.Host == w.sent.Host && st.Told == w.sent.Told && st.LateMinutes == w.sent.LateMinutes {
			continue
		}
		w.sent = st
		win := r.window
		b, _ := json.Marshal(outWaiting{Type: typeWaiting, Since: w.since.UTC().Format(teleconsult.TimeLayout),
			Host: string(st.Host), Told: st.Told, LateMinutes: st.LateMinutes,
			EstimatedStart: st.EstimatedStart.UTC().Format(teleconsult.TimeLayout),
			Window: windowInfo{OpensAt: win.Opens.UTC().Format(teleconsult.TimeLayout), StartDate: win.Start.UTC().Format(teleconsult.TimeLayout),
				EndDate: win.End.UTC().Format(teleconsult.TimeLayout), Limited: win.Limited}})
		w.conn.sendRaw(b)
	}
}
