package teleconsult

import (
	"context"
	"time"
)

// This file holds what the hosted video providers (Daily, Kaleyra) need
// from the domain beyond [VideoProvider]: the room a provider makes, where
// a participant goes to join, the optional things only some platforms do
// (room details, SDK credentials, ending a call), and the call events that
// a platform's webhooks report.

// Room is a room made by [VideoProvider.CreateRoom].
type Room struct {
	// ID names the room at the provider; it becomes
	// [Teleconsultation.ProviderRoomID]. Required.
	ID string
	// URL is the room's address at the provider, if it has one (Daily).
	URL string
	// Links holds, by external user id, each participant's own link into
	// the room when the provider makes one per participant (Kaleyra).
	// They are credentials: stored encrypted, handed out only by
	// [Service.Exchange].
	Links map[string]string
}

// JoinTarget is where a participant goes to join the call. [Service.Exchange]
// hands it out with the session, after checking the window and revocation,
// so that a personal link always passes through this service first.
type JoinTarget struct {
	// Provider is the provider's name: builtin, daily or kaleyra.
	Provider string
	// URL is the provider's room (Daily) or the participant's own room
	// link (Kaleyra); empty for the built-in provider, whose call page
	// joins with the session token.
	URL string
	// Token is the provider's credential for URL, if it needs one (a
	// Daily meeting token).
	Token string
	// ExpiresAt is when Token or URL stops letting the participant in;
	// zero when the provider does not say.
	ExpiresAt time.Time
}

// JoinOptions is what a link exchange asks of [VideoProvider.Join] beyond
// the participant (whose Language is already the one the link asks for).
type JoinOptions struct {
	// Until is the expiry of the session given with the join target.
	Until time.Time
	// Background gives the participant the company's virtual background,
	// where the provider has one (Kaleyra): see [Settings.Background].
	Background bool
}

// UploadsDeleted counts the files found and deleted in a room.
type UploadsDeleted struct {
	Total   int
	Deleted int
}

// RoomDetails is what a provider says about a room (Kaleyra's "get room"),
// shown in the details of GET /teleconsultation/{id}.
type RoomDetails struct {
	// Status is the provider's room status (Kaleyra: NOT_RUNNING, …).
	Status          string
	Recording       string
	RecordingStatus string
	CallType        string
	Disabled        bool
	// DurationUsed is the calling time the provider counted; nil when it
	// does not say.
	DurationUsed *time.Duration
	Live         *bool
}

// RoomInspector is a [VideoProvider] that can describe a room.
type RoomInspector interface {
	RoomDetails(ctx context.Context, tc *Teleconsultation) (*RoomDetails, error)
}

// CredentialsIssuer is a [VideoProvider] whose platform issues its own SDK
// credentials (Kaleyra): POST /credentials then returns those instead of a
// Teleconsult session token.
type CredentialsIssuer interface {
	Credentials(ctx context.Context, providerUserID string, ttl time.Duration) (token string, expiresAt time.Time, err error)
}

// CallEnder is a [VideoProvider] that can end a running call by
// disconnecting whoever is still in the room (the LIVE rule).
type CallEnder interface {
	EndCall(ctx context.Context, tc *Teleconsultation) error
}

// WebhookRequest is a webhook as received: its headers (canonical names,
// as in net/http) and its raw body.
type WebhookRequest struct {
	Header map[string][]string
	Body   []byte
}

// WebhookReceiver is a [VideoProvider] whose platform reports call events
// by webhook (Daily).
type WebhookReceiver interface {
	// ParseWebhook checks a webhook's signature and freshness at now and
	// decodes it. A missing or wrong signature or a stale timestamp is
	// EUNAUTHORIZED; a malformed body EINVALID. Events the service does not
	// follow are returned with Kind CallEventIgnored.
	ParseWebhook(req WebhookRequest, now time.Time) (CallEvent, error)
}

// CallEventKind is what a provider's call event says happened.
type CallEventKind int

// Kinds of call event.
const (
	CallEventIgnored           CallEventKind = iota // an event the service does not follow
	CallEventMeetingStarted                         // the first participant joined the room
	CallEventMeetingEnded                           // the last participant left the room
	CallEventParticipantJoined                      // a participant joined
	CallEventParticipantLeft                        // a participant left
)

