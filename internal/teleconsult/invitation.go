package teleconsult

import (
	"context"
	"strconv"
	"time"
)

// # Invitations
//
// Every participant with an email gets their own message when the room of
// their teleconsultation is made, an update when it moves, and a
// cancellation when it is cancelled or replaced or when they are removed.
// Who gets what is decided here, as part of the change that causes it
// ([Service.invitations]): the messages are written to the store's outbox
// in the same transaction as the change ([Change.Outbox]), and the
// [Outbox] worker sends them later, with retries. A message row holds no
// patient data: the address and the link are read when it is sent.

// NotifyInvitationsQueued tells a [Notifier] that invitation messages were
// queued in the outbox by a change that no other kind describes (a resend, a
// participant's new language).
const NotifyInvitationsQueued = NotifyCancelled + 1

// InvitationKind says what an invitation message tells its participant.
type InvitationKind int

// Kinds of invitation message.
const (
	InvitationUnknown InvitationKind = iota
	// InvitationInvite: the room is made (or the participant or their
	// address is new); here is the personal link. iCalendar METHOD:REQUEST.
	InvitationInvite
	// InvitationUpdate: the visit moved, or the participant's language or
	// time zone changed. METHOD:REQUEST with a higher SEQUENCE.
	InvitationUpdate
	// InvitationCancel: the visit was cancelled or replaced, or the
	// participant was removed. METHOD:CANCEL with the same UID.
	InvitationCancel
)

var invitationKindNames = [...]string{"unknown", "invite", "update", "cancel"}

func (k InvitationKind) String() string {
	if k < 0 || int(k) >= len(invitationKindNames) {
		return "unknown"
	}
	return invitationKindNames[k]
}

// ParseInvitationKind parses "invite", "update" or "cancel"; anything else
// is InvitationUnknown.
func ParseInvitationKind(s string) InvitationKind {
	for i, n := range invitationKindNames {
		if n == s && i > 0 {
			return InvitationKind(i)
		}
	}
	return InvitationUnknown
}

// DeliveryStatus is where an outbox message stands.
type DeliveryStatus int

// Delivery statuses of an outbox message.
const (
	DeliveryUnknown DeliveryStatus = iota
	// DeliveryPending: not sent yet; sent at NextAttemptAt (after a
	// temporary failure, LastError says why it is waiting).
	DeliveryPending
	// DeliverySent: the mail server accepted it.
	DeliverySent
	// DeliveryFailed: given up: the server refused the recipient or the
	// message for good, or every attempt failed (LastError says why).
	DeliveryFailed
)

var deliveryStatusNames = [...]string{"unknown", "pending", "sent", "failed"}

func (d DeliveryStatus) String() string {
	if d < 0 || int(d) >= len(deliveryStatusNames) {
		return "unknown"
	}
	return deliveryStatusNames[d]
}

// ParseDeliveryStatus parses "pending", "sent" or "failed"; anything else
// is DeliveryUnknown.
func ParseDeliveryStatus(s string) DeliveryStatus {
	for i, n := range deliveryStatusNames {
		if n == s && i > 0 {
			return DeliveryStatus(i)
		}
	}
	return DeliveryUnknown
}

// OutboxMessage is one email to one participant about one change. It is
// recorded in the same transaction as the change that causes it and sent
// later by the [Outbox] worker. It holds no patient data: the recipient's
// address and link are read from the teleconsultation when it is sent.
type OutboxMessage struct {
	// ID is set by the store when the message is written; messages of
	// one participant are sent in ID order.
	ID                 int64
	TeleconsultationID string
	UserID             string
	Kind               InvitationKind
	// Sequence is the iCalendar SEQUENCE of the teleconsultation's event
	// at this change.
	Sequence int
	// StartDate and EndDate are the visit's times at this change, so that
	// every message tells its own change even when sent late.
	StartDate time.Time
	EndDate   time.Time
	// Resend is true for a message queued by a resend request.
	Resend    bool
	CreatedAt time.Time

	// The delivery state, kept by the worker through the store.
	Status        DeliveryStatus
	Attempts      int
	NextAttemptAt time.Time
	// LastError is the reason of the last failure: the mail server's reply
	// (without the recipient's address) or a connection error. It never
	// holds patient data.
	LastError string
	SentAt    time.Time
	UpdatedAt time.Time

	// Emit holds webhook events that [OutboxStore.MarkOutbox] writes in
	// the same transaction as the new delivery state (invitation.failed).
	// Not stored with the message.
	Emit []WebhookMessage
}

