package teleconsult

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// # Outgoing webhooks
//
// The booking system hears what happened to its visits through signed
// webhooks (the Standard Webhooks specification; the signing is the
// internal/webhook adapter's). Which events a change causes, and what they
// say, is decided here: the events are written to the store's webhook
// outbox in the same transaction as the change ([Change.Webhooks]), one
// row per receiver whose filter takes them, and the [WebhookOutbox] worker
// delivers them later, with retries, one visit's events to one receiver in
// order. A payload carries ids, states and times: never a name, an email
// or a link.

// WebhookEvent is the type of an outgoing webhook event.
type WebhookEvent string

// Outgoing webhook events.
const (
	// HookCreated: a teleconsultation was created (data.replaces names
	// the one it replaced, if any).
	HookCreated WebhookEvent = "teleconsultation.created"
	// HookUpdated: its times, participants or state changed by a PATCH
	// or a participant added.
	HookUpdated WebhookEvent = "teleconsultation.updated"
	// HookCancelled: it was cancelled.
	HookCancelled WebhookEvent = "teleconsultation.cancelled"
	// HookReplaced: its appointment was confirmed again; data.replacedBy
	// names the successor.
	HookReplaced WebhookEvent = "teleconsultation.replaced"
	// HookCallStarted and HookCallEnded: a call began or ended.
	HookCallStarted WebhookEvent = "call.started"
	HookCallEnded   WebhookEvent = "call.ended"
	// HookParticipantJoined and HookParticipantLeft: a participant came
	// into or went out of the call.
	HookParticipantJoined WebhookEvent = "participant.joined"
	HookParticipantLeft   WebhookEvent = "participant.left"
	// HookParticipantWaiting: a participant started waiting in the
	// waiting room (WAITING_ROOM) to be let in.
	HookParticipantWaiting WebhookEvent = "participant.waiting"
	// HookInvitationFailed: an invitation email was given up.
	HookInvitationFailed WebhookEvent = "invitation.failed"
)

// WebhookEvents lists every event type, in the order of the documentation.
func WebhookEvents() []WebhookEvent {
	return []WebhookEvent{HookCreated, HookUpdated, HookCancelled, HookReplaced,
		HookCallStarted, HookCallEnded, HookParticipantJoined, HookParticipantLeft,
		HookParticipantWaiting, HookInvitationFailed}
}

// WebhookEndpoint is one receiver of outgoing webhooks: WEBHOOK_URL and
// WEBHOOK_SECRET, or an entry of the JSON configuration's "webhooks".
type WebhookEndpoint struct {
	// Name identifies the receiver in the delivery state; it is stored with
	// each delivery, so keep it when changing the URL. WEBHOOK_URL's is
	// "default".
	Name string `json:"name"`
	// URL receives the POSTs: absolute http(s), no user information.
	URL string `json:"url"`
	// Secret is the signing key: Standard Webhooks' "whsec_" + base64,
	// decoded. Never printed: it marshals as "******".
	Secret WebhookSecret `json:"secret"`
	// Events are the event types sent; empty means every one.
	Events []WebhookEvent `json:"events,omitempty"`
	// Target, when set, makes this receiver one that takes its events in
	// a form of its own rather than as signed webhooks (a FHIR server);
	// Secret is then unused. Set by the wiring, never by the JSON
	// configuration.
	Target HookTarget `json:"-"`
}

// HookTarget is a receiver of the webhook outbox that is not a Standard
// Webhooks endpoint: a FHIR server, to which the internal/fhir adapter
// sends the visit's Encounter. Its events keep the outbox's rules: written
// in the same transaction as the change, delivered in order per visit,
// retried with backoff, given up after the same number of attempts.
type HookTarget interface {
	// Body returns what is sent for event ev about tc, as the change
	// stores it (at version), at now. It is stored in the outbox as the
	// message's payload and handed to Send on every attempt.
	Body(ev WebhookEvent, tc *Teleconsultation, version int, now time.Time) ([]byte, error)
	// Send delivers one attempt, as [WebhookSender.Send] does.
	WebhookSender
}

