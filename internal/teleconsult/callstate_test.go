package teleconsult_test

import (
	"fmt"
	"testing"
	"time"

	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
)

// callEv is a provider's call event of the tests: kind (started, ended,
// joined, left), session, seconds after the start of the visit, and, for
// ends, when what ended began (-1: not said).
type callEv struct {
	kind, session string
	at, begin     int64
}

// Ensure the time used and the call state follow a provider's events, from
// the first start to the end, whatever Daily sends: starts and ends only,
// several calls in one room, replays under new ids, events out of order,
// ends whose start was never reported, with and without the LIVE rule;
// and the first call's start is kept.
func TestCallTimeFromProviderEvents(t *testing.T) {
	cases := []struct {
		name   string
		live   bool
		events []callEv
		state  tc.State
		used   time.Duration
		ends   int // calls ended at the provider by the LIVE rule
	}{
		{"meeting started and ended", false, []callEv{
			{"started", "-", 0, -1}, {"ended", "-", 600, 0}}, tc.StateEnded, 600 * time.Second, 0},
		{"joins and leaves only", false, []callEv{
			{"joined", "s1", 0, -1}, {"joined", "s2", 30, -1}, {"left", "s2", 500, 30}, {"left", "s1", 540, 0}},
			tc.StateEnded, 540 * time.Second, 0},
		{"ends only: the meeting's end", false, []callEv{
			{"ended", "-", 600, 0}}, tc.StateEnded, 600 * time.Second, 0},
		{"ends only: the last leave, then the meeting's end", false, []callEv{
			{"left", "s1", 300, 10}, {"ended", "-", 301, 10}}, tc.StateEnded, 290 * time.Second, 0},
		{"two calls in the room add up", false, []callEv{
			{"started", "-", 0, -1}, {"ended", "-", 600, 0},
			{"started", "-", 1200, -1}, {"joined", "s3", 1201, -1}, {"ended", "-", 1500, 1200}},
			tc.StateEnded, 900 * time.Second, 0},
		{"the same end again under other ids", false, []callEv{
			{"started", "-", 0, -1}, {"ended", "-", 600, 0}, {"ended", "-", 600, 0}, {"left", "s1", 600, 0},
			{"started", "-", 0, -1}},
			tc.StateEnded, 600 * time.Second, 0},
		{"the end before the start", false, []callEv{
			{"ended", "-", 600, 0}, {"started", "-", 0, -1}, {"joined", "s1", 2, -1}, {"left", "s1", 598, 2}},
			tc.StateEnded, 600 * time.Second, 0},
		{"an earlier join reported late", false, []callEv{
			{"joined", "s2", 60, -1}, {"joined", "s1", 0, -1}, {"left", "s2", 300, 60}, {"left", "s1", 400, 0}},
			tc.StateEnded, 400 * time.Second, 0},
		{"a leave before its join", false, []callEv{
			{"joined", "s1", 0, -1}, {"left", "s2", 200, 100}, {"joined", "s2", 100, -1}, {"left", "s1", 300, 0}},
			tc.StateEnded, 300 * time.Second, 0},
		{"the end of an earlier call while a later one runs", false, []callEv{
			{"started", "-", 0, -1}, {"started", "-", 1000, -1}, {"ended", "-", 600, 0}, {"ended", "-", 1300, 1000}},
			tc.StateEnded, 900 * time.Second, 0},
		{"still running", false, []callEv{
			{"started", "-", 0, -1}, {"joined", "s1", 1, -1}}, tc.StateInProgress, 0, 0},
		{"LIVE: one of two leaves, the other is ejected", true, []callEv{
			{"joined", "s1", 0, -1}, {"joined", "s2", 60, -1}, {"left", "s1", 600, 0},
			{"left", "s2", 602, 60}, {"ended", "-", 603, 0}},
			tc.StateEnded, 600 * time.Second, 1},
		{"LIVE: re-entry starts a new call", true, []callEv{
			{"joined", "s1", 0, -1}, {"joined", "s2", 60, -1}, {"left", "s1", 600, 0}, {"left", "s2", 602, 60},
			{"joined", "s3", 1000, -1}, {"joined", "s4", 1010, -1}, {"left", "s4", 1100, 1010}},
			tc.StateEnded, 700 * time.Second, 2},
		{"not LIVE: one of two leaves, the call goes on", false, []callEv{
			{"joined", "s1", 0, -1}, {"joined", "s2", 60, -1}, {"left", "s1", 600, 0},
			{"left", "s2", 900, 60}, {"ended", "-", 901, 0}},
			tc.StateEnded, 900 * time.Second, 0},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			f := newHostedFixture(t, func(s *tc.Settings) { s.Live = tt.live })
			id, err := f.svc.Create(ctx, validCreate())
			if err != nil {
				t.Fatal(err)
			}
			room := f.get(t, id).ProviderRoomID
			f.clock.Set(start.Add(2 * time.Hour))
			for i, e := range tt.events {
				body := fmt.Sprintf("ev%d %s %s %s %d", i, e.kind, room, e.session, start.Unix()+e.at)
				if e.begin >= 0 {
					body += fmt.Sprintf(" %d", start.Unix()+e.begin)
				}
				if got, err := f.webhook(t, body); err != nil || got == tc.WebhookDuplicate {
					t.Fatalf("%q: %q %v", body, got, err)
				}
				// Each event delivered twice (Daily's retry): no second effect.
				if got, err := f.webhook(t, body); err != nil || got != tc.WebhookDuplicate {
					t.Fatalf("%q again: %q %v, want duplicate", body, got, err)
				}
			}
			got := f.get(t, id)
			if got.State != tt.state || got.CallUsed != tt.used || len(f.h.ended) != tt.ends {
				t.Errorf("%s, %v used, %d ended by LIVE; want %s, %v, %d", got.State, got.CallUsed, len(f.h.ended), tt.state, tt.used, tt.ends)
			}
			// The first call's start (the Encounter's), kept after the end:
			// the visit's start in every case but one.
			first := start
			if tt.name == "ends only: the last leave, then the meeting's end" {
				first = start.Add(10 * time.Second)
			}
			if !got.CallFirstStartedAt.Equal(first) {
				t.Errorf("first call started at %v, want %v", got.CallFirstStartedAt, first)
			}
			if tt.state == tc.StateInProgress {
				if d := got.DurationUsed(f.clock.Now()); d != 2*time.Hour {
					t.Errorf("running since the start: %v used by now, want 2h", d)
				}
			}
		})
	}
}