// OutboxStore keeps the outbox: the invitation messages written by
// [Store.Apply] with the change that caused them, and their delivery state.
type OutboxStore interface {
	// ClaimOutbox returns up to limit pending messages due at now (
	// NextAttemptAt <= now), oldest first, and hides them from other claims
	// until now+lease. A message is claimable only when no older message
	// to the same participant of the same teleconsultation is still
	// pending, so that one participant's messages go out in order.
	ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]OutboxMessage, error)
	// MarkOutbox stores the delivery state of a claimed message (Status,
	// Attempts, NextAttemptAt, LastError, SentAt, UpdatedAt) and releases
	// its claim, and writes m.Emit in the same transaction. ENOTFOUND if
	// there is no message with m.ID.
	MarkOutbox(ctx context.Context, m *OutboxMessage) error
	// FindOutbox returns every message of a teleconsultation, oldest first.
	FindOutbox(ctx context.Context, teleconsultationID string) ([]OutboxMessage, error)
	// RecoverOutbox runs once when the worker starts: it releases the
	// claims of messages whose sender died, where the store can tell
	// (SQLite: one process owns the database, so every claim left is
	// stale), and returns how many. Those messages may have been accepted
	// by the mail server just before the crash: they are sent again, and
	// may arrive twice. Elsewhere claims expire after their lease.
	RecoverOutbox(ctx context.Context) (int, error)
	// OutboxStats counts the messages not sent (pending and failed) by
	// kind and status, with the creation time of the oldest of each: what
	// monitoring reads at scrape time. Sent messages are not counted;
	// groups with no message are absent.
	OutboxStats(ctx context.Context) ([]OutboxCount, error)
}

// Mail is one invitation email as the [Mailer] renders it: what the
// outbox message says, completed at send time with the recipient's current
// address, language and link. It carries no diagnosis and no other
// participant's address or link; other participants' names only when
// [Outbox.ShowNames] is set.
type Mail struct {
	// MessageID is stable per outbox message (no brackets): a message sent
	// twice after a crash carries the same Message-ID, so that mail
	// systems can drop the duplicate.
	MessageID string
	Kind      InvitationKind
	// UID is the iCalendar UID: stable per teleconsultation.
	UID      string
	Sequence int
	// Stamp is when the change was made (iCalendar DTSTAMP).
	Stamp      time.Time
	Start, End time.Time
	// Opens is when the link starts to work: Start − IMMUTABLE_PERIOD_MS.
	Opens time.Time
	// To is the recipient's address.
	To string
	// Language is the recipient's two-letter language ("" for the
	// default); TimeZone their IANA time zone ("" for the default).
	Language string
	TimeZone string
	// Link is the recipient's personal link; empty for a cancellation.
	Link string
	// Others are the other participants' display names; empty unless
	// names are to be shown.
	Others []string
	// Resend is true when the message was asked for again.
	Resend bool
}

// MailError is what a [Mailer] returns when the mail server did not
// accept a message. Any other error counts as a temporary failure of the
// server (unreachable, refused the connection, the sender or the login).
type MailError struct {
	// Permanent: the server refused this recipient or this message for
	// good (a 5xx reply to RCPT TO or to the message); it is not retried.
	Permanent bool
	// MessageOnly: the failure concerns this message only; other messages
	// may still go through now. Otherwise the server is down or refuses
	// everything, and the other due messages wait too.
	MessageOnly bool
	// Reason is the server's reply or the connection error, without the
	// recipient's address: it is stored and shown in the delivery state.
	Reason string
	// Err is the underlying error, for the log.
	Err error
}

