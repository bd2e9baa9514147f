package teleconsult

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ErrNoPlusUser is returned when a complete room would have no plus
// participant.
var ErrNoPlusUser = &Error{Code: EINVALID, Message: "no plus user in room"}

// Service runs the teleconsultation rules over a store, a video provider, a
// notifier and a session-token signer. Every field but Notifier, Events and
// Logger is required.
type Service struct {
	Store    Store
	Provider VideoProvider
	Notifier Notifier
	// Events keeps what provider webhooks need; required by [Service.Webhook].
	Events   ProviderEvents
	Tokens   SessionTokens
	Keys     *Keyring
	Settings Settings
	// Uploads and Files keep uploaded files (tool file_upload); without
	// them uploads are unavailable. Calls, optional, hears about uploads.
	Uploads UploadStore
	Files   FileStore
	Calls   CallNotifier
	// Backgrounds, when set, keeps the company's background images for
	// the built-in call page (a provider that keeps its own,
	// [BackgroundHost], does not need it).
	Backgrounds BackgroundStore
	// Directory, when set (AUTH_SERVICE), looks up participants given by
	// user id alone.
	Directory UserDirectory
	// Waiting, optional, hears when a participant starts waiting in the
	// waiting room ([Service.ParticipantWaiting]).
	Waiting WaitingNotifier
	// Hooks, when set, is woken up when a change queues webhook events.
	Hooks *WebhookOutbox
	// Now returns the current time; tests inject a clock.
	Now    func() time.Time
	Logger *slog.Logger
}

func (s *Service) now() time.Time { return s.Now().UTC() }

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Create makes a teleconsultation and returns its id. When every expected
// participant is known the room is made at once. An earlier live
// teleconsultation for the same AppointmentID is replaced: its links die.
func (s *Service) Create(ctx context.Context, in CreateInput) (id string, err error) {
	rec := s.audit(ctx, AuditCreate, "")
	defer func() {
		if err = rec.done(ctx, err); err != nil {
			id = ""
		}
	}()
	if err := checkDate("start_date", in.StartDate); err != nil {
		return "", err
	}
	end, err := resolveEnd(in.StartDate, in.EndDate, in.Duration)
	if err != nil {
		return "", err
	}
	if !end.After(s.now()) {
		return "", invalid("the teleconsultation would end in the past")
	}
	if len(in.AppointmentID) > maxAppointment || !validText(in.AppointmentID, maxAppointment) {
		return "", invalid("appointmentId: at most %d printable characters", maxAppointment)
	}
	given, err := s.resolveUsers(ctx, in.Participants, dataPath)
	if err != nil {
		return "", err
	}
	parts, err := validateParticipants(in.Number, given)
	if err != nil {
		return "", err
	}
	now := s.now()
	tc := &Teleconsultation{
		ID:                   NewID(),
		AppointmentID:        in.AppointmentID,
		StartDate:            in.StartDate.UTC(),
		EndDate:              end,
		ExpectedParticipants: in.Number,
		Provider:             s.Provider.Name(),
		State:                StateWaiting,
		CreatedAt:            now,
		UpdatedAt:            now,
	}
	for i := range parts {
		p, err := s.newParticipant(&parts[i], fmt.Sprintf("participants.data[%d].", i))
		if err != nil {
			return "", err
		}
		tc.Participants = append(tc.Participants, p)
	}
	rec.e.TeleconsultationID = tc.ID
	if err := s.mapProviderUsers(ctx, tc); err != nil {
		return "", err
	}
	if tc.Complete() {
		if err := s.makeRoom(ctx, tc); err != nil {
			return "", err
		}
		tc.State = StateScheduled
	}
	invites := s.invitations(nil, tc, now)

	// Replace the appointment's live teleconsultation, if any. A race with
	// another create for the same appointment is caught by the store's
	// uniqueness rule (ECONFLICT) and retried.
	var old *Teleconsultation
	var ch Change
	for attempt := 0; ; attempt++ {
		old, err = s.supersede(ctx, tc)
		if err == nil {
			ch = Change{Create: []*Teleconsultation{tc}, Outbox: slices.Clone(invites)}
			if old != nil {
				ch.Update = append(ch.Update, old)
				ch.Outbox = append(ch.Outbox, s.invitations(nil, old, now)...)
				ch.Webhooks = append(s.hooks(HookCreated, tc, 1, now, withReplaces(old.ID)),
					s.hooks(HookReplaced, old, nextVersion(old), now)...)
			} else {
				ch.Webhooks = s.hooks(HookCreated, tc, 1, now)
			}
			rec.change(&ch)
			if old != nil {
				replaced := s.audit(ctx, AuditReplace, old.ID)
				replaced.e.Object = tc.ID
				replaced.change(&ch)
			}
			err = s.Store.Apply(ctx, ch)
		}
		if err == nil || ErrorCode(err) != ECONFLICT || attempt == 2 {
			break
		}
	}
	if err != nil {
		s.dropRoom(ctx, tc)
		return "", err
	}
	s.wakeHooks(ch.Webhooks)
	s.log().Info("teleconsultation created", "id", tc.ID, "state", tc.State.String(), "participants", len(tc.Participants), "expected", tc.ExpectedParticipants)
	if old != nil {
		s.log().Info("teleconsultation replaced", "id", old.ID, "by", tc.ID)
		s.dropRoom(ctx, old)
		s.notify(ctx, Notification{Kind: NotifyCancelled, Teleconsultation: old})
	}
	if tc.State == StateScheduled {
		s.notify(ctx, Notification{Kind: NotifyRoomMade, Teleconsultation: tc})
	}
	return tc.ID, nil
}

