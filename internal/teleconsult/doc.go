// Package teleconsult is the domain of Teleconsult: teleconsultations,
// participants, roles and tools, the time window, the state machine, and the
// interfaces that adapters implement (store, video provider, notifier,
// session tokens).
//
// It imports only the standard library. Adapters (SQL store, HTTP API,
// built-in SFU, hosted video providers, mailer) import this package and never
// each other; only cmd/teleconsult wires them together.
//
// # State machine
//
// A teleconsultation's stored state is one of:
//
//	waiting_for_participants  fewer participants known than expected; no room yet
//	scheduled                 all participants known, at least one plus; room made
//	in_progress               a call is running (set by the video provider)
//	ended                     the last call ended (participants may re-enter while the window is open)
//	cancelled                 DELETEd; every link is dead; the record is kept
//	replaced                  superseded by a new teleconsultation for the same appointmentId
//
// Two more states are derived from the clock and never stored:
//
//	open     scheduled, and now >= start_date - IMMUTABLE_PERIOD_MS (links work, changes refused)
//	expired  scheduled, open or ended, UNLIMITED_TELECONSULTATION=false and now >= end
//
// Stored transitions (see [Transition]):
//
//	waiting_for_participants --participant added, list full--> scheduled
//	waiting_for_participants --participant added--> waiting_for_participants
//	waiting_for_participants, scheduled --patched--> waiting_for_participants | scheduled
//	scheduled --call started--> in_progress
//	ended --call started--> in_progress
//	in_progress --call ended--> ended
//	any but cancelled, replaced --cancelled--> cancelled
//	waiting_for_participants, scheduled, ended --superseded--> replaced
package teleconsult