// CallEvent is one event of a provider's room.
type CallEvent struct {
	// ID is the provider's event id: an event seen twice has one effect.
	ID   string
	Kind CallEventKind
	// Type is the provider's name of the event, for logs.
	Type string
	// Room is the provider's room ([Teleconsultation.ProviderRoomID]).
	Room string
	// Session identifies the participant's connection (joined and left).
	Session string
	// At is when it happened; zero means when it was received.
	At time.Time
	// Start is, for an end (meeting ended, participant left), when what
	// ended began (the meeting's start, the participant's join); zero
	// when the provider does not say.
	Start time.Time
}

// ProviderEvents keeps what the webhooks of a hosted provider need: which
// teleconsultation a room belongs to, the ids of the events already
// handled, and who is in a room.
type ProviderEvents interface {
	// FindByProviderRoom returns the teleconsultation whose room at
	// provider is room, or ENOTFOUND.
	FindByProviderRoom(ctx context.Context, provider, room string) (*Teleconsultation, error)
	// ClaimEvent records event id of provider, received at, and reports
	// whether it was new; false means it was claimed before (a replay).
	ClaimEvent(ctx context.Context, provider, id string, at time.Time) (bool, error)
	// ReleaseEvent forgets a claimed event whose handling failed, so that
	// the provider's retry is handled.
	ReleaseEvent(ctx context.Context, provider, id string) error
	// Presence records that session joined (present) or left (!present)
	// room, and returns how many sessions are in it now. A session that
	// left stays gone even if its join is recorded after (events may come
	// out of order); recording the same thing twice changes nothing.
	Presence(ctx context.Context, provider, room, session string, present bool, at time.Time) (int, error)
	// ClearPresence forgets who was in room (the meeting ended).
	ClearPresence(ctx context.Context, provider, room string) error
}

// Outcomes of [Service.Webhook].
const (
	WebhookApplied   = "applied"   // the event changed the call state, or confirmed it
	WebhookDuplicate = "duplicate" // the event was handled before: no second effect
	WebhookIgnored   = "ignored"   // not an event we follow, or not one of our rooms
)

// setRoom makes r tc's room: its id, URL and the active participants'
// links; removed participants lose theirs.
func (tc *Teleconsultation) setRoom(r *Room) {
	tc.ProviderRoomID, tc.ProviderRoomURL = r.ID, r.URL
	for i := range tc.Participants {
		p := &tc.Participants[i]
		p.ProviderLink = ""
		if p.Active() {
			p.ProviderLink = r.Links[p.UserID]
		}
	}
}

// Webhook handles a webhook of provider (the route it came in on): it must
// be the configured provider, and a [WebhookReceiver]. It returns one of
// WebhookApplied, WebhookDuplicate and WebhookIgnored. A bad signature is
// EUNAUTHORIZED and changes nothing; an event for a room that is not ours
// is ignored; an event seen before has no second effect.
func (s *Service) Webhook(ctx context.Context, provider string, req WebhookRequest) (string, error) {
	recv, ok := s.Provider.(WebhookReceiver)
	if !ok || s.Provider.Name() != provider {
		return "", Errorf(ENOTFOUND, "webhooks of %s are not enabled: VIDEO_PROVIDER is %s", provider, s.Provider.Name())
	}
	if s.Events == nil {
		return "", Errorf(EINTERNAL, "no provider event store is configured")
	}
	ev, err := recv.ParseWebhook(req, s.now())
	if err != nil {
		s.log().Warn("webhook refused", "provider", provider, "code", ErrorCode(err), "reason", ErrorMessage(err))
		return "", err
	}
	if ev.Kind == CallEventIgnored {
		s.log().Debug("webhook ignored: event not followed", "provider", provider, "type", ev.Type, "event", ev.ID)
		return WebhookIgnored, nil
	}
	tc, err := s.Events.FindByProviderRoom(ctx, provider, ev.Room)
	if ErrorCode(err) == ENOTFOUND {
		s.log().Info("webhook ignored: unknown room", "provider", provider, "type", ev.Type, "room", ev.Room, "event", ev.ID)
		return WebhookIgnored, nil
	} else if err != nil {
		return "", err
	}
	if tc.State.Final() {
		s.log().Info("webhook ignored: teleconsultation no longer live", "provider", provider, "type", ev.Type, "id", tc.ID)
		return WebhookIgnored, nil
	}
	claimed, err := s.Events.ClaimEvent(ctx, provider, ev.ID, s.now())
	if err != nil {
		return "", err
	}
	if !claimed {
		s.log().Info("webhook ignored: event already handled", "provider", provider, "type", ev.Type, "event", ev.ID, "id", tc.ID)
		return WebhookDuplicate, nil
	}
	if err := s.applyCallEvent(ctx, provider, tc.ID, ev); err != nil {
		if rerr := s.Events.ReleaseEvent(ctx, provider, ev.ID); rerr != nil {
			s.log().Error("cannot release a failed webhook event: the provider's retry will be ignored", "provider", provider, "event", ev.ID, "err", rerr)
		}
		return "", err
	}
	return WebhookApplied, nil
}