// dataPath names participant i of participants.data in messages.
func dataPath(i int) string { return fmt.Sprintf("participants.data[%d]", i) }

// supersede finds the live teleconsultation of tc's appointment and marks it
// replaced by tc. It returns nil if there is none.
func (s *Service) supersede(ctx context.Context, tc *Teleconsultation) (*Teleconsultation, error) {
	if tc.AppointmentID == "" {
		return nil, nil
	}
	old, err := s.Store.FindByAppointment(ctx, tc.AppointmentID)
	if ErrorCode(err) == ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	// Like a PATCH, a replacement is refused while the visit is about to
	// happen or happening: from its window's opening to its end. Before
	// that, or once it is over, the appointment may be confirmed again.
	now := s.now()
	if old.State == StateInProgress || old.State != StateWaiting && old.Window(&s.Settings).Locked(now) && now.Before(old.EndDate) {
		return nil, Errorf(ECONFLICT, "teleconsultation %s of this appointment is open for joining; it cannot be replaced until it ends at %s", old.ID, old.EndDate.Format(TimeLayout))
	}
	if old.State, err = Transition(old.State, EventSuperseded, false); err != nil {
		return nil, err
	}
	old.ReplacedBy = tc.ID
	old.UpdatedAt = s.now()
	return old, nil
}

// newParticipant builds a participant from validated input: role, link.
// path names the participant in errors ("participants.data[1].").
func (s *Service) newParticipant(in *ParticipantInput, path string) (Participant, error) {
	role, err := s.Settings.Config.Privileges.ResolveRole(in.Groups)
	if err != nil {
		return Participant{}, invalid("%sgroups: %s", path, ErrorMessage(err))
	}
	p := Participant{
		UserID:   in.UserID,
		Groups:   slices.Clone(in.Groups),
		FullName: in.FullName,
		Email:    in.Email,
		Language: in.Language,
		TimeZone: in.TimeZone,
		Role:     role,
	}
	s.newLink(&p)
	return p, nil
}

// newLink gives p a fresh personal link; any earlier link of p dies.
func (s *Service) newLink(p *Participant) {
	p.LinkNonce = NewLinkNonce()
	p.LinkHash = LinkHash(s.Keys.LinkCode(p.LinkNonce))
}

