package teleconsult

import (
	"context"
	"time"
)

// The audit trail (HIPAA 164.312(b) audit controls): one entry for every
// read of patient data and every change, with who did it, from where, to
// which teleconsultation, and how it ended. Entries are written by the
// service methods themselves, never by the adapters: a change's entry in
// the same transaction as the change ([Change.Audit]), a read's entry
// before the read's data is returned (a read that cannot be recorded
// fails). The store chains every entry to the previous one with a keyed
// hash ([AuditChain]), so that an entry deleted or edited afterwards is
// found by [AuditStore.VerifyAudit].

// ActorKind says how the author of an audited operation was identified.
type ActorKind string

// Kinds of actor.
const (
	// ActorAPIKey is a trusted caller with an API key (Actor.KeyID),
	// acting for Actor.UserID when it names one.
	ActorAPIKey ActorKind = "api_key"
	// ActorGateway is a trusted proxy that named the user without an API
	// key (TRUST_GATEWAY_IDENTITY).
	ActorGateway ActorKind = "gateway"
	// ActorParticipant is the holder of a personal link or of a session
	// token: Actor.ParticipantID once the link or token is resolved.
	ActorParticipant ActorKind = "participant"
	// ActorProvider is a video provider: the built-in SFU or a hosted
	// provider's webhook.
	ActorProvider ActorKind = "provider"
	// ActorService is the service itself (a worker, a timer, a command).
	ActorService ActorKind = "service"
)

// Actor is who performs an operation, and from where. Adapters put it in
// the request's context with [WithActor]; the service reads it with
// [ActorFrom] when it writes an audit entry. It holds ids only: never an
// API key, a token, a link code, a name or an email.
type Actor struct {
	Kind ActorKind
	// KeyID identifies the API key used (a fingerprint, not the key).
	KeyID string
	// UserID is the external user id the caller acts for (trusted
	// callers), or the link holder's user id once resolved.
	UserID string
	// ParticipantID is the participant id (provider user id) of a link or
	// session holder, once resolved.
	ParticipantID string
	// RequestID is the request's X-Request-Id.
	RequestID string
	// ClientAddr is the client's IP address (behind trusted proxies, the
	// one they forwarded).
	ClientAddr string
}

type actorKey struct{}

// WithActor returns ctx carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor stored in ctx; without one it is the
// service itself (ActorService).
func ActorFrom(ctx context.Context) Actor {
	a, ok := ctx.Value(actorKey{}).(Actor)
	if !ok || a.Kind == "" {
		a.Kind = ActorService
	}
	return a
}

// AuditAction names an audited operation.
type AuditAction string

// Audited operations. Reads of patient data first, then changes.
const (
	AuditView             AuditAction = "teleconsultation.read"   // GET /teleconsultation/{id}
	AuditExchange         AuditAction = "link.exchange"           // a personal link traded for a session
	AuditUploadsList      AuditAction = "uploads.list"            // uploads listed
	AuditUploadDownload   AuditAction = "upload.download"         // one upload's content
	AuditInvitationRead   AuditAction = "invitation.read"         // a participant's invitation state
	AuditWebhooksRead     AuditAction = "webhooks.read"           // a visit's webhook deliveries
	AuditRecordRead       AuditAction = "record.read"             // the whole record, for a trusted caller (FHIR Appointment, Encounter)
	AuditTrailRead        AuditAction = "audit.read"              // the audit trail queried
	AuditCreate           AuditAction = "teleconsultation.create" // POST /teleconsultation
	AuditReplace          AuditAction = "teleconsultation.replace"
	AuditUpdate           AuditAction = "teleconsultation.update"
	AuditCancel           AuditAction = "teleconsultation.cancel"
	AuditParticipantAdd   AuditAction = "participant.add"
	AuditInvitationResend AuditAction = "invitation.resend"
	AuditCredentials      AuditAction = "credentials.issue"
	AuditUploadAdd        AuditAction = "upload.add"
	AuditUploadsDelete    AuditAction = "uploads.delete"
	AuditCallStart        AuditAction = "call.start"
	AuditCallEnd          AuditAction = "call.end"
	AuditCallTime         AuditAction = "call.time" // call time counted (a hosted provider's event)
	AuditParticipantJoin  AuditAction = "participant.join"
	AuditParticipantLeave AuditAction = "participant.leave"
	AuditParticipantWait  AuditAction = "participant.wait"
	AuditPrune            AuditAction = "audit.prune"
)

