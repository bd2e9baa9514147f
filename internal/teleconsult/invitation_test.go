package teleconsult_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
)

// invitesOn turns invitations on (SMTP_URL set).
func invitesOn(s *tc.Settings) { s.Invitations = true }

func withEmail(p tc.ParticipantInput, email string) tc.ParticipantInput {
	p.Email = email
	return p
}

// queued summarises outbox messages as "user:kind:sequence", in order.
func queued(msgs []tc.OutboxMessage) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, fmt.Sprintf("%s:%s:%d", m.UserID, m.Kind, m.Sequence))
	}
	return out
}

// newMessages returns what the store's outbox gained since the last call.
func (f *fixture) newMessages() []string {
	all := f.store.Outbox()
	out := queued(all[f.seen:])
	f.seen = len(all)
	return out
}

func wantQueued(t *testing.T, f *fixture, want ...string) {
	t.Helper()
	if got := f.newMessages(); !slices.Equal(got, want) {
		t.Errorf("queued %q, want %q", got, want)
	}
}

// Ensure who gets what, change by change: an invitation when the room is
// made, updates when the visit moves, an invitation and a cancellation when
// participants change, cancellations when it is cancelled; one SEQUENCE per
// change, raised every time; participants without email get nothing.
func TestInvitationRules(t *testing.T) {
	f := newFixture(t, invitesOn)
	in := validCreate()
	in.Number = 3
	in.Participants = []tc.ParticipantInput{doctor(), withEmail(patient(), "mario@example.org")}
	id, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	wantQueued(t, f) // waiting for participants: no room, no invitations

	interpreter := tc.ParticipantInput{UserID: "int-1", Groups: []string{"patient"}, FullName: "Luigi Bianchi"} // no email
	if err := f.svc.AddParticipant(ctx, id, interpreter); err != nil {
		t.Fatal(err)
	}
	wantQueued(t, f, "doc-1:invite:0", "pat-1:invite:0")

	moved := start.Add(2 * time.Hour)
	if err := f.svc.Update(ctx, id, tc.UpdateInput{StartDate: &moved}); err != nil {
		t.Fatal(err)
	}
	wantQueued(t, f, "doc-1:update:1", "pat-1:update:1")
	for _, m := range f.store.Outbox()[2:] {
		if !m.StartDate.Equal(moved) || !m.EndDate.Equal(moved.Add(30*time.Minute)) {
			t.Errorf("update carries times %v–%v, want the new ones", m.StartDate, m.EndDate)
		}
	}

	// Same times, the same participants given again: nothing to say.
	same := []tc.ParticipantInput{doctor(), withEmail(patient(), "mario@example.org"), interpreter}
	if err := f.svc.Update(ctx, id, tc.UpdateInput{Participants: &same}); err != nil {
		t.Fatal(err)
	}
	wantQueued(t, f)

	// The patient is removed, the interpreter gets an email, the doctor a
	// new address and a new language.
	newDoc := doctor()
	newDoc.Email, newDoc.Language = "anna.verdi@example.org", "en"
	parts := []tc.ParticipantInput{newDoc, withEmail(interpreter, "luigi@example.org")}
	two := 2
	if err := f.svc.Update(ctx, id, tc.UpdateInput{Participants: &parts, Number: &two}); err != nil {
		t.Fatal(err)
	}
	wantQueued(t, f, "doc-1:invite:2", "pat-1:cancel:2", "int-1:invite:2")

	// Only a language changes: an update.
	newDoc.Language = "it"
	parts = []tc.ParticipantInput{newDoc, withEmail(interpreter, "luigi@example.org")}
	if err := f.svc.Update(ctx, id, tc.UpdateInput{Participants: &parts}); err != nil {
		t.Fatal(err)
	}
	wantQueued(t, f, "doc-1:update:3")

	// The patient comes back: a new invitation (and a new link).
	parts = append(parts, withEmail(patient(), "mario@example.org"))
	three := 3
	if err := f.svc.Update(ctx, id, tc.UpdateInput{Participants: &parts, Number: &three}); err != nil {
		t.Fatal(err)
	}
	wantQueued(t, f, "pat-1:invite:4")

	if err := f.svc.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantQueued(t, f, "doc-1:cancel:5", "pat-1:cancel:5", "int-1:cancel:5")
	got, _ := f.store.FindByID(ctx, id)
	if got.CalendarSequence != 6 {
		t.Errorf("CalendarSequence %d, want 6", got.CalendarSequence)
	}
	for _, p := range got.Participants {
		if p.Invited {
			t.Errorf("%s still holds an invitation after the cancellation", p.UserID)
		}
	}
	for _, m := range f.store.Outbox() {
		if m.TeleconsultationID != id || m.Status != tc.DeliveryPending || m.ID == 0 || m.CreatedAt.IsZero() {
			t.Errorf("message %+v", m)
		}
	}
}