// DefaultWebhookName is the name of the receiver of WEBHOOK_URL.
const DefaultWebhookName = "default"

// Wants reports whether the endpoint takes events of type ev.
func (e *WebhookEndpoint) Wants(ev WebhookEvent) bool {
	return len(e.Events) == 0 || slices.Contains(e.Events, ev)
}

// WebhookSecret is a decoded signing key. It reads Standard Webhooks'
// "whsec_<base64>" form and marshals as a mask, so that printing the
// configuration never shows it.
type WebhookSecret []byte

// MarshalJSON implements [json.Marshaler]: a mask, never the key.
func (s WebhookSecret) MarshalJSON() ([]byte, error) {
	if len(s) == 0 {
		return []byte(`""`), nil
	}
	return []byte(`"******"`), nil
}

// UnmarshalJSON implements [json.Unmarshaler] with [ParseWebhookSecret].
// Its error never repeats the value.
func (s *WebhookSecret) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("expected a string whsec_<base64>")
	}
	k, err := ParseWebhookSecret(v)
	if err != nil {
		return err
	}
	*s = k
	return nil
}

// Limits of a webhook secret's key, in bytes (Standard Webhooks: 24 to 64).
const (
	MinWebhookSecretBytes = 24
	MaxWebhookSecretBytes = 64
)

// ParseWebhookSecret decodes Standard Webhooks' "whsec_" + standard base64
// of 24 to 64 random bytes. Its error never repeats the value.
func ParseWebhookSecret(v string) ([]byte, error) {
	rest, ok := strings.CutPrefix(v, "whsec_")
	if !ok {
		return nil, fmt.Errorf("expected whsec_ followed by the standard base64 of %d to %d random bytes (whsec_$(openssl rand -base64 32))", MinWebhookSecretBytes, MaxWebhookSecretBytes)
	}
	k, err := base64.StdEncoding.Strict().DecodeString(rest)
	if err != nil || len(k) < MinWebhookSecretBytes || len(k) > MaxWebhookSecretBytes {
		return nil, fmt.Errorf("expected whsec_ followed by the standard base64 of %d to %d random bytes (whsec_$(openssl rand -base64 32))", MinWebhookSecretBytes, MaxWebhookSecretBytes)
	}
	return k, nil
}

var webhookNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,39}$`)

// CheckWebhookURL checks a receiver's URL: absolute http or https, a host,
// no user information, no fragment, at most 2048 bytes. It returns a
// warning (plain http to a host other than this machine: the events cross
// the network unencrypted) or "".
func CheckWebhookURL(raw string) (warning string, err error) {
	u, err := url.Parse(raw)
	switch {
	case len(raw) > 2048 || err != nil || !validText(raw, 2048):
		return "", fmt.Errorf("expected an absolute http:// or https:// URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("expected an absolute http:// or https:// URL")
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("expected an absolute http:// or https:// URL with a host")
	case u.User != nil:
		return "", fmt.Errorf("must not hold a user name or password: the signature authenticates the events")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", fmt.Errorf("must not have a #fragment")
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return "plain http to " + u.Hostname() + ": the events cross the network unencrypted; use https", nil
	}
	return "", nil
}

// loopbackHost reports whether host names this machine.
func loopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// CheckWebhooks validates the receivers of the JSON configuration's
// "webhooks"; errors name the JSON path. It returns the warnings of
// [CheckWebhookURL], each naming its receiver.
func CheckWebhooks(eps []WebhookEndpoint) (warnings []string, err error) {
	seen := map[string]bool{}
	for i := range eps {
		e := &eps[i]
		path := fmt.Sprintf("webhooks[%d]", i)
		if !webhookNameRE.MatchString(e.Name) {
			return nil, fmt.Errorf("%s.name: 1 to 40 lowercase letters, digits, '_', '.' or '-', starting with a letter or digit", path)
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("%s.name: %q names another receiver too", path, e.Name)
		}
		seen[e.Name] = true
		w, err := CheckWebhookURL(e.URL)
		if err != nil {
			return nil, fmt.Errorf("%s.url: %w", path, err)
		}
		if w != "" {
			warnings = append(warnings, "webhook receiver "+e.Name+": "+w)
		}
		if len(e.Secret) == 0 {
			return nil, fmt.Errorf("%s.secret: required (whsec_ followed by base64)", path)
		}
		for j, ev := range e.Events {
			if !slices.Contains(WebhookEvents(), ev) {
				return nil, fmt.Errorf("%s.events[%d]: %s is not an event type (%s)", path, j, Quote(string(ev)), eventList())
			}
		}
	}
	return warnings, nil
}

func eventList() string {
	var b strings.Builder
	for i, e := range WebhookEvents() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(e))
	}
	return b.String()
}

// WebhookMessage is one event to one receiver: a row of the webhook
// outbox, written in the same transaction as the change it tells of and
// delivered later by the [WebhookOutbox] worker. Its payload holds ids,
// states and times, never patient data.
type WebhookMessage struct {
	// ID is set by the store; one visit's events to one receiver are
	// delivered in ID order.
	ID int64
	// Endpoint is the receiver's [WebhookEndpoint.Name].
	Endpoint string
	// EventID is the Standard Webhooks webhook-id ("msg_" + 32 hex
	// digits): the same on every attempt, and for every receiver of one
	// event, so that receivers can drop duplicates.
	EventID            string
	Type               WebhookEvent
	TeleconsultationID string
	// Payload is the JSON body, as signed and sent.
	Payload   []byte
	CreatedAt time.Time

	// The delivery state, kept by the worker through the store.
	Status        DeliveryStatus
	Attempts      int
	NextAttemptAt time.Time
	// LastStatus is the HTTP status of the last attempt (0: no answer).
	LastStatus int
	// LastError is the reason of the last failure (the status, a
	// connection error); never the receiver's body.
	LastError string
	SentAt    time.Time
	UpdatedAt time.Time
}

// WebhookStore keeps the webhook outbox: the events written by
// [Store.Apply] (and [OutboxStore.MarkOutbox]) with the change that caused
// them, and their delivery state.
type WebhookStore interface {
	// ClaimWebhooks returns up to limit pending messages due at now, oldest
	// first, hidden from other claims until now+lease. A message is
	// claimable only when no older message of the same teleconsultation to
	// the same receiver is still pending: one visit's events arrive in
	// order.
	ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]WebhookMessage, error)
	// MarkWebhook stores a claimed message's delivery state (Status,
	// Attempts, NextAttemptAt, LastStatus, LastError, SentAt, UpdatedAt)
	// and releases its claim. ENOTFOUND if there is no message with m.ID.
	MarkWebhook(ctx context.Context, m *WebhookMessage) error
	// FindWebhooks returns every message of a teleconsultation, oldest
	// first.
	FindWebhooks(ctx context.Context, teleconsultationID string) ([]WebhookMessage, error)
	// RecoverWebhooks releases, where the store can tell, the claims of a
	// dead process (see [OutboxStore.RecoverOutbox]), and returns how many.
	RecoverWebhooks(ctx context.Context) (int, error)
}

// hookTime is how payload times are written: UTC, milliseconds.
func hookTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeLayout)
}

// HookParticipant is a participant in a payload: ids and role only.
type HookParticipant struct {
	UserID  string `json:"userId,omitempty"`
	Role    string `json:"role,omitempty"`
	Removed bool   `json:"removed,omitempty"`
	// Session is a hosted provider's id of the participant's connection
	// (participant events from Daily, which does not name the user).
	Session string `json:"session,omitempty"`
}

// HookInvitation is the invitation of invitation.failed.
type HookInvitation struct {
	UserID   string `json:"userId"`
	Kind     string `json:"kind"`
	Sequence int    `json:"sequence"`
	Attempts int    `json:"attempts"`
	Reason   string `json:"reason"`
}

// HookData is the data of an event: the teleconsultation as it is after
// the change, and what the event is about.
type HookData struct {
	TeleconsultationID   string            `json:"teleconsultationId"`
	AppointmentID        string            `json:"appointmentId,omitempty"`
	State                string            `json:"state"`
	StartDate            string            `json:"startDate"`
	EndDate              string            `json:"endDate"`
	ExpectedParticipants int               `json:"expectedParticipants"`
	Participants         []HookParticipant `json:"participants"`
	Provider             string            `json:"provider"`
	CallStartedAt        string            `json:"callStartedAt,omitempty"`
	CallEndedAt          string            `json:"callEndedAt,omitempty"`
	DurationUsedSeconds  int64             `json:"durationUsedSeconds"`
	ReplacedBy           string            `json:"replacedBy,omitempty"`
	Replaces             string            `json:"replaces,omitempty"`
	Version              int               `json:"version"`
	// Participant is the participant of participant.* events.
	Participant *HookParticipant `json:"participant,omitempty"`
	// Invitation is the failed invitation of invitation.failed.
	Invitation *HookInvitation `json:"invitation,omitempty"`
}

// HookPayload is an event's JSON body, in Standard Webhooks' recommended
// shape: type, timestamp (when it happened), data.
type HookPayload struct {
	Type      WebhookEvent `json:"type"`
	Timestamp string       `json:"timestamp"`
	Data      HookData     `json:"data"`
}

// hookData describes tc for a payload at now. Version is the version the
// change stores (tc.Version+1 for an update, 1 for a create).
func hookData(tc *Teleconsultation, version int) HookData {
	d := HookData{
		TeleconsultationID: tc.ID, AppointmentID: tc.AppointmentID, State: tc.State.String(),
		StartDate: hookTime(tc.StartDate), EndDate: hookTime(tc.EndDate),
		ExpectedParticipants: tc.ExpectedParticipants, Provider: tc.Provider,
		CallStartedAt: hookTime(tc.CallStartedAt), CallEndedAt: hookTime(tc.CallEndedAt),
		DurationUsedSeconds: int64(tc.CallUsed / time.Second), ReplacedBy: tc.ReplacedBy,
		Version: version, Participants: []HookParticipant{},
	}
	for _, p := range tc.Participants {
		d.Participants = append(d.Participants, HookParticipant{UserID: p.UserID, Role: p.Role.String(), Removed: !p.Active()})
	}
	return d
}

// hookOpt completes an event's data.
type hookOpt func(*HookData)

func withParticipant(p HookParticipant) hookOpt {
	return func(d *HookData) { d.Participant = &p }
}

func withReplaces(id string) hookOpt { return func(d *HookData) { d.Replaces = id } }

// hooks makes the webhook messages of event ev about tc (as the change
// stores it, at version) at now: one per configured receiver that wants
// ev, all with one event id. None when no receiver is configured.
func (s *Service) hooks(ev WebhookEvent, tc *Teleconsultation, version int, now time.Time, opts ...hookOpt) []WebhookMessage {
	var eps []*WebhookEndpoint
	for i := range s.Settings.Webhooks {
		if s.Settings.Webhooks[i].Wants(ev) {
			eps = append(eps, &s.Settings.Webhooks[i])
		}
	}
	if len(eps) == 0 {
		return nil
	}
	var payload []byte
	id := "msg_" + NewID()
	out := make([]WebhookMessage, 0, len(eps))
	for _, e := range eps {
		body := payload
		if e.Target != nil {
			b, err := e.Target.Body(ev, tc, version, now)
			if err != nil {
				s.log().Error("webhooks: the event cannot be encoded for its receiver; not sent there", "id", tc.ID, "receiver", e.Name, "event", string(ev), "err", err)
				continue
			}
			body = b
		} else if body == nil {
			payload = hookPayload(ev, tc, version, now, opts)
			body = payload
		}
		out = append(out, WebhookMessage{
			Endpoint: e.Name, EventID: id, Type: ev, TeleconsultationID: tc.ID, Payload: body,
			CreatedAt: now, Status: DeliveryPending, NextAttemptAt: now, UpdatedAt: now,
		})
	}
	return out
}

// hookPayload is the Standard Webhooks body of event ev about tc.
func hookPayload(ev WebhookEvent, tc *Teleconsultation, version int, now time.Time, opts []hookOpt) []byte {
	d := hookData(tc, version)
	for _, o := range opts {
		o(&d)
	}
	body, err := json.Marshal(HookPayload{Type: ev, Timestamp: hookTime(now), Data: d})
	if err != nil {
		// Only strings, numbers and booleans: cannot happen.
		panic("teleconsult: encoding a webhook payload: " + err.Error())
	}
	return body
}

// nextVersion is the version an update of tc stores.
func nextVersion(tc *Teleconsultation) int { return tc.Version + 1 }

// wakeHooks tells the webhook worker that a change queued events.
func (s *Service) wakeHooks(msgs []WebhookMessage) {
	if len(msgs) > 0 && s.Hooks != nil {
		s.Hooks.wakeUp()
	}
}

// ParticipantJoined records that participant userID of teleconsultation id
// came into the call (the built-in SFU calls it): a participant.joined
// event, written durably. A teleconsultation that is gone, or a user who
// is not its participant, is ENOTFOUND or EGONE and records nothing.
func (s *Service) ParticipantJoined(ctx context.Context, id, userID string) error {
	return s.presence(ctx, id, userID, HookParticipantJoined, s.now())
}

// ParticipantLeft records that participant userID of teleconsultation id
// went out of the call: a participant.left event. See
// [Service.ParticipantJoined].
func (s *Service) ParticipantLeft(ctx context.Context, id, userID string) error {
	return s.presence(ctx, id, userID, HookParticipantLeft, s.now())
}

// presence writes the event ev (participant.joined, .left, .waiting) of
// participant userID of teleconsultation id, which happened at at.
func (s *Service) presence(ctx context.Context, id, userID string, ev WebhookEvent, at time.Time) (err error) {
	action := AuditParticipantJoin
	switch ev {
	case HookParticipantLeft:
		action = AuditParticipantLeave
	case HookParticipantWaiting:
		action = AuditParticipantWait
	}
	rec := s.audit(ctx, action, id)
	rec.e.Object = userID
	defer func() { err = rec.done(ctx, err) }()
	if len(s.Settings.Webhooks) == 0 {
		return nil
	}
	tc, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	p := findParticipant(tc, userID)
	if p == nil {
		return Errorf(ENOTFOUND, "user %s is not a participant of teleconsultation %s", Quote(userID), id)
	}
	msgs := s.hooks(ev, tc, tc.Version, at, withParticipant(HookParticipant{UserID: p.UserID, Role: p.Role.String(), Removed: !p.Active()}))
	if len(msgs) == 0 {
		return nil
	}
	ch := Change{Webhooks: msgs}
	rec.change(&ch)
	if err := s.Store.Apply(ctx, ch); err != nil {
		return err
	}
	s.wakeHooks(msgs)
	return nil
}

// WebhookDeliveries returns the delivery state of every webhook event of
// teleconsultation id, oldest first (ENOTFOUND for an unknown one).
func (s *Service) WebhookDeliveries(ctx context.Context, id string) (msgs []WebhookMessage, err error) {
	rec := s.audit(ctx, AuditWebhooksRead, id)
	defer func() {
		if err = rec.done(ctx, err); err != nil {
			msgs = nil
		}
	}()
	if _, err := s.Store.FindByID(ctx, id); ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(ENOTFOUND, "Room with id %s not found", id)
	} else if err != nil {
		return nil, err
	}
	return s.Store.FindWebhooks(ctx, id)
}
