package sfu

import (
	"encoding/json"
	"errors"
	"sort"
	"sync/atomic"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// In-call moderation (the rules are the domain's: [teleconsult.Settings.Moderate],
// [teleconsult.Moderated.Apply]). A participant who admits sends moderate
// for another participant in the call; the room keeps what is held back of
// each participant while it lives (a reconnect does not lift it), and the
// forwarding of their tracks reads it on every packet: a muted
// participant's microphone and a camera turned off are read and dropped,
// not forwarded. A removed participant's connection ends with removed;
// their next connection waits in the waiting room until let in again.

// modState is what moderation holds back of one participant. Its fields
// are read by the forwarding goroutines of the participant's tracks.
type modState struct {
	muted     atomic.Bool
	cameraOff atomic.Bool
	// out is set by a removal, until the participant is let in again:
	// nothing of theirs is forwarded meanwhile (their tracks go with their
	// connection).
	out atomic.Bool
}

func (s *modState) state() teleconsult.Moderated {
	return teleconsult.Moderated{Muted: s.muted.Load(), CameraOff: s.cameraOff.Load()}
}

func (s *modState) set(m teleconsult.Moderated) {
	s.muted.Store(m.Muted)
	s.cameraOff.Store(m.CameraOff)
}

// held reports whether t's packets are held back now.
func (t *pubTrack) held() bool {
	s := t.mod
	if s == nil {
		return false
	}
	switch t.source {
	case sourceMicrophone:
		return s.muted.Load() || s.out.Load()
	case sourceCamera:
		return s.cameraOff.Load() || s.out.Load()
	}
	return s.out.Load()
}

// Moderation rate: a moderator's page sends one per click.
const modRate, modBurst = 2, 5

var (
	errNoModerate = errors.New("you may not moderate participants")
	errNotInCall  = errors.New("this participant is not in this call")
	errModFlood   = errors.New("too many moderation messages: slow down")
)

// modLocked returns pid's moderation state, making it; r.mu is held.
func (r *room) modLocked(pid string) *modState {
	s := r.mod[pid]
	if s == nil {
		s = &modState{}
		r.mod[pid] = s
	}
	return s
}

// letInLocked records that pid was let in from the waiting room: they do
// not wait again while the room lives, and a removal is over.
func (r *room) letInLocked(pid string) {
	r.admitted[pid] = true
	delete(r.removed, pid)
	if s := r.mod[pid]; s != nil {
		s.out.Store(false)
	}
}

// moderation encodes pid's moderation message.
func moderation(pid string, act teleconsult.Moderation, st teleconsult.Moderated) []byte {
	b, _ := json.Marshal(outModeration{Type: typeModeration, ParticipantID: pid, Action: string(act),
		Muted: st.Muted, CameraOff: st.CameraOff})
	return b
}

// moderate applies by's moderation act to participant pid of the call.
func (r *room) moderate(by *conn, pid string, act teleconsult.Moderation) error {
	svc := r.p.svc.Load()
	if svc == nil {
		return ErrClosed
	}
	if !svc.Settings.Admits(by.adm.Role) {
		return errNoModerate
	}
	r.mu.Lock()
	m := r.members[pid]
	if r.dead || m == nil {
		r.mu.Unlock()
		return errNotInCall
	}
	if err := svc.Settings.Moderate(by.adm, m.adm); err != nil {
		r.mu.Unlock()
		return errors.New(teleconsult.ErrorMessage(err))
	}
	st := r.modLocked(pid)
	next, err := st.state().Apply(act)
	if err != nil {
		r.mu.Unlock()
		return errors.New(teleconsult.ErrorMessage(err))
	}
	by.log.Info("participant moderated", "moderated", pid, "action", string(act))
	if act == teleconsult.ModerateRemove {
		r.removeMemberLocked(m, st)
		return nil
	}
	st.set(next)
	if act == teleconsult.ModerateCameraOn {
		// Forwarding resumes: the subscribers need a keyframe to show it.
		for _, t := range r.tracks {
			if t.pid == pid && t.source == sourceCamera {
				t.requestKeyframe(false)
			}
		}
	}
	b := moderation(pid, act, next)
	for _, o := range r.members {
		if o.conn != nil {
			o.conn.sendRaw(b)
		}
	}
	r.mu.Unlock()
	return nil
}

// removeMemberLocked removes m from the call, back to the waiting room; it
// releases r.mu. A removal is not a leave: with the LIVE rule the call
// goes on for the others.
func (r *room) removeMemberLocked(m *member, st *modState) {
	st.out.Store(true)
	delete(r.admitted, m.pid)
	r.removed[m.pid] = true
	c := m.conn
	r.removeLocked(m)
	if c != nil {
		removed := teleconsult.Removed()
		r.p.metrics.ejected(endOf(removed))
		c.end(endOf(removed), removed.Message, detachNone)
	}
	if len(r.members) == 0 {
		r.afterRemoval() // unlocks
		return
	}
	// Not a leave: the LIVE rule does not end the call for the others.
	r.lobbyChangedLocked(r.p.now())
	r.mu.Unlock()
}

// tellModeration sends c, just welcomed, what moderation holds back of
// the participants in the call, itself included.
func (r *room) tellModeration(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for pid, s := range r.mod {
		if st := s.state(); (st != teleconsult.Moderated{}) && r.members[pid] != nil {
			c.sendRaw(moderation(pid, "", st))
		}
	}
}

// wasRemoved reports whether adm's participant was removed from its call
// and has not been let in again, while the call's room lives.
func (p *Provider) wasRemoved(adm *teleconsult.Admission) bool {
	p.mu.Lock()
	r := p.rooms[roomKey{tc: adm.TeleconsultationID, room: adm.RoomID}]
	p.mu.Unlock()
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.dead && r.removed[adm.ParticipantID]
}

// WaitingFor implements [teleconsult.WaitingLister]: who waits in the
// waiting room of teleconsultation id (a place kept during a reconnect
// included), oldest first.
func (p *Provider) WaitingFor(id string) []teleconsult.WaitingPerson {
	p.mu.Lock()
	var rooms []*room
	for k, r := range p.rooms {
		if k.tc == id {
			rooms = append(rooms, r)
		}
	}
	p.mu.Unlock()
	out := []teleconsult.WaitingPerson{}
	for _, r := range rooms {
		r.mu.Lock()
		if !r.dead {
			for pid, w := range r.waiting {
				out = append(out, teleconsult.WaitingPerson{ParticipantID: pid, Since: w.since})
			}
		}
		r.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Since.Before(out[j].Since) || out[i].Since.Equal(out[j].Since) && out[i].ParticipantID < out[j].ParticipantID
	})
	return out
}

// moderate handles moderate from the page.
func (c *conn) moderate(pid string, act teleconsult.Moderation) {
	if !c.modTokens.allow() {
		c.refuse(errModFlood.Error())
		return
	}
	if err := c.room.moderate(c, pid, act); err != nil {
		c.refuse(err.Error())
	}
}