// applyCallEvent turns a provider's call event into call state: in progress
// on a join, ended when the meeting ends, and, with LIVE_TELECONSULTATION,
// ended as soon as a participant leaves and fewer than two remain. Time
// used counts from the event times, from the first start to the end (see
// [Teleconsultation.CallEndedAt] for events that come late, twice or out of
// order). When the call ends, uploads are deleted
// (TELECONSULTATION_DELETE_UPLOADS).
func (s *Service) applyCallEvent(ctx context.Context, provider, id string, ev CallEvent) error {
	now := s.now()
	at := ev.At.UTC()
	if at.IsZero() || at.After(now) {
		at = now
	}
	begin := ev.Start.UTC()
	if !begin.Before(at) {
		begin = time.Time{}
	}
	present := -1
	var err error
	switch ev.Kind {
	case CallEventParticipantJoined, CallEventParticipantLeft:
		present, err = s.Events.Presence(ctx, provider, ev.Room, ev.Session, ev.Kind == CallEventParticipantJoined, at)
	case CallEventMeetingEnded:
		err = s.Events.ClearPresence(ctx, provider, ev.Room)
	}
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		tc, err := s.load(ctx, id)
		if code := ErrorCode(err); code == EGONE || code == ENOTFOUND {
			s.log().Info("webhook ignored: teleconsultation no longer live", "provider", provider, "type", ev.Type, "id", id)
			return nil
		} else if err != nil {
			return err
		}
		var f callFold
		switch ev.Kind {
		case CallEventMeetingStarted, CallEventParticipantJoined:
			f = foldStart(tc, at)
		case CallEventParticipantLeft:
			if present == 0 || s.Settings.CallEndsWhenLeaving(present) {
				f = foldEnd(tc, begin, at)
			} else if !begin.IsZero() {
				f = foldStart(tc, begin) // others are in: the call runs, at least since the leaver joined
			}
		case CallEventMeetingEnded:
			f = foldEnd(tc, begin, at)
		}
		// The events the webhooks tell of: the participant's, then the
		// call's, written with the state they describe.
		version := tc.Version
		if f.changed {
			version = nextVersion(tc)
		}
		var hooks []WebhookMessage
		who := withParticipant(HookParticipant{Session: ev.Session})
		switch ev.Kind {
		case CallEventParticipantJoined:
			hooks = s.hooks(HookParticipantJoined, tc, version, at, who)
		case CallEventParticipantLeft:
			hooks = s.hooks(HookParticipantLeft, tc, version, at, who)
		}
		if f.started {
			hooks = append(hooks, s.hooks(HookCallStarted, tc, version, at)...)
		}
		if f.ended {
			hooks = append(hooks, s.hooks(HookCallEnded, tc, version, at)...)
		}
		if !f.changed {
			if len(hooks) == 0 {
				return nil
			}
			if err := s.Store.Apply(ctx, Change{Webhooks: hooks}); err != nil {
				return err
			}
			s.wakeHooks(hooks)
			return nil
		}
		tc.UpdatedAt = now
		ch := Change{Update: []*Teleconsultation{tc}, Webhooks: hooks}
		action := AuditCallTime
		switch {
		case f.started:
			action = AuditCallStart
		case f.ended:
			action = AuditCallEnd
		}
		rec := s.audit(ctx, action, id)
		rec.change(&ch)
		err = s.Store.Apply(ctx, ch)
		if ErrorCode(err) == ECONFLICT && attempt < 2 {
			continue
		}
		if err != nil {
			return rec.done(ctx, err)
		}
		s.wakeHooks(hooks)
		switch {
		case f.started:
			s.log().Info("call started", "id", id, "provider", provider, "event", ev.Type)
		case !f.ended:
			s.log().Info("call time counted", "id", id, "provider", provider, "event", ev.Type, "used_s", int64(tc.CallUsed/time.Second))
		}
		if !f.ended {
			return nil
		}
		s.log().Info("call ended", "id", id, "provider", provider, "event", ev.Type, "present", present, "used_s", int64(tc.CallUsed/time.Second))
		if ender, ok := s.Provider.(CallEnder); ok && ev.Kind == CallEventParticipantLeft && present > 0 {
			if err := ender.EndCall(ctx, tc); err != nil {
				s.log().Warn("could not end the call at the provider", "id", id, "room", tc.ProviderRoomID, "err", err)
			}
		}
		if s.Settings.DeleteUploads {
			_, _ = s.deleteUploads(ctx, tc) // it logs what it could not delete; the call has ended either way
		}
		return nil
	}
}