// Ensure the messages are written in the same commit as the change, and a
// refused change queues nothing.
func TestInvitationsInTheSameCommit(t *testing.T) {
	f := newFixture(t, invitesOn)
	in := validCreate()
	in.Participants[1].Email = "mario@example.org"
	id, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if f.store.Commits != 1 {
		t.Errorf("create with invitations took %d commits, want 1", f.store.Commits)
	}
	wantQueued(t, f, "doc-1:invite:0", "pat-1:invite:0")
	tooShort := time.Minute
	wantCode(t, f.svc.Update(ctx, id, tc.UpdateInput{Duration: &tooShort}), tc.EINVALID)
	f.clock.Set(start) // locked
	later := start.Add(time.Hour)
	wantCode(t, f.svc.Update(ctx, id, tc.UpdateInput{StartDate: &later}), tc.ECONFLICT)
	wantQueued(t, f)
	if f.store.Commits != 1 {
		t.Errorf("refused changes committed: %d commits", f.store.Commits)
	}
}

// Ensure replacing an appointment cancels the old invitations (old UID) and
// invites to the new teleconsultation, whose SEQUENCE starts again at 0.
func TestInvitationsOnReplacement(t *testing.T) {
	f := newFixture(t, invitesOn)
	in := validCreate()
	in.AppointmentID = "appt-9"
	first, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	msgs := f.store.Outbox()
	got := queued(msgs)
	if !slices.Equal(got, []string{"doc-1:invite:0", "doc-1:invite:0", "doc-1:cancel:1"}) {
		t.Fatalf("queued %q", got)
	}
	if msgs[0].TeleconsultationID != first || msgs[1].TeleconsultationID != second || msgs[2].TeleconsultationID != first {
		t.Errorf("messages go to %s %s %s; want first, second, first", msgs[0].TeleconsultationID, msgs[1].TeleconsultationID, msgs[2].TeleconsultationID)
	}
}

// Ensure nothing is queued while invitations are off, and the state says so.
func TestInvitationsOff(t *testing.T) {
	f := newFixture(t, nil)
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.store.Outbox()); n != 0 {
		t.Errorf("%d messages queued with invitations off", n)
	}
	st, err := f.svc.InvitationState(ctx, id, "", "doc-1")
	if err != nil || st.Status != tc.InvitationsOff {
		t.Errorf("invitation state %+v, %v; want off", st, err)
	}
	_, err = f.svc.ResendInvitation(ctx, id, "", "doc-1")
	wantCode(t, err, tc.ECONFLICT)
	if !strings.Contains(err.Error(), "SMTP_URL") {
		t.Errorf("resend with invitations off: %v", err)
	}
}

// Ensure resending is allowed to the back office, the participant and a
// plus participant, refused to others and without an email, and limited to
// one a minute and five an hour per participant.
func TestResendInvitation(t *testing.T) {
	f := newFixture(t, invitesOn)
	in := validCreate()
	in.Number = 3
	in.Participants = append(in.Participants, tc.ParticipantInput{UserID: "pat-2", Groups: []string{"patient"}, FullName: "P2", Email: "p2@example.org"})
	id, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	f.newMessages()

	_, err = f.svc.ResendInvitation(ctx, id, "", "doc-1")
	wantCode(t, err, tc.ERATELIMIT) // the invitation was queued less than a minute ago
	var e *tc.Error
	if !errors.As(err, &e) || e.Data["retryAfter"] != "60" {
		t.Errorf("rate limit: %v, want retryAfter 60", err)
	}
	f.clock.Set(f.clock.Now().Add(time.Minute))

	_, err = f.svc.ResendInvitation(ctx, id, "pat-1", "doc-1") // a basic participant for another
	wantCode(t, err, tc.EFORBIDDEN)
	_, err = f.svc.ResendInvitation(ctx, id, "stranger", "doc-1")
	wantCode(t, err, tc.EFORBIDDEN)
	_, err = f.svc.ResendInvitation(ctx, id, "", "pat-1") // no email
	wantCode(t, err, tc.ECONFLICT)
	_, err = f.svc.ResendInvitation(ctx, id, "", "nobody")
	wantCode(t, err, tc.ENOTFOUND)
	_, err = f.svc.ResendInvitation(ctx, "0123456789abcdef0123456789abcdef", "", "doc-1")
	wantCode(t, err, tc.ENOTFOUND)

	st, err := f.svc.ResendInvitation(ctx, id, "doc-1", "pat-2") // a plus participant for a basic one
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "pending" || st.Kind != tc.InvitationInvite || st.Sequence != 0 {
		t.Errorf("state %+v", st)
	}
	wantQueued(t, f, "pat-2:invite:0")
	for i := 0; i < 4; i++ { // four more this hour, a minute apart, by the participant
		f.clock.Set(f.clock.Now().Add(time.Minute))
		if _, err := f.svc.ResendInvitation(ctx, id, "pat-2", "pat-2"); err != nil {
			t.Fatalf("resend %d: %v", i+2, err)
		}
	}
	f.clock.Set(f.clock.Now().Add(time.Minute))
	_, err = f.svc.ResendInvitation(ctx, id, "", "pat-2")
	wantCode(t, err, tc.ERATELIMIT) // the sixth in an hour
	if !errors.As(err, &e) || e.Data["retryAfter"] != "3300" {
		t.Errorf("hourly limit: %v, want retryAfter 3300 (the first resend was 5 minutes ago)", err)
	}
	if got := f.store.Outbox(); !got[len(got)-1].Resend {
		t.Error("resent message not marked Resend")
	}

	if err := f.svc.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.ResendInvitation(ctx, id, "", "doc-1")
	wantCode(t, err, tc.EGONE)
}

