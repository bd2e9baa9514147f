package sfu

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure the built-in SFU reports who joins and leaves, in order with the
// call's start and end, as webhook events written by the domain.
func TestPresenceWebhookEvents(t *testing.T) {
	e := newEnv(t, func(s *teleconsult.Settings, _ *Config) {
		s.Webhooks = []teleconsult.WebhookEndpoint{{Name: "a", URL: "https://a.test/", Secret: make([]byte, 32)}}
	})
	id, tokens := e.visit(2)
	e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})
	pat.send(map[string]any{"type": "leave"})
	pat.waitEnd()
	want := []string{"teleconsultation.created", "participant.joined:doc-1", "call.started", "participant.joined:pat-1",
		"participant.left:pat-1", "participant.left:doc-1", "call.ended"} // LIVE: the call ends when one of two leaves
	var got []string
	waitUntil(t, "seven webhook events", func() bool {
		got = nil
		for _, m := range e.store.Webhooks() {
			var p teleconsult.HookPayload
			if err := json.Unmarshal(m.Payload, &p); err != nil {
				t.Fatal(err)
			}
			s := string(p.Type)
			if p.Data.Participant != nil {
				s += ":" + p.Data.Participant.UserID
			}
			got = append(got, s)
		}
		return len(got) >= len(want)
	})
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// Ensure a participant who starts waiting in the waiting room is told to
// the receivers: participant.waiting, before their join.
func TestWaitingWebhookEvent(t *testing.T) {
	e := newEnv(t, withWaitingRoom, func(s *teleconsult.Settings, _ *Config) {
		s.Webhooks = []teleconsult.WebhookEndpoint{{Name: "a", URL: "https://a.test/", Secret: make([]byte, 32)}}
	})
	id, tokens := e.visit(2)
	pat := e.dial(id, tokens[1], clientOptions{})
	pat.waitFor("waiting")
	var got []string
	waitUntil(t, "a participant.waiting event", func() bool {
		got = nil
		for _, m := range e.store.Webhooks() {
			var p teleconsult.HookPayload
			if err := json.Unmarshal(m.Payload, &p); err != nil {
				t.Fatal(err)
			}
			s := string(p.Type)
			if p.Data.Participant != nil {
				s += ":" + p.Data.Participant.UserID + ":" + p.Data.Participant.Role
			}
			got = append(got, s)
		}
		return len(got) >= 2
	})
	if want := []string{"teleconsultation.created", "participant.waiting:pat-1:basic"}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}