// callFold is what folding a call event into a teleconsultation did.
type callFold struct {
	changed bool // tc changed: store it
	started bool // a call started
	ended   bool // the running call (or one whose start was not seen) ended
}

// foldStart records that a call ran from at (a meeting's start, a
// participant's join). A start at or before [Teleconsultation.CallEndedAt]
// belongs to a call already counted and changes nothing; a start earlier
// than the running call's moves its start back (events out of order).
func foldStart(tc *Teleconsultation, at time.Time) callFold {
	if !tc.CallEndedAt.IsZero() && !at.After(tc.CallEndedAt) {
		return callFold{}
	}
	if tc.State == StateInProgress {
		if at.Before(tc.CallStartedAt) {
			tc.CallStartedAt = at
			tc.noteCallStart(at)
			return callFold{changed: true}
		}
		return callFold{}
	}
	next, err := Transition(tc.State, EventCallStarted, true)
	if err != nil {
		return callFold{}
	}
	tc.State, tc.CallStartedAt = next, at
	tc.noteCallStart(at)
	return callFold{changed: true, started: true}
}

// foldEnd records that a call, begun at begin (zero: not said), ended at
// at, and counts its time once:
//   - an end at or before [Teleconsultation.CallEndedAt] was counted
//     already (a replay under another id, the meeting's end after the
//     last leave): nothing changes;
//   - the running call ends at at, counted from its start, or from begin
//     when that is earlier (a start reported late or never);
//   - a call whose start was never seen (the webhook subscribed to ends
//     only, or a lost event) counts from begin if begin is after the last
//     counted end; one that overlaps a counted call adds nothing.
func foldEnd(tc *Teleconsultation, begin, at time.Time) callFold {
	if !tc.CallEndedAt.IsZero() && !at.After(tc.CallEndedAt) {
		return callFold{}
	}
	if tc.State == StateInProgress && !at.Before(tc.CallStartedAt) {
		from := tc.CallStartedAt
		if !begin.IsZero() && begin.Before(from) && !begin.Before(tc.CallEndedAt) {
			from = begin
		}
		next, err := Transition(tc.State, EventCallEnded, true)
		if err != nil {
			return callFold{}
		}
		tc.CallUsed += at.Sub(from)
		tc.noteCallStart(from)
		tc.State, tc.CallStartedAt, tc.CallEndedAt = next, time.Time{}, at
		return callFold{changed: true, ended: true}
	}
	if begin.IsZero() || begin.Before(tc.CallEndedAt) {
		return callFold{}
	}
	f := callFold{changed: true}
	if tc.State != StateInProgress {
		// A whole call, start unseen: scheduled or ended → in progress → ended.
		if _, err := Transition(tc.State, EventCallStarted, true); err != nil {
			return callFold{}
		}
		tc.State, f.ended = StateEnded, true
	} // else an earlier call, ended before the running one began
	tc.CallUsed += at.Sub(begin)
	tc.noteCallStart(begin)
	tc.CallEndedAt = at
	return f
}