func (e *MailError) Error() string {
	if e.Err != nil {
		return "mail: " + e.Reason + ": " + e.Err.Error()
	}
	return "mail: " + e.Reason
}

func (e *MailError) Unwrap() error { return e.Err }

// Mailer renders and sends one invitation email (the SMTP adapter). Send
// returns nil once the mail server has accepted the message.
type Mailer interface {
	Send(ctx context.Context, m *Mail) error
}

// InvitationState is what the API shows of a participant's invitations:
// the latest message queued for them. While it is pending, Attempts, Reason
// and NextAttemptAt are those of the participant's oldest pending message:
// the one being tried, which the latest waits behind.
type InvitationState struct {
	// Status is "off" (invitations are not configured), "none" (nothing
	// queued: no email, or the room is not made yet), or the latest
	// message's delivery status: "pending", "sent" or "failed".
	Status string
	// The latest message; zero when Status is off or none.
	Kind          InvitationKind
	Sequence      int
	Attempts      int
	Reason        string
	QueuedAt      time.Time
	NextAttemptAt time.Time
	SentAt        time.Time
}

// Invitation states that are not a delivery status.
const (
	InvitationsOff  = "off"
	InvitationsNone = "none"
)

// Limits of resend requests, per participant of a teleconsultation.
const (
	// ResendInterval is the least time between two messages to one
	// participant that a resend request may follow.
	ResendInterval = time.Minute
	// ResendPerHour caps the resend requests in any hour.
	ResendPerHour = 5
)

// announced reports whether a teleconsultation in state st has a room, so
// that its participants hold invitations.
func announced(st State) bool {
	return st == StateScheduled || st == StateInProgress || st == StateEnded
}

// findParticipant returns tc's participant (active or removed) with the
// given user id, or nil. A user id appears at most once.
func findParticipant(tc *Teleconsultation, userID string) *Participant {
	for i := range tc.Participants {
		if tc.Participants[i].UserID == userID {
			return &tc.Participants[i]
		}
	}
	return nil
}

// invitations decides who gets what when tc changes from before (nil for a
// new teleconsultation) to its current value, at now. It is the whole rule:
//
//   - a cancelled or replaced teleconsultation: a cancellation to every
//     participant holding an invitation;
//   - a removed participant holding an invitation: a cancellation;
//   - an active participant with an email who holds no invitation, once the
//     room is made: an invitation;
//   - a participant holding an invitation whose email changed: an
//     invitation to the new address;
//   - a participant holding an invitation when the visit moved, or whose
//     language or time zone changed: an update.
//
// It marks the participants who now hold an invitation (Participant.Invited)
// and, when it queues anything, gives the messages tc's next iCalendar
// SEQUENCE and raises it, so every change is newer than the last. Nothing is
// queued while invitations are off.
func (s *Service) invitations(before, tc *Teleconsultation, now time.Time) []OutboxMessage {
	if !s.Settings.Invitations {
		return nil
	}
	moved := before != nil && (!before.StartDate.Equal(tc.StartDate) || !before.EndDate.Equal(tc.EndDate))
	type one struct {
		userID string
		kind   InvitationKind
	}
	var out []one
	for i := range tc.Participants {
		p := &tc.Participants[i]
		var old *Participant
		if before != nil {
			old = findParticipant(before, p.UserID)
		}
		switch {
		case tc.State.Final() || !p.Active():
			if p.Invited {
				out = append(out, one{p.UserID, InvitationCancel})
				p.Invited = false
			}
		case p.Email == "":
			p.Invited = false
		case !p.Invited:
			if announced(tc.State) {
				out = append(out, one{p.UserID, InvitationInvite})
				p.Invited = true
			}
		case old == nil || old.Email != p.Email:
			out = append(out, one{p.UserID, InvitationInvite})
		case moved || old.Language != p.Language || old.TimeZone != p.TimeZone:
			out = append(out, one{p.UserID, InvitationUpdate})
		}
	}
	if len(out) == 0 {
		return nil
	}
	seq := tc.CalendarSequence
	tc.CalendarSequence++
	msgs := make([]OutboxMessage, len(out))
	for i, o := range out {
		msgs[i] = OutboxMessage{
			TeleconsultationID: tc.ID, UserID: o.userID, Kind: o.kind, Sequence: seq,
			StartDate: tc.StartDate, EndDate: tc.EndDate, CreatedAt: now,
			Status: DeliveryPending, NextAttemptAt: now, UpdatedAt: now,
		}
	}
	return msgs
}