// OutcomeOK is the outcome of an operation that succeeded; any other
// outcome is the error code that refused it (EUNAUTHORIZED, ENOTFOUND…).
const OutcomeOK = "ok"

// AuditEntry is one entry of the audit trail.
type AuditEntry struct {
	// ID is the entry's place in the chain, from 1, without gaps; set by
	// the store.
	ID   int64
	Time time.Time
	Actor
	TeleconsultationID string
	Action             AuditAction
	// Object is what the operation acted on inside the teleconsultation,
	// when it is not the teleconsultation itself: an upload id, a
	// participant's user id; for audit.prune, the last pruned entry id.
	Object  string
	Outcome string
	// Hash is the entry's keyed hash, chained to the previous entry's;
	// set by the store.
	Hash []byte
}

// AuditQuery selects entries of the audit trail, in id order.
type AuditQuery struct {
	// TeleconsultationID, when set, keeps that teleconsultation's entries.
	TeleconsultationID string
	// From and To, when set, keep entries with From <= Time < To.
	From, To time.Time
	// After keeps entries with ID > After: the paging cursor.
	After int64
	// Limit is the page size, 1 to [MaxAuditPage].
	Limit int
}

// Audit page sizes.
const (
	DefaultAuditPage = 100
	MaxAuditPage     = 1000
)

// AuditStore keeps the audit trail: append-only, chained, verifiable.
// [Change.Audit] entries are appended by Apply in the change's
// transaction; AppendAudit appends entries of their own (reads, refusals).
// Appends are serialized, also between processes sharing a database, so
// that the chain never forks.
type AuditStore interface {
	// AppendAudit appends entries durably, setting their ID and Hash.
	AppendAudit(ctx context.Context, entries []AuditEntry) error
	// FindAudit returns the entries q selects, at most q.Limit.
	FindAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
	// VerifyAudit checks the whole chain, from the pruning anchor to the
	// head.
	VerifyAudit(ctx context.Context) (*AuditVerification, error)
	// PruneAudit deletes the entries older than before (a prefix of the
	// chain), keeps the last deleted entry's hash as the chain's anchor,
	// and appends record (its Object the last deleted id), all in one
	// transaction; with nothing to delete it does nothing. It returns how
	// many entries it deleted.
	PruneAudit(ctx context.Context, before time.Time, record AuditEntry) (int, error)
}

// auditRec is one audited operation under way: its entry, without its
// outcome yet.
type auditRec struct {
	s        *Service
	e        AuditEntry
	inChange bool
}

// audit starts the audit entry of an operation on teleconsultation id by
// the context's actor.
func (s *Service) audit(ctx context.Context, action AuditAction, id string) *auditRec {
	return &auditRec{s: s, e: AuditEntry{Actor: ActorFrom(ctx), Action: action, TeleconsultationID: id}}
}

// participant names the participant the operation was done as, when the
// actor's own identity did not say (a link, a session token).
func (r *auditRec) participant(userID, participantID string) {
	if r.e.UserID == "" {
		r.e.UserID = userID
	}
	if r.e.ParticipantID == "" {
		r.e.ParticipantID = participantID
	}
}

// entry returns the entry with outcome and the current time.
func (r *auditRec) entry(outcome string) AuditEntry {
	e := r.e
	e.Outcome = outcome
	e.Time = r.s.now().Truncate(time.Microsecond)
	return e
}