// deleteUploads deletes the uploads of tc: those this service keeps (the
// built-in provider's) and those at the provider (Kaleyra), logging the
// outcome.
func (s *Service) deleteUploads(ctx context.Context, tc *Teleconsultation) (UploadsDeleted, error) {
	var res UploadsDeleted
	total, deleted, err := s.deleteLocalUploads(ctx, tc.ID)
	res.Total, res.Deleted = total, deleted
	if err != nil {
		s.log().Warn("could not delete the uploads", "id", tc.ID, "err", err)
		return res, err
	}
	if tc.ProviderRoomID == "" {
		return res, nil
	}
	remote, err := s.Provider.DeleteUploads(ctx, tc)
	res.Total, res.Deleted = res.Total+remote.Total, res.Deleted+remote.Deleted
	if err != nil {
		s.log().Warn("could not delete the uploads at the provider", "id", tc.ID, "room", tc.ProviderRoomID, "err", err)
		return res, err
	}
	if res.Total > 0 {
		s.log().Info("uploads deleted", "id", tc.ID, "total", res.Total, "deleted", res.Deleted)
	}
	return res, nil
}

// DeleteUploads deletes the files uploaded in teleconsultation id's room
// (Mia's DELETE /teleconsultation/{id}/uploads) for a trusted caller (API
// key) acting for callerUserID, or for nobody when callerUserID is "".
// Acting for a user, the caller may delete what that user may: see
// [Service.DeleteUploadsAs]. With TELECONSULTATION_DELETE_UPLOADS=false it
// deletes nothing and returns nil (after the same checks). If Total and
// Deleted differ, some files remain: try again later.
func (s *Service) DeleteUploads(ctx context.Context, id, callerUserID string) (res *UploadsDeleted, err error) {
	rec := s.audit(ctx, AuditUploadsDelete, id)
	defer func() { err = rec.done(ctx, err) }()
	if callerUserID != "" {
		a, err := s.AdmitUser(ctx, id, callerUserID)
		if err != nil {
			return nil, err
		}
		rec.participant(a.UserID, a.ParticipantID)
		return s.deleteUploadsAs(ctx, a)
	}
	tc, err := s.Store.FindByID(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(ENOTFOUND, "Room with id %s not found", id)
	} else if err != nil {
		return nil, err
	}
	return s.deleteUploadsNow(ctx, tc)
}

// DeleteUploadsAs deletes the uploads of admitted participant a's
// teleconsultation. The rule is that of reading them ([Service.ListUploads]:
// a participant admitted now) and, since deleting removes what everyone
// shared, the file_upload tool: without it the answer is EFORBIDDEN and
// nothing is deleted.
func (s *Service) DeleteUploadsAs(ctx context.Context, a *Admission) (res *UploadsDeleted, err error) {
	rec := s.audit(ctx, AuditUploadsDelete, a.TeleconsultationID)
	rec.participant(a.UserID, a.ParticipantID)
	defer func() { err = rec.done(ctx, err) }()
	return s.deleteUploadsAs(ctx, a)
}

func (s *Service) deleteUploadsAs(ctx context.Context, a *Admission) (*UploadsDeleted, error) {
	if !a.Tools.FileUpload {
		return nil, Errorf(EFORBIDDEN, "deleting the files is not allowed for you")
	}
	tc, err := s.Store.FindByID(ctx, a.TeleconsultationID)
	if err != nil {
		return nil, err
	}
	return s.deleteUploadsNow(ctx, tc)
}

// deleteUploadsNow deletes tc's uploads for an allowed caller, if
// TELECONSULTATION_DELETE_UPLOADS is on.
func (s *Service) deleteUploadsNow(ctx context.Context, tc *Teleconsultation) (*UploadsDeleted, error) {
	if !s.Settings.DeleteUploads {
		return nil, nil
	}
	res, err := s.deleteUploads(ctx, tc)
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// roomDetailsTimeout bounds how long a GET waits for the provider's room
// details before answering without them.
const roomDetailsTimeout = 2 * time.Second

// providerDetails asks the provider about tc's room, if it can tell. A
// failure or a slow answer is logged and leaves the details out: the view
// does not depend on them.
func (s *Service) providerDetails(ctx context.Context, tc *Teleconsultation) *RoomDetails {
	ri, ok := s.Provider.(RoomInspector)
	if !ok || tc.ProviderRoomID == "" || tc.Provider != s.Provider.Name() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, roomDetailsTimeout)
	defer cancel()
	d, err := ri.RoomDetails(ctx, tc)
	if err != nil {
		s.log().Warn("room details unavailable", "id", tc.ID, "room", tc.ProviderRoomID, "err", err)
		return nil
	}
	return d
}