// mapProviderUsers fills ProviderUserID for participants that lack one,
// from the user-id map or from a new provider user.
func (s *Service) mapProviderUsers(ctx context.Context, tc *Teleconsultation) error {
	var missing []string
	for _, p := range tc.ActiveParticipants() {
		if p.ProviderUserID == "" {
			missing = append(missing, p.UserID)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	known, err := s.Store.ProviderUsers(ctx, s.Provider.Name(), missing)
	if err != nil {
		return err
	}
	for _, p := range tc.ActiveParticipants() {
		if p.ProviderUserID != "" {
			continue
		}
		if id, ok := known[p.UserID]; ok {
			p.ProviderUserID = id
			continue
		}
		if p.ProviderUserID, err = s.Provider.NewUser(ctx, p.UserID, p.Role); err != nil {
			return err
		}
	}
	return nil
}

// makeRoom checks that a complete teleconsultation may have a room and makes
// it at the provider.
func (s *Service) makeRoom(ctx context.Context, tc *Teleconsultation) error {
	if !tc.HasPlus() {
		return ErrNoPlusUser
	}
	room, err := s.Provider.CreateRoom(ctx, tc, &s.Settings)
	if err != nil {
		return err
	}
	if room == nil || room.ID == "" {
		return Errorf(EBADGATEWAY, "the video provider %s made a room without an id", s.Provider.Name())
	}
	tc.setRoom(room)
	tc.RoomRevision++
	return nil
}

// dropRoom deletes tc's provider room, logging a failure: the room is
// already unreachable through our links.
func (s *Service) dropRoom(ctx context.Context, tc *Teleconsultation) {
	if tc.ProviderRoomID == "" {
		return
	}
	if err := s.Provider.DeleteRoom(ctx, tc); err != nil {
		s.log().Warn("could not delete provider room", "id", tc.ID, "room", tc.ProviderRoomID, "err", err)
	}
}

func (s *Service) notify(ctx context.Context, n Notification) {
	if s.Notifier != nil {
		s.Notifier.Notify(ctx, n)
	}
}

// load returns a teleconsultation that may still change: not cancelled or
// replaced (EGONE), not found (ENOTFOUND).
func (s *Service) load(ctx context.Context, id string) (*Teleconsultation, error) {
	tc, err := s.Store.FindByID(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(ENOTFOUND, "Room with id %s not found", id)
	} else if err != nil {
		return nil, err
	}
	switch tc.State {
	case StateCancelled:
		return nil, &Error{Code: EGONE, Message: "teleconsultation " + id + " was cancelled", Reason: ReasonCancelled}
	case StateReplaced:
		return nil, &Error{Code: EGONE, Message: "teleconsultation " + id + " was replaced by a newer one for the same appointment", Reason: ReasonRescheduled}
	}
	return tc, nil
}

// checkMutable refuses changes once every participant is known and the
// window is locked (Mia's immutable period, IMMUTABLE_PERIOD_MS), or once a call happened. A
// teleconsultation still waiting for participants can always be completed.
func (s *Service) checkMutable(tc *Teleconsultation) error {
	w := tc.Window(&s.Settings)
	if tc.State != StateWaiting && w.Locked(s.now()) {
		return &Error{Code: ECONFLICT,
			Message: "teleconsultation " + tc.ID + " can no longer be changed: it opened for joining at " + w.Opens.Format(TimeLayout),
			Data:    map[string]string{"lockedAt": w.Opens.UTC().Format(TimeLayout)}}
	}
	if tc.State != StateWaiting && tc.State != StateScheduled {
		return Errorf(ECONFLICT, "teleconsultation %s can no longer be changed: it is %s", tc.ID, tc.State)
	}
	return nil
}

// Update changes a teleconsultation before its window opens. A change of
// times or participants remakes the room; removed participants' links die,
// kept participants keep theirs.
func (s *Service) Update(ctx context.Context, id string, in UpdateInput) (err error) {
	rec := s.audit(ctx, AuditUpdate, id)
	defer func() { err = rec.done(ctx, err) }()
	tc, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if err := s.checkMutable(tc); err != nil {
		return err
	}
	before := tc.Clone()

	// Times: a new start alone moves the visit and keeps its length.
	start := tc.StartDate
	if in.StartDate != nil {
		if err := checkDate("start_date", *in.StartDate); err != nil {
			return err
		}
		start = in.StartDate.UTC()
	}
	end, dur := in.EndDate, in.Duration
	if end == nil && dur == nil {
		d := tc.EndDate.Sub(tc.StartDate)
		dur = &d
	}
	newEnd, err := resolveEnd(start, end, dur)
	if err != nil {
		return err
	}
	if !newEnd.After(s.now()) {
		return invalid("the teleconsultation would end in the past")
	}
	timesChanged := !start.Equal(tc.StartDate) || !newEnd.Equal(tc.EndDate)
	tc.StartDate, tc.EndDate = start, newEnd

	number := tc.ExpectedParticipants
	if in.Number != nil {
		number = *in.Number
	}
	var removed []Participant
	participantsChanged := false
	if in.Participants != nil {
		given, err := s.resolveUsers(ctx, *in.Participants, dataPath)
		if err != nil {
			return err
		}
		parts, err := validateParticipants(number, given)
		if err != nil {
			return err
		}
		removed, participantsChanged, err = s.replaceParticipants(tc, parts)
		if err != nil {
			return err
		}
	} else if in.Number != nil {
		if _, err := validateParticipants(number, nil); err != nil {
			return err
		}
		if n := len(tc.ActiveParticipants()); n > number {
			return invalid("participants.number: %d participants are already known", n)
		}
	}
	tc.ExpectedParticipants = number
	if err := s.mapProviderUsers(ctx, tc); err != nil {
		return err
	}

	roomChanged := timesChanged || participantsChanged || number != before.ExpectedParticipants
	if tc.State, err = Transition(tc.State, EventPatched, tc.Complete()); err != nil {
		return err
	}
	if roomChanged || before.ProviderRoomID == "" {
		tc.setRoom(&Room{})
		if tc.State == StateScheduled {
			if err := s.makeRoom(ctx, tc); err != nil {
				return err
			}
		}
	}
	tc.UpdatedAt = s.now()
	ch := Change{Update: []*Teleconsultation{tc}, Outbox: s.invitations(before, tc, tc.UpdatedAt),
		Webhooks: s.hooks(HookUpdated, tc, nextVersion(tc), tc.UpdatedAt)}
	rec.change(&ch)
	if err := s.Store.Apply(ctx, ch); err != nil {
		if tc.ProviderRoomID != before.ProviderRoomID {
			s.dropRoom(ctx, tc)
		}
		return err
	}
	s.wakeHooks(ch.Webhooks)
	if before.ProviderRoomID != "" && before.ProviderRoomID != tc.ProviderRoomID {
		s.dropRoom(ctx, before)
	}
	s.log().Info("teleconsultation updated", "id", tc.ID, "state", tc.State.String(), "room_changed", roomChanged, "removed", len(removed))
	switch {
	case tc.State == StateScheduled && before.State == StateWaiting:
		s.notify(ctx, Notification{Kind: NotifyRoomMade, Teleconsultation: tc})
	case tc.State == StateScheduled && roomChanged:
		s.notify(ctx, Notification{Kind: NotifyChanged, Teleconsultation: tc, Removed: removed})
	case len(removed) > 0:
		s.notify(ctx, Notification{Kind: NotifyChanged, Teleconsultation: tc, Removed: removed})
	case len(ch.Outbox) > 0:
		s.notify(ctx, Notification{Kind: NotifyInvitationsQueued, Teleconsultation: tc})
	}
	return nil
}

// replaceParticipants sets tc's participants to in: kept users keep their
// link and provider id, new users get new ones, missing users are removed.
func (s *Service) replaceParticipants(tc *Teleconsultation, in []ParticipantInput) (removed []Participant, changed bool, err error) {
	now := s.now()
	want := make(map[string]*ParticipantInput, len(in))
	for i := range in {
		want[in[i].UserID] = &in[i]
	}
	for i := range tc.Participants {
		p := &tc.Participants[i]
		if p.Active() && want[p.UserID] == nil {
			p.RemovedAt = now
			removed = append(removed, *p)
			changed = true
		}
	}
	for i := range in {
		np, err := s.newParticipant(&in[i], fmt.Sprintf("participants.data[%d].", i))
		if err != nil {
			return nil, false, err
		}
		idx := slices.IndexFunc(tc.Participants, func(p Participant) bool { return p.UserID == np.UserID })
		switch {
		case idx < 0:
			tc.Participants = append(tc.Participants, np)
			changed = true
		case !tc.Participants[idx].Active():
			// Re-added after removal: a new link, the old one stays dead.
			np.ProviderUserID = tc.Participants[idx].ProviderUserID
			tc.Participants[idx] = np
			changed = true
		default:
			old := &tc.Participants[idx]
			np.LinkNonce, np.LinkHash, np.ProviderUserID = old.LinkNonce, old.LinkHash, old.ProviderUserID
			np.ProviderLink = old.ProviderLink
			np.Invited = old.Invited
			if np.Role != old.Role || !slices.Equal(np.Groups, old.Groups) {
				changed = true
			}
			*old = np
		}
	}
	return removed, changed, nil
}

// AddParticipant adds one participant to a teleconsultation that is waiting
// for participants, and makes the room when the list is full.
func (s *Service) AddParticipant(ctx context.Context, id string, in ParticipantInput) (err error) {
	rec := s.audit(ctx, AuditParticipantAdd, id)
	rec.e.Object = strings.TrimSpace(in.UserID)
	defer func() { err = rec.done(ctx, err) }()
	tc, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if err := s.checkMutable(tc); err != nil {
		return err
	}
	if tc.State != StateWaiting {
		return Errorf(ECONFLICT, "teleconsultation %s already has all its %d participants", id, tc.ExpectedParticipants)
	}
	before := tc.Clone()
	if tc.Participant(strings.TrimSpace(in.UserID)) != nil {
		return Errorf(ECONFLICT, "user %s is already a participant of teleconsultation %s", Quote(strings.TrimSpace(in.UserID)), id)
	}
	given, err := s.resolveUsers(ctx, []ParticipantInput{in}, func(int) string { return "" })
	if err != nil {
		return err
	}
	in = given[0]
	if err := validateParticipant("", &in); err != nil {
		return err
	}
	if _, err := s.newParticipant(&in, ""); err != nil {
		return err
	}
	if tc.Participant(in.UserID) != nil {
		return Errorf(ECONFLICT, "user %s is already a participant of teleconsultation %s", Quote(in.UserID), id)
	}
	if _, _, err := s.replaceParticipants(tc, append(activeInputs(tc), in)); err != nil {
		return err
	}
	if err := s.mapProviderUsers(ctx, tc); err != nil {
		return err
	}
	if tc.State, err = Transition(tc.State, EventParticipantAdded, tc.Complete()); err != nil {
		return err
	}
	if tc.State == StateScheduled {
		if err := s.makeRoom(ctx, tc); err != nil {
			return err
		}
	}
	tc.UpdatedAt = s.now()
	ch := Change{Update: []*Teleconsultation{tc}, Outbox: s.invitations(before, tc, tc.UpdatedAt),
		Webhooks: s.hooks(HookUpdated, tc, nextVersion(tc), tc.UpdatedAt)}
	rec.change(&ch)
	if err := s.Store.Apply(ctx, ch); err != nil {
		s.dropRoom(ctx, tc)
		return err
	}
	s.wakeHooks(ch.Webhooks)
	s.log().Info("participant added", "id", tc.ID, "state", tc.State.String())
	if tc.State == StateScheduled {
		s.notify(ctx, Notification{Kind: NotifyRoomMade, Teleconsultation: tc})
	}
	return nil
}

// activeInputs turns tc's active participants back into inputs.
func activeInputs(tc *Teleconsultation) []ParticipantInput {
	var out []ParticipantInput
	for _, p := range tc.ActiveParticipants() {
		out = append(out, ParticipantInput{UserID: p.UserID, Groups: p.Groups, FullName: p.FullName,
			Language: p.Language, Email: p.Email, TimeZone: p.TimeZone})
	}
	return out
}

// Cancel cancels a teleconsultation: the record is kept, marked cancelled,
// its room deleted and all its links die.
func (s *Service) Cancel(ctx context.Context, id string) (err error) {
	rec := s.audit(ctx, AuditCancel, id)
	defer func() { err = rec.done(ctx, err) }()
	tc, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if tc.State, err = Transition(tc.State, EventCancelled, false); err != nil {
		return err
	}
	if tc.State == StateCancelled && !tc.CallStartedAt.IsZero() {
		tc.CallUsed = tc.DurationUsed(s.now())
		tc.CallStartedAt = time.Time{}
	}
	// The room goes first: if the provider cannot delete it now, nothing
	// changes and the caller can try again; a room already gone is fine.
	if tc.ProviderRoomID != "" {
		if err := s.Provider.DeleteRoom(ctx, tc); err != nil {
			return err
		}
	}
	tc.UpdatedAt = s.now()
	ch := Change{Update: []*Teleconsultation{tc}, Outbox: s.invitations(nil, tc, tc.UpdatedAt),
		Webhooks: s.hooks(HookCancelled, tc, nextVersion(tc), tc.UpdatedAt)}
	rec.change(&ch)
	if err := s.Store.Apply(ctx, ch); err != nil {
		return err
	}
	s.wakeHooks(ch.Webhooks)
	s.log().Info("teleconsultation cancelled", "id", tc.ID)
	s.notify(ctx, Notification{Kind: NotifyCancelled, Teleconsultation: tc})
	return nil
}

// ParticipantView is another participant as a participant sees them.
type ParticipantView struct {
	ProviderUserID string
	FullName       string
}

// View is GET /teleconsultation/{id} for one participant.
type View struct {
	ProviderUserID string
	// AccessLinkURL is nil until the window opens.
	AccessLinkURL *string
	Participants  []ParticipantView
	Status        State
	Window        Window
	Duration      time.Duration
	DurationUsed  time.Duration
	Live          bool
	CreatedAt     time.Time
	Role          Role
	Tools         Tools
	Expected      int
	// Joinable says whether the participant's link can be used now.
	Joinable bool
	// ProviderDetails is what the video provider says about the room, for
	// providers that can tell (Kaleyra); nil otherwise.
	ProviderDetails *RoomDetails
	// Waiting is who waits in the waiting room (WAITING_ROOM), for a
	// participant whose role admits and a provider that holds one (the
	// built-in SFU); nil otherwise.
	Waiting []WaitingPerson
}

// LinkOptions are what Mia's GET asks of the link it returns, carried in
// the personal link's query (?lang=, &useBackground=true) to the link
// exchange, which makes the provider's join target with them.
type LinkOptions struct {
	// Language is GET's language (two letters, such as it or en); ""
	// for none.
	Language string
	// Background is GET's useBackground=true: the company's virtual
	// background ([Settings.Background]).
	Background bool
}

// View returns what participant userID may see of teleconsultation id.
// A caller who is not a participant gets EUNAUTHORIZED "Unauthorized user"
// and never a link. The link options, when set, are carried into the link.
func (s *Service) View(ctx context.Context, id, userID string, o LinkOptions) (v *View, err error) {
	rec := s.audit(ctx, AuditView, id)
	defer func() {
		if err = rec.done(ctx, err); err != nil {
			v = nil
		}
	}()
	if o.Language != "" && !languageRE.MatchString(o.Language) {
		return nil, invalid("language: must be a two-letter code such as en or it")
	}
	tc, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	p := tc.Participant(userID)
	if userID == "" || p == nil {
		return nil, Errorf(EUNAUTHORIZED, "Unauthorized user")
	}
	rec.participant(p.UserID, p.ProviderUserID)
	now := s.now()
	w := tc.Window(&s.Settings)
	v = &View{
		ProviderUserID: p.ProviderUserID,
		Status:         tc.Status(now, &s.Settings),
		Window:         w,
		Duration:       tc.EndDate.Sub(tc.StartDate),
		DurationUsed:   tc.DurationUsed(now),
		Live:           s.Settings.Live,
		CreatedAt:      tc.CreatedAt,
		Role:           p.Role,
		Tools:          s.Settings.Config.Privileges.Tools(p.Role),
		Expected:       tc.ExpectedParticipants,
	}
	for _, o := range tc.ActiveParticipants() {
		v.Participants = append(v.Participants, ParticipantView{ProviderUserID: o.ProviderUserID, FullName: o.FullName})
	}
	if tc.State != StateWaiting && w.Locked(now) {
		link := s.LinkURL(p, o)
		v.AccessLinkURL = &link
		v.Joinable = !w.Closed(now)
	}
	v.ProviderDetails = s.providerDetails(ctx, tc)
	v.Waiting = s.waitingFor(tc, p.Role)
	return v, nil
}

// LinkURL is p's personal link: PUBLIC_URL/join/<code>, with ?lang= when a
// language is asked for and useBackground=true when the background is.
func (s *Service) LinkURL(p *Participant, o LinkOptions) string {
	u := s.Settings.PublicURL + "/join/" + s.Keys.LinkCode(p.LinkNonce)
	q := url.Values{}
	if o.Language != "" {
		q.Set("lang", o.Language)
	}
	if o.Background {
		q.Set("useBackground", "true")
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// CallSession is what a personal link is traded for.
type CallSession struct {
	Token              string
	ExpiresAt          time.Time
	TeleconsultationID string
	UserID             string
	DisplayName        string
	Role               Role
	Tools              Tools
	Language           string
	Theme              Theme
	CompanyLogo        string
	Window             Window
	Status             State
	Others             []string
	// Waits and Admits are the participant's part in the waiting room
	// (both false when WAITING_ROOM is off).
	Waits  bool
	Admits bool
	// Join is where the participant goes to join the call at the video
	// provider.
	Join *JoinTarget
	// Background is the virtual background the built-in call page applies
	// ([Settings.Background]); nil for none, and for the other providers
	// (their links carry it).
	Background *CallBackground
}

// linkCodeLen is the length of a link code (base64url of 32 bytes).
const linkCodeLen = 43

// ErrUnknownLink is returned for a link code that matches no participant.
var ErrUnknownLink = &Error{Code: EUNAUTHORIZED, Message: "unknown link: check that the whole link was copied", Reason: ReasonUnauthorized}

// Exchange trades a personal link code for a session token and the call
// configuration. Every refusal carries a [Reason]: unknown codes are
// EUNAUTHORIZED (unauthorized); a link used before its window opens is
// EFORBIDDEN (not-open, with opensAt and startDate), or not-ready while
// participants are missing; revoked links, cancelled, replaced
// (rescheduled) or ended teleconsultations are EGONE.
func (s *Service) Exchange(ctx context.Context, code string) (*CallSession, error) {
	return s.ExchangeIn(ctx, code, LinkOptions{})
}

// ExchangeIn is [Service.Exchange] for a personal link opened with the
// options GET put in it (?lang=, useBackground=true). As Mia's GET
// language=it|en gives the provider's link in that language, the
// provider's join target (the Kaleyra link) is made in it; the session's
// Language stays the participant's own when they have one (the call
// page's rule), else it is o.Language. As Mia's useBackground=true gives
// the link with the company's background, the join target has it
// ([Settings.Background]).
func (s *Service) ExchangeIn(ctx context.Context, code string, o LinkOptions) (cs *CallSession, err error) {
	rec := s.audit(ctx, AuditExchange, "")
	defer func() {
		if err = rec.done(ctx, err); err != nil {
			cs = nil
		}
	}()
	language := o.Language
	if language != "" && !languageRE.MatchString(language) {
		return nil, invalid("language: must be a two-letter code such as en or it")
	}
	if len(code) != linkCodeLen {
		return nil, ErrUnknownLink
	}
	hash := LinkHash(code)
	tc, err := s.Store.FindByLinkHash(ctx, hash)
	if ErrorCode(err) == ENOTFOUND {
		return nil, ErrUnknownLink
	} else if err != nil {
		return nil, err
	}
	var p *Participant
	for i := range tc.Participants {
		if slices.Equal(tc.Participants[i].LinkHash, hash) {
			p = &tc.Participants[i]
			break
		}
	}
	if p == nil {
		return nil, ErrUnknownLink
	}
	rec.e.TeleconsultationID = tc.ID
	rec.participant(p.UserID, p.ProviderUserID)
	now := s.now()
	w := tc.Window(&s.Settings)
	if err := s.refusal(tc, p, w, now); err != nil {
		return nil, err
	}
	exp := now.Add(s.Settings.SessionTTL)
	if w.Limited && exp.After(w.End) {
		exp = w.End
	}
	token, err := s.Tokens.Issue(SessionClaims{
		Kind: SessionParticipant, TeleconsultationID: tc.ID, UserID: p.UserID,
		ProviderUserID: p.ProviderUserID, RoomRevision: tc.RoomRevision,
		IssuedAt: now, ExpiresAt: exp,
	})
	if err != nil {
		return nil, err
	}
	if tc.Provider != s.Provider.Name() {
		return nil, Errorf(ECONFLICT, "this visit was set up with video provider %s, but the service now uses %s: confirm its appointment again to move it", tc.Provider, s.Provider.Name())
	}
	joiner := *p
	if language != "" {
		joiner.Language = language
	}
	join, err := s.Provider.Join(ctx, tc, &joiner, &s.Settings, JoinOptions{Until: exp, Background: s.Settings.Background(p, o.Background)})
	if err != nil {
		return nil, err
	}
	sessionLanguage := p.Language
	if sessionLanguage == "" {
		sessionLanguage = language
	}
	cs = &CallSession{
		Token: token, ExpiresAt: exp, TeleconsultationID: tc.ID, UserID: p.UserID,
		DisplayName: p.FullName, Role: p.Role, Tools: s.Settings.Config.Privileges.Tools(p.Role),
		Language: sessionLanguage, Theme: s.Settings.Config.Theme, CompanyLogo: s.Settings.Config.CompanyLogo.URL,
		Window: w, Status: tc.Status(now, &s.Settings), Join: join,
		Waits: s.Settings.Waits(p.Role), Admits: s.Settings.Admits(p.Role),
	}
	if join != nil && join.Provider == BuiltinProvider {
		cs.Background = s.callBackground(ctx, p, o.Background)
	}
	for _, o := range tc.ActiveParticipants() {
		if o != p {
			cs.Others = append(cs.Others, o.FullName)
		}
	}
	return cs, nil
}

// Credentials is what POST /credentials returns.
type Credentials struct {
	AccessToken    string
	ExpiresAt      time.Time
	ProviderUserID string
}

// MaxCredentialsTTL bounds expiresIn of POST /credentials.
const MaxCredentialsTTL = 24 * time.Hour

// Credentials issues a user session token for userID, valid for ttl (0
// means one hour). Only a user known to the service may have one: an active
// participant of a teleconsultation that is neither cancelled nor replaced;
// anyone else is EUNAUTHORIZED "Unauthorized user", as in Mia. The user is
// added to the user-id map if missing.
func (s *Service) Credentials(ctx context.Context, userID string, ttl time.Duration) (c *Credentials, err error) {
	rec := s.audit(ctx, AuditCredentials, "")
	defer func() {
		if err = rec.done(ctx, err); err != nil {
			c = nil
		}
	}()
	if userID == "" {
		return nil, Errorf(EUNAUTHORIZED, "Unauthorized user")
	}
	if !validText(userID, maxUserIDLen) {
		return nil, invalid("user id: at most %d printable characters", maxUserIDLen)
	}
	if ttl == 0 {
		ttl = time.Hour
	}
	if ttl < time.Minute || ttl > MaxCredentialsTTL {
		return nil, invalid("expiresIn: must be between 60 and %d seconds", int(MaxCredentialsTTL/time.Second))
	}
	if ok, err := s.Store.KnownUser(ctx, userID); err != nil {
		return nil, err
	} else if !ok {
		return nil, Errorf(EUNAUTHORIZED, "Unauthorized user")
	}
	known, err := s.Store.ProviderUsers(ctx, s.Provider.Name(), []string{userID})
	if err != nil {
		return nil, err
	}
	pid, ok := known[userID]
	if !ok {
		cand, err := s.Provider.NewUser(ctx, userID, RoleUnknown)
		if err != nil {
			return nil, err
		}
		if pid, err = s.Store.EnsureProviderUser(ctx, s.Provider.Name(), userID, cand); err != nil {
			return nil, err
		}
	}
	if ci, ok := s.Provider.(CredentialsIssuer); ok {
		tok, exp, err := ci.Credentials(ctx, pid, ttl)
		if err != nil {
			return nil, err
		}
		return &Credentials{AccessToken: tok, ExpiresAt: exp, ProviderUserID: pid}, nil
	}
	now := s.now()
	claims := SessionClaims{Kind: SessionUser, UserID: userID, ProviderUserID: pid, IssuedAt: now, ExpiresAt: now.Add(ttl)}
	tok, err := s.Tokens.Issue(claims)
	if err != nil {
		return nil, err
	}
	return &Credentials{AccessToken: tok, ExpiresAt: claims.ExpiresAt, ProviderUserID: pid}, nil
}

// CallStarted records that a call began in teleconsultation id.
func (s *Service) CallStarted(ctx context.Context, id string) error {
	return s.callEvent(ctx, id, EventCallStarted)
}

// CallEnded records that the call in teleconsultation id ended.
func (s *Service) CallEnded(ctx context.Context, id string) error {
	return s.callEvent(ctx, id, EventCallEnded)
}

func (s *Service) callEvent(ctx context.Context, id string, ev Event) (err error) {
	action := AuditCallStart
	if ev == EventCallEnded {
		action = AuditCallEnd
	}
	rec := s.audit(ctx, action, id)
	defer func() { err = rec.done(ctx, err) }()
	for attempt := 0; ; attempt++ {
		tc, err := s.load(ctx, id)
		if err != nil {
			return err
		}
		now := s.now()
		if tc.State, err = Transition(tc.State, ev, true); err != nil {
			return err
		}
		switch ev {
		case EventCallStarted:
			tc.CallStartedAt = now
			tc.noteCallStart(now)
		case EventCallEnded:
			tc.CallUsed += now.Sub(tc.CallStartedAt)
			tc.CallStartedAt, tc.CallEndedAt = time.Time{}, now
		}
		tc.UpdatedAt = now
		hook := HookCallStarted
		if ev == EventCallEnded {
			hook = HookCallEnded
		}
		ch := Change{Update: []*Teleconsultation{tc}, Webhooks: s.hooks(hook, tc, nextVersion(tc), now)}
		rec.change(&ch)
		err = s.Store.Apply(ctx, ch)
		if err == nil || ErrorCode(err) != ECONFLICT || attempt == 2 {
			if err != nil {
				return err
			}
			s.wakeHooks(ch.Webhooks)
			s.log().Info(ev.String(), "id", id)
			// TELECONSULTATION_DELETE_UPLOADS: a call's files go when it ends.
			if ev == EventCallEnded && s.Settings.DeleteUploads {
				_, _ = s.deleteUploads(ctx, tc) // logged there
			}
			return nil
		}
	}
}

// Ready checks the store.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.Store.Ping(ctx); err != nil {
		return &Error{Code: EUNAVAILABLE, Message: "database unavailable", Err: err}
	}
	return nil
}

// Find returns teleconsultation id in whatever state it is, cancelled and
// replaced ones included, for a trusted caller's read of its record (the
// FHIR Appointment and Encounter). An unknown id is ENOTFOUND.
func (s *Service) Find(ctx context.Context, id string) (tc *Teleconsultation, err error) {
	rec := s.audit(ctx, AuditRecordRead, id)
	defer func() {
		if err = rec.done(ctx, err); err != nil {
			tc = nil
		}
	}()
	tc, err = s.Store.FindByID(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(ENOTFOUND, "Room with id %s not found", id)
	}
	return tc, err
}

// Clock returns the service's current time (UTC), for adapters that
// describe a teleconsultation at a moment ([Teleconsultation.Status]).
func (s *Service) Clock() time.Time { return s.now() }
