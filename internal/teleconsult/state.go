package teleconsult

// State is a teleconsultation's state. See the package documentation for
// the state machine.
type State int

// States. StateOpen and StateExpired are derived from the clock by
// [Teleconsultation.Status] and never stored.
const (
	StateUnknown State = iota
	StateWaiting
	StateScheduled
	StateOpen
	StateInProgress
	StateEnded
	StateExpired
	StateCancelled
	StateReplaced
)

var stateNames = [...]string{
	StateUnknown:    "unknown",
	StateWaiting:    "waiting_for_participants",
	StateScheduled:  "scheduled",
	StateOpen:       "open",
	StateInProgress: "in_progress",
	StateEnded:      "ended",
	StateExpired:    "expired",
	StateCancelled:  "cancelled",
	StateReplaced:   "replaced",
}

// States lists every state but StateUnknown, in order.
var States = []State{StateWaiting, StateScheduled, StateOpen, StateInProgress, StateEnded, StateExpired, StateCancelled, StateReplaced}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "unknown"
	}
	return stateNames[s]
}

// ParseState parses a state name; an unknown name is StateUnknown.
func ParseState(name string) State {
	for i, n := range stateNames {
		if n == name {
			return State(i)
		}
	}
	return StateUnknown
}

// Stored reports whether s may be stored (it is not derived from the clock).
func (s State) Stored() bool {
	switch s {
	case StateWaiting, StateScheduled, StateInProgress, StateEnded, StateCancelled, StateReplaced:
		return true
	}
	return false
}

// Final reports whether s accepts no further change: cancelled or replaced.
func (s State) Final() bool { return s == StateCancelled || s == StateReplaced }

// Event is what happens to a teleconsultation.
type Event int

// Events of the state machine.
const (
	EventParticipantAdded Event = iota + 1 // a participant was added; Complete says whether the list is now full
	EventPatched                           // times or participants changed before the immutable period
	EventCallStarted                       // the first participant joined a call
	EventCallEnded                         // the call ended (everyone left, or the LIVE rule)
	EventCancelled                         // DELETE
	EventSuperseded                        // a new teleconsultation for the same appointment replaced this one
)

func (e Event) String() string {
	switch e {
	case EventParticipantAdded:
		return "participant added"
	case EventPatched:
		return "patched"
	case EventCallStarted:
		return "call started"
	case EventCallEnded:
		return "call ended"
	case EventCancelled:
		return "cancelled"
	case EventSuperseded:
		return "superseded"
	}
	return "unknown event"
}

// Transition returns the stored state that follows from event in state
// from. complete says whether every expected participant is known (used by
// EventParticipantAdded and EventPatched). A transition that the state
// machine does not allow is an ECONFLICT error naming both.
func Transition(from State, ev Event, complete bool) (State, error) {
	next := func() State {
		if complete {
			return StateScheduled
		}
		return StateWaiting
	}
	switch ev {
	case EventParticipantAdded:
		if from == StateWaiting {
			return next(), nil
		}
	case EventPatched:
		if from == StateWaiting || from == StateScheduled {
			return next(), nil
		}
	case EventCallStarted:
		if from == StateScheduled || from == StateEnded {
			return StateInProgress, nil
		}
	case EventCallEnded:
		if from == StateInProgress {
			return StateEnded, nil
		}
	case EventCancelled:
		if from.Stored() && !from.Final() {
			return StateCancelled, nil
		}
	case EventSuperseded:
		if from == StateWaiting || from == StateScheduled || from == StateEnded {
			return StateReplaced, nil
		}
	}
	return from, Errorf(ECONFLICT, "a teleconsultation that is %s cannot be %s", from, ev)
}
