package teleconsult

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of the [Outbox] worker.
const (
	DefaultOutboxBatch       = 10
	DefaultOutboxLease       = 5 * time.Minute
	DefaultOutboxPoll        = time.Second
	DefaultOutboxBaseBackoff = 30 * time.Second
	DefaultOutboxMaxBackoff  = time.Hour
	DefaultOutboxMaxAttempts = 20
)

// Outbox is the worker that sends the invitation messages queued in the
// store's outbox. It lives in the domain because its rules are business
// rules: every committed message is sent at least once, one participant's
// messages in order, temporary failures retried with exponential backoff up
// to a limit, a recipient refused for good marked failed at once with the
// server's reason, and the recipient's data read only at send time. It
// reaches the outside only through [Store] and [Mailer].
//
// Several workers (one per replica) may share a PostgreSQL database: claims
// keep them from sending the same message. A message is marked sent right
// after the server accepts it; a crash between the two sends it again after
// restart (the only duplicates; they carry the same Message-ID).
//
// Outbox is a [Notifier]: a notification wakes it up at once.
type Outbox struct {
	// Service gives the store, the keys (personal links), the settings,
	// the clock and the logger. Required.
	Service *Service
	// Mailer sends the messages. Required.
	Mailer Mailer
	// ShowNames puts the other participants' names in the messages
	// (INVITE_SHOW_NAMES). Off by default: minimum patient data.
	ShowNames bool

	// Tuning; zero means the Default* values.
	Batch       int           // messages claimed at a time
	Lease       time.Duration // how long a claim hides its messages from other workers
	Poll        time.Duration // how often due messages are looked for
	BaseBackoff time.Duration // wait after a first temporary failure; doubled after each
	MaxBackoff  time.Duration // longest wait between two attempts
	MaxAttempts int           // attempts before a message is marked failed

	once sync.Once
	wake chan struct{}
}

var _ Notifier = (*Outbox)(nil)

