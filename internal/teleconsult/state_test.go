package teleconsult

import (
	"testing"
	"time"
)

// Ensure every (state, event) pair gives the documented result: the allowed
// transitions and nothing else.
func TestTransition(t *testing.T) {
	type key struct {
		from     State
		ev       Event
		complete bool
	}
	allowed := map[key]State{
		{StateWaiting, EventParticipantAdded, false}: StateWaiting,
		{StateWaiting, EventParticipantAdded, true}:  StateScheduled,
		{StateWaiting, EventPatched, false}:          StateWaiting,
		{StateWaiting, EventPatched, true}:           StateScheduled,
		{StateScheduled, EventPatched, false}:        StateWaiting,
		{StateScheduled, EventPatched, true}:         StateScheduled,
		{StateScheduled, EventCallStarted, false}:    StateInProgress,
		{StateScheduled, EventCallStarted, true}:     StateInProgress,
		{StateEnded, EventCallStarted, false}:        StateInProgress,
		{StateEnded, EventCallStarted, true}:         StateInProgress,
		{StateInProgress, EventCallEnded, false}:     StateEnded,
		{StateInProgress, EventCallEnded, true}:      StateEnded,
		{StateWaiting, EventSuperseded, false}:       StateReplaced,
		{StateWaiting, EventSuperseded, true}:        StateReplaced,
		{StateScheduled, EventSuperseded, false}:     StateReplaced,
		{StateScheduled, EventSuperseded, true}:      StateReplaced,
		{StateEnded, EventSuperseded, false}:         StateReplaced,
		{StateEnded, EventSuperseded, true}:          StateReplaced,
	}
	for _, s := range []State{StateWaiting, StateScheduled, StateInProgress, StateEnded} {
		allowed[key{s, EventCancelled, false}] = StateCancelled
		allowed[key{s, EventCancelled, true}] = StateCancelled
	}
	events := []Event{EventParticipantAdded, EventPatched, EventCallStarted, EventCallEnded, EventCancelled, EventSuperseded}
	n := 0
	for _, from := range append([]State{StateUnknown}, States...) {
		for _, ev := range events {
			for _, complete := range []bool{false, true} {
				got, err := Transition(from, ev, complete)
				want, ok := allowed[key{from, ev, complete}]
				switch {
				case ok && err != nil:
					t.Errorf("%s --%s(complete=%v)--> error %v, want %s", from, ev, complete, err, want)
				case ok && got != want:
					t.Errorf("%s --%s(complete=%v)--> %s, want %s", from, ev, complete, got, want)
				case !ok && err == nil:
					t.Errorf("%s --%s(complete=%v)--> %s, want refusal", from, ev, complete, got)
				case !ok && ErrorCode(err) != ECONFLICT:
					t.Errorf("%s --%s--> code %q, want %q", from, ev, ErrorCode(err), ECONFLICT)
				case !ok && got != from:
					t.Errorf("refused %s --%s--> changed state to %s", from, ev, got)
				}
				if ok {
					n++
				}
			}
		}
	}
	if n != len(allowed) {
		t.Errorf("exercised %d allowed transitions, table has %d", n, len(allowed))
	}
}

func TestStateNames(t *testing.T) {
	for _, s := range append([]State{StateUnknown}, States...) {
		if got := ParseState(s.String()); got != s {
			t.Errorf("ParseState(%q) = %v, want %v", s.String(), got, s)
		}
	}
	if got := ParseState("bogus"); got != StateUnknown {
		t.Errorf("ParseState(bogus) = %v", got)
	}
	for _, s := range []State{StateOpen, StateExpired, StateUnknown} {
		if s.Stored() {
			t.Errorf("%s must not be stored", s)
		}
	}
}

// Ensure the effective status follows the clock: open from start −
// immutable period, expired after the end only when the window is limited.
func TestStatus(t *testing.T) {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tc := &Teleconsultation{StartDate: start, EndDate: start.Add(30 * time.Minute)}
	tests := []struct {
		name      string
		stored    State
		immutable time.Duration
		unlimited bool
		now       time.Time
		want      State
	}{
		{"scheduled before", StateScheduled, 0, true, start.Add(-time.Second), StateScheduled},
		{"open at start", StateScheduled, 0, true, start, StateOpen},
		{"open early with immutable period", StateScheduled, 10 * time.Minute, true, start.Add(-10 * time.Minute), StateOpen},
		{"not yet open just before immutable period", StateScheduled, 10 * time.Minute, true, start.Add(-10*time.Minute - time.Millisecond), StateScheduled},
		{"unlimited stays open after end", StateScheduled, 0, true, start.Add(2 * time.Hour), StateOpen},
		{"limited expires at end", StateScheduled, 0, false, start.Add(30 * time.Minute), StateExpired},
		{"limited open just before end", StateScheduled, 0, false, start.Add(30*time.Minute - time.Millisecond), StateOpen},
		{"ended expires with limited window", StateEnded, 0, false, start.Add(time.Hour), StateExpired},
		{"ended stays ended unlimited", StateEnded, 0, true, start.Add(time.Hour), StateEnded},
		{"waiting stays waiting", StateWaiting, 0, false, start.Add(time.Hour), StateWaiting},
		{"cancelled stays cancelled", StateCancelled, 0, false, start.Add(time.Hour), StateCancelled},
		{"in progress stays in progress", StateInProgress, 0, false, start.Add(time.Hour), StateInProgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc.State = tt.stored
			s := Settings{ImmutablePeriod: tt.immutable, Unlimited: tt.unlimited}
			if got := tc.Status(tt.now, &s); got != tt.want {
				t.Errorf("Status = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDurationUsed(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tc := &Teleconsultation{State: StateInProgress, CallStartedAt: t0, CallUsed: 5 * time.Minute}
	if got, want := tc.DurationUsed(t0.Add(time.Minute)), 6*time.Minute; got != want {
		t.Errorf("DurationUsed = %v, want %v", got, want)
	}
	tc.State = StateEnded
	if got, want := tc.DurationUsed(t0.Add(time.Hour)), 5*time.Minute; got != want {
		t.Errorf("DurationUsed after end = %v, want %v", got, want)
	}
}
