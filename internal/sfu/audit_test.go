package sfu

import (
	"context"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure what the SFU records reaches the audit trail with its actor: the
// SFU itself for joins, leaves and the call's start and end, the
// participant (with their participant id) for waiting in the waiting room.
func TestAuditActors(t *testing.T) {
	e := newEnv(t, withWaitingRoom)
	id, tokens := e.visit(2)
	e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.dial(id, tokens[1], clientOptions{})
	pat.waitFor("waiting")
	find := func(action teleconsult.AuditAction) *teleconsult.AuditEntry {
		entries, err := e.store.FindAudit(context.Background(), teleconsult.AuditQuery{TeleconsultationID: id, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for i := range entries {
			if entries[i].Action == action {
				return &entries[i]
			}
		}
		return nil
	}
	waitUntil(t, "the join and the wait in the audit trail", func() bool {
		return find(teleconsult.AuditParticipantJoin) != nil && find(teleconsult.AuditParticipantWait) != nil
	})
	if j := find(teleconsult.AuditParticipantJoin); j.Kind != teleconsult.ActorProvider || j.Object != "doc-1" || j.Outcome != teleconsult.OutcomeOK {
		t.Errorf("join entry %+v", j)
	}
	w := find(teleconsult.AuditParticipantWait)
	if w.Kind != teleconsult.ActorParticipant || w.UserID != "pat-1" || w.ParticipantID == "" || w.ClientAddr == "" {
		t.Errorf("wait entry %+v", w)
	}
}