func (o *Outbox) init() {
	o.once.Do(func() { o.wake = make(chan struct{}, 1) })
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Notify implements [Notifier]: it wakes the worker up.
func (o *Outbox) Notify(context.Context, Notification) {
	o.init()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Run sends due messages until ctx is done. It first recovers the claims
// of a previous process (see [OutboxStore.RecoverOutbox]). A message being
// sent when ctx ends is finished (its send is bounded by the mailer's
// timeout) and recorded.
func (o *Outbox) Run(ctx context.Context) {
	o.init()
	log := o.Service.log()
	if n, err := o.Service.Store.RecoverOutbox(ctx); err != nil {
		log.Error("outbox: recovering claims", "err", err)
	} else if n > 0 {
		log.Warn("outbox: invitations were being sent when the service stopped; they are sent again and may arrive twice", "count", n)
	}
	poll := orDefault(o.Poll, DefaultOutboxPoll)
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for {
		// Until nothing is claimable: a full batch may have more behind
		// it, and a sent message may free its participant's next one.
		for ctx.Err() == nil {
			n, err := o.RunOnce(ctx)
			if err != nil {
				log.Error("outbox", "err", err)
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-o.wake:
		}
	}
}

// RunOnce claims one batch of due messages and tries each once. It returns
// how many it claimed. Tests call it directly with an injected clock.
func (o *Outbox) RunOnce(ctx context.Context) (int, error) {
	svc := o.Service
	now := svc.now()
	msgs, err := svc.Store.ClaimOutbox(ctx, now, orDefault(o.Lease, DefaultOutboxLease), orDefault(o.Batch, DefaultOutboxBatch))
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	// Recording a result must survive a shutdown that starts meanwhile:
	// the server may already have accepted the message.
	bg := context.WithoutCancel(ctx)
	tcs := map[string]*Teleconsultation{}
	for i := range msgs {
		m := &msgs[i]
		if ctx.Err() != nil {
			return len(msgs), o.release(bg, msgs[i:], svc.now(), "")
		}
		mail, skip, err := o.compose(ctx, m, tcs)
		if err != nil {
			return len(msgs), errors.Join(err, o.release(bg, msgs[i:], svc.now(), ""))
		}
		var sendErr error
		if skip == "" {
			sctx, cancel := context.WithTimeout(bg, orDefault(o.Lease, DefaultOutboxLease))
			sendErr = o.Mailer.Send(sctx, mail)
			cancel()
		}
		m.Attempts++
		at := svc.now()
		m.UpdatedAt = at
		var me *MailError
		switch {
		case skip != "":
			m.Status, m.LastError = DeliveryFailed, skip
		case sendErr == nil:
			m.Status, m.LastError, m.SentAt = DeliverySent, "", at
		case errors.As(sendErr, &me) && me.Permanent:
			m.Status, m.LastError = DeliveryFailed, me.Reason
		default:
			m.LastError = reasonOf(sendErr)
			if m.Attempts >= orDefault(o.MaxAttempts, DefaultOutboxMaxAttempts) {
				m.Status = DeliveryFailed
				m.LastError += " (gave up after " + strconv.Itoa(m.Attempts) + " attempts)"
			} else {
				m.NextAttemptAt = at.Add(o.backoff(m.Attempts))
			}
		}
		if m.Status == DeliveryFailed {
			if tc := tcs[m.TeleconsultationID]; tc != nil {
				m.Emit = svc.hooks(HookInvitationFailed, tc, tc.Version, at, func(d *HookData) {
					d.Invitation = &HookInvitation{UserID: m.UserID, Kind: m.Kind.String(), Sequence: m.Sequence, Attempts: m.Attempts, Reason: m.LastError}
				})
			}
		}
		if err := svc.Store.MarkOutbox(bg, m); err != nil {
			return len(msgs), errors.Join(err, o.release(bg, msgs[i+1:], at, ""))
		}
		svc.wakeHooks(m.Emit)
		o.logResult(m)
		if sendErr != nil && m.Status == DeliveryPending && (me == nil || !me.MessageOnly) {
			// The server is down or refuses everything: the rest of the
			// batch waits as long, without counting an attempt.
			return len(msgs), o.release(bg, msgs[i+1:], m.NextAttemptAt, m.LastError)
		}
	}
	return len(msgs), nil
}

// release gives claimed, untried messages back, due at at.
func (o *Outbox) release(ctx context.Context, msgs []OutboxMessage, at time.Time, reason string) error {
	var errs []error
	for i := range msgs {
		m := &msgs[i]
		m.NextAttemptAt, m.UpdatedAt = at, o.Service.now()
		if reason != "" {
			m.LastError = reason
		}
		errs = append(errs, o.Service.Store.MarkOutbox(ctx, m))
	}
	return errors.Join(errs...)
}

// backoff is the wait after the given number of failed attempts.
func (o *Outbox) backoff(attempts int) time.Duration {
	d := orDefault(o.BaseBackoff, DefaultOutboxBaseBackoff)
	limit := orDefault(o.MaxBackoff, DefaultOutboxMaxBackoff)
	for i := 1; i < attempts && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// reasonOf is a failure's reason as stored and shown: a MailError's Reason,
// else a generic text (other errors may hold anything).
func reasonOf(err error) string {
	var me *MailError
	if errors.As(err, &me) && me.Reason != "" {
		return me.Reason
	}
	return "the mail server could not be reached"
}

// logResult logs a message's new state: ids and the reason only (the
// error's own text may name the recipient).
func (o *Outbox) logResult(m *OutboxMessage) {
	log := o.Service.log()
	args := []any{"id", m.TeleconsultationID, "message", m.ID, "kind", m.Kind.String(), "sequence", m.Sequence, "attempts", m.Attempts}
	switch m.Status {
	case DeliverySent:
		log.Info("invitation sent", args...)
	case DeliveryFailed:
		log.Warn("invitation failed", append(args, "reason", m.LastError)...)
	default:
		log.Warn("invitation not sent; will retry", append(args, "reason", m.LastError, "next_attempt_at", m.NextAttemptAt)...)
	}
}

// compose completes a message with the recipient's current data. skip is
// set, with a reason, when it cannot be sent at all.
func (o *Outbox) compose(ctx context.Context, m *OutboxMessage, tcs map[string]*Teleconsultation) (mail *Mail, skip string, err error) {
	svc := o.Service
	tc, ok := tcs[m.TeleconsultationID]
	if !ok {
		tc, err = svc.Store.FindByID(ctx, m.TeleconsultationID)
		if ErrorCode(err) == ENOTFOUND {
			return nil, "the teleconsultation no longer exists", nil
		} else if err != nil {
			return nil, "", err
		}
		tcs[tc.ID] = tc
	}
	p := findParticipant(tc, m.UserID)
	switch {
	case p == nil:
		return nil, "the user is no longer a participant", nil
	case p.Email == "":
		return nil, "the participant has no email address", nil
	}
	host := linkHost(svc.Settings.PublicURL)
	mail = &Mail{
		MessageID: tc.ID + "." + strconv.FormatInt(m.ID, 10) + "@" + host,
		Kind:      m.Kind,
		UID:       tc.ID + "@" + host,
		Sequence:  m.Sequence,
		Stamp:     m.CreatedAt,
		Start:     m.StartDate,
		End:       m.EndDate,
		Opens:     m.StartDate.Add(-svc.Settings.ImmutablePeriod),
		To:        p.Email,
		Language:  p.Language,
		TimeZone:  p.TimeZone,
		Resend:    m.Resend,
	}
	if m.Kind != InvitationCancel {
		mail.Link = svc.LinkURL(p, LinkOptions{})
	}
	if o.ShowNames {
		for _, other := range tc.ActiveParticipants() {
			if other.UserID != p.UserID {
				mail.Others = append(mail.Others, other.FullName)
			}
		}
	}
	return mail, "", nil
}

// linkHost is the host name of PUBLIC_URL, for UIDs and Message-IDs.
func linkHost(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil || u.Hostname() == "" || strings.Contains(u.Hostname(), ":") {
		return "teleconsult.invalid"
	}
	return u.Hostname()
}