// Ensure a resend before the room is made is refused, and one for a
// participant never invited (invitations were off then) is their first
// invitation.
func TestResendFirstInvitation(t *testing.T) {
	f := newFixture(t, nil)
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Settings.Invitations = true // SMTP_URL set later
	st, err := f.svc.ResendInvitation(ctx, id, "", "doc-1")
	if err != nil || st.Sequence != 0 {
		t.Fatalf("first invitation by resend: %+v %v", st, err)
	}
	got, _ := f.store.FindByID(ctx, id)
	if !got.Participant("doc-1").Invited || got.CalendarSequence != 1 {
		t.Errorf("after a first invitation by resend: invited %v, sequence %d", got.Participant("doc-1").Invited, got.CalendarSequence)
	}
	moved := start.Add(time.Hour)
	if err := f.svc.Update(ctx, id, tc.UpdateInput{StartDate: &moved}); err != nil {
		t.Fatal(err)
	}
	wantQueued(t, f, "doc-1:invite:0", "doc-1:update:1")

	in := validCreate()
	in.Number = 3
	waiting, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.ResendInvitation(ctx, waiting, "", "doc-1")
	wantCode(t, err, tc.ECONFLICT)
}

// Ensure the state shown is the latest message's (with the attempts of the
// one it waits behind), to the back office, the participant and plus
// participants only, and also after a cancellation or a removal.
func TestInvitationState(t *testing.T) {
	f := newFixture(t, invitesOn)
	in := validCreate()
	in.Participants[1].Email = "mario@example.org"
	id, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.svc.InvitationState(ctx, id, "doc-1", "doc-1")
	if err != nil || st.Status != "pending" || st.Kind != tc.InvitationInvite || !st.QueuedAt.Equal(f.clock.Now()) || !st.NextAttemptAt.Equal(f.clock.Now()) {
		t.Errorf("doctor's state %+v %v", st, err)
	}
	_, err = f.svc.InvitationState(ctx, id, "pat-1", "doc-1") // basic, about someone else
	wantCode(t, err, tc.EFORBIDDEN)
	_, err = f.svc.InvitationState(ctx, id, "", "nobody")
	wantCode(t, err, tc.ENOTFOUND)
	_, err = f.svc.InvitationState(ctx, "0123456789abcdef0123456789abcdef", "", "doc-1")
	wantCode(t, err, tc.ENOTFOUND)

	// The invitation fails once; the update behind it shows its attempt.
	msgs := f.store.Outbox()
	head := msgs[0]
	head.Attempts, head.LastError, head.NextAttemptAt = 1, "421 try later", f.clock.Now().Add(time.Minute)
	if err := f.store.MarkOutbox(ctx, &head); err != nil {
		t.Fatal(err)
	}
	moved := start.Add(time.Hour)
	if err := f.svc.Update(ctx, id, tc.UpdateInput{StartDate: &moved}); err != nil {
		t.Fatal(err)
	}
	st, _ = f.svc.InvitationState(ctx, id, "", "doc-1")
	if st.Status != "pending" || st.Kind != tc.InvitationUpdate || st.Sequence != 1 || st.Attempts != 1 || st.Reason != "421 try later" || !st.NextAttemptAt.Equal(head.NextAttemptAt) {
		t.Errorf("state behind a failed invitation %+v", st)
	}

	// The patient is removed, then the visit cancelled: both still answer.
	parts := []tc.ParticipantInput{doctor()}
	one := 1
	if err := f.svc.Update(ctx, id, tc.UpdateInput{Participants: &parts, Number: &one}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"doc-1", "pat-1"} {
		st, err := f.svc.InvitationState(ctx, id, "", user)
		if err != nil || st.Kind != tc.InvitationCancel {
			t.Errorf("%s after cancellation: %+v %v", user, st, err)
		}
	}
}

func TestInvitationKindAndStatusNames(t *testing.T) {
	for _, k := range []tc.InvitationKind{tc.InvitationInvite, tc.InvitationUpdate, tc.InvitationCancel} {
		if tc.ParseInvitationKind(k.String()) != k {
			t.Errorf("kind %v does not round-trip", k)
		}
	}
	for _, d := range []tc.DeliveryStatus{tc.DeliveryPending, tc.DeliverySent, tc.DeliveryFailed} {
		if tc.ParseDeliveryStatus(d.String()) != d {
			t.Errorf("status %v does not round-trip", d)
		}
	}
	if tc.ParseInvitationKind("unknown") != tc.InvitationUnknown || tc.ParseDeliveryStatus("") != tc.DeliveryUnknown || tc.InvitationKind(9).String() != "unknown" {
		t.Error("unknown names")
	}
}