// change adds the entry, as succeeded, to ch: it is written with the
// change or not at all.
func (r *auditRec) change(ch *Change) {
	ch.Audit = append(ch.Audit, r.entry(OutcomeOK))
	r.inChange = true
}

// done records how the operation ended, given its error: nothing more for
// a change that committed its entry, an entry of its own otherwise. It
// returns err, or, when a successful operation could not be recorded, an
// EUNAVAILABLE error: data is not given out unrecorded.
func (r *auditRec) done(ctx context.Context, err error) error {
	if err == nil && r.inChange {
		return nil
	}
	outcome := OutcomeOK
	if err != nil {
		outcome = ErrorCode(err)
	}
	e := r.entry(outcome)
	aerr := r.s.Store.AppendAudit(context.WithoutCancel(ctx), []AuditEntry{e})
	if aerr == nil {
		return err
	}
	r.s.log().Error("audit: cannot record an operation", "action", string(e.Action), "id", e.TeleconsultationID, "outcome", outcome, "err", aerr)
	if err != nil {
		return err
	}
	return &Error{Code: EUNAVAILABLE, Message: "the operation could not be recorded in the audit trail; retry", Err: aerr}
}

// AuditTrail returns the entries q selects, for a trusted caller, and the
// cursor of the next page (0 when this page is the last). The query itself
// is recorded (audit.read).
func (s *Service) AuditTrail(ctx context.Context, q AuditQuery) (entries []AuditEntry, next int64, err error) {
	rec := s.audit(ctx, AuditTrailRead, q.TeleconsultationID)
	defer func() {
		if err = rec.done(ctx, err); err != nil {
			entries, next = nil, 0
		}
	}()
	if q.Limit == 0 {
		q.Limit = DefaultAuditPage
	}
	switch {
	case q.Limit < 1 || q.Limit > MaxAuditPage:
		return nil, 0, invalid("limit: must be between 1 and %d", MaxAuditPage)
	case q.After < 0:
		return nil, 0, invalid("after: must not be negative")
	case !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To):
		return nil, 0, invalid("from: must be before to")
	case q.TeleconsultationID != "" && !validText(q.TeleconsultationID, maxAppointment):
		return nil, 0, invalid("teleconsultationId: at most %d printable characters", maxAppointment)
	}
	// One more than asked says whether there is a next page.
	want := q
	want.Limit++
	entries, err = s.Store.FindAudit(ctx, want)
	if err != nil {
		return nil, 0, err
	}
	if len(entries) > q.Limit {
		entries = entries[:q.Limit]
		next = entries[len(entries)-1].ID
	}
	return entries, next, nil
}

// VerifyAudit checks the audit trail's chain (teleconsult audit verify).
func (s *Service) VerifyAudit(ctx context.Context) (*AuditVerification, error) {
	return s.Store.VerifyAudit(ctx)
}

// PruneAudit deletes the audit entries older than retention (AUDIT_RETENTION)
// and records that it did (audit.prune, Object the last deleted id), if it
// deleted any. The
// chain stays verifiable from its anchor. A retention of 0 keeps
// everything.
func (s *Service) PruneAudit(ctx context.Context, retention time.Duration) (int, error) {
	if retention <= 0 {
		return 0, nil
	}
	rec := s.audit(ctx, AuditPrune, "")
	n, err := s.Store.PruneAudit(ctx, s.now().Add(-retention), rec.entry(OutcomeOK))
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.log().Info("audit entries pruned", "entries", n, "retention", retention.String())
	}
	return n, nil
}

// CheckAuditEntries refuses entries that a store must not append: without
// a time, an actor kind, an action or an outcome (EINTERNAL: a programming
// error).
func CheckAuditEntries(entries []AuditEntry) error {
	for i := range entries {
		e := &entries[i]
		if e.Time.IsZero() || e.Kind == "" || e.Action == "" || e.Outcome == "" {
			return Errorf(EINTERNAL, "audit entry %d is incomplete", i)
		}
	}
	return nil
}