// ResendInvitation queues the current invitation of participant userID of
// teleconsultation id again. The caller acts for callerUserID: nobody (a
// trusted back office), the participant themselves, or a plus participant
// of the teleconsultation. It is refused while invitations are off, before
// the room is made, for a participant without an email (ECONFLICT), and
// more than once a minute or [ResendPerHour] times an hour per participant
// (ERATELIMIT, with retryAfter in seconds).
func (s *Service) ResendInvitation(ctx context.Context, id, callerUserID, userID string) (st *InvitationState, err error) {
	rec := s.audit(ctx, AuditInvitationResend, id)
	rec.e.Object = userID
	defer func() {
		if err = rec.done(ctx, err); err != nil {
			st = nil
		}
	}()
	tc, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := mayAskAbout(tc, callerUserID, userID); err != nil {
		return nil, err
	}
	p := tc.Participant(userID)
	switch {
	case !s.Settings.Invitations:
		return nil, Errorf(ECONFLICT, "invitations are off: SMTP_URL is not set")
	case p == nil:
		return nil, Errorf(ENOTFOUND, "user %s is not a participant of teleconsultation %s", Quote(userID), id)
	case !announced(tc.State):
		return nil, Errorf(ECONFLICT, "teleconsultation %s has no invitations yet: it is %s", id, tc.State)
	case p.Email == "":
		return nil, Errorf(ECONFLICT, "user %s of teleconsultation %s has no email address", Quote(userID), id)
	}
	msgs, err := s.Store.FindOutbox(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var last time.Time
	resends := 0
	var oldestResend time.Time
	for _, m := range msgs {
		if m.UserID != userID {
			continue
		}
		if m.CreatedAt.After(last) {
			last = m.CreatedAt
		}
		if m.Resend && now.Sub(m.CreatedAt) < time.Hour {
			if resends == 0 || m.CreatedAt.Before(oldestResend) {
				oldestResend = m.CreatedAt
			}
			resends++
		}
	}
	wait := time.Duration(0)
	if d := ResendInterval - now.Sub(last); !last.IsZero() && d > 0 {
		wait = d
	}
	if resends >= ResendPerHour {
		wait = max(wait, time.Hour-now.Sub(oldestResend))
	}
	if wait > 0 {
		secs := strconv.Itoa(int((wait + time.Second - 1) / time.Second))
		return nil, &Error{Code: ERATELIMIT,
			Message: "an invitation was sent to this participant recently; try again in " + secs + " seconds",
			Data:    map[string]string{"retryAfter": secs}}
	}
	ch := Change{}
	seq := tc.CalendarSequence - 1
	if !p.Invited || seq < 0 {
		// Never invited (invitations were off when the room was made):
		// this is their first invitation.
		p.Invited = true
		if seq < 0 {
			seq = tc.CalendarSequence
			tc.CalendarSequence++
		}
		tc.UpdatedAt = now
		ch.Update = []*Teleconsultation{tc}
	}
	m := OutboxMessage{
		TeleconsultationID: tc.ID, UserID: userID, Kind: InvitationInvite, Sequence: seq,
		StartDate: tc.StartDate, EndDate: tc.EndDate, Resend: true, CreatedAt: now,
		Status: DeliveryPending, NextAttemptAt: now, UpdatedAt: now,
	}
	ch.Outbox = []OutboxMessage{m}
	rec.change(&ch)
	if err := s.Store.Apply(ctx, ch); err != nil {
		return nil, err
	}
	s.log().Info("invitation queued again", "id", tc.ID, "sequence", seq)
	s.notify(ctx, Notification{Kind: NotifyInvitationsQueued, Teleconsultation: tc})
	return stateOf(&m), nil
}

// mayAskAbout checks that the caller may see or resend userID's
// invitations: a trusted caller acting for nobody (a back office), the
// participant themselves, or a plus participant of the teleconsultation.
func mayAskAbout(tc *Teleconsultation, callerUserID, userID string) error {
	if callerUserID == "" || callerUserID == userID {
		return nil
	}
	if c := tc.Participant(callerUserID); c == nil || c.Role != RolePlus {
		return Errorf(EFORBIDDEN, "only the participant or a plus participant of teleconsultation %s may see or resend this invitation", tc.ID)
	}
	return nil
}

// InvitationState returns the delivery state of participant userID's
// invitation emails in teleconsultation id, for a caller acting for
// callerUserID (see [Service.ResendInvitation] for who may ask). Cancelled
// and replaced teleconsultations and removed participants are included:
// their cancellations have a state too. ENOTFOUND for an unknown
// teleconsultation or a user who never took part.
func (s *Service) InvitationState(ctx context.Context, id, callerUserID, userID string) (st *InvitationState, err error) {
	rec := s.audit(ctx, AuditInvitationRead, id)
	rec.e.Object = userID
	defer func() {
		if err = rec.done(ctx, err); err != nil {
			st = nil
		}
	}()
	tc, err := s.Store.FindByID(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(ENOTFOUND, "Room with id %s not found", id)
	} else if err != nil {
		return nil, err
	}
	if err := mayAskAbout(tc, callerUserID, userID); err != nil {
		return nil, err
	}
	p := findParticipant(tc, userID)
	if p == nil {
		return nil, Errorf(ENOTFOUND, "user %s is not a participant of teleconsultation %s", Quote(userID), id)
	}
	return s.invitationState(ctx, tc, p)
}

// stateOf is the API view of one message.
func stateOf(m *OutboxMessage) *InvitationState {
	st := &InvitationState{
		Status: m.Status.String(), Kind: m.Kind, Sequence: m.Sequence, Attempts: m.Attempts,
		Reason: m.LastError, QueuedAt: m.CreatedAt, SentAt: m.SentAt,
	}
	if m.Status == DeliveryPending {
		st.NextAttemptAt = m.NextAttemptAt
	}
	return st
}

// invitationState returns the state of participant p's invitations in tc:
// off, none, or their latest message's.
func (s *Service) invitationState(ctx context.Context, tc *Teleconsultation, p *Participant) (*InvitationState, error) {
	if !s.Settings.Invitations {
		return &InvitationState{Status: InvitationsOff}, nil
	}
	msgs, err := s.Store.FindOutbox(ctx, tc.ID)
	if err != nil {
		return nil, err
	}
	var st *InvitationState
	for i := len(msgs) - 1; i >= 0; i-- {
		m := &msgs[i]
		if m.UserID != p.UserID {
			continue
		}
		if st == nil {
			st = stateOf(m)
			if m.Status != DeliveryPending {
				break
			}
		} else if m.Status == DeliveryPending {
			// The latest waits behind this older one, which is the one
			// being tried: show its attempts.
			st.Attempts, st.Reason, st.NextAttemptAt = m.Attempts, m.LastError, m.NextAttemptAt
		}
	}
	if st == nil {
		return &InvitationState{Status: InvitationsNone}, nil
	}
	return st, nil
}
