package teleconsult_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
)

// fakeMailer records what it is asked to send; fail decides each result.
type fakeMailer struct {
	mu   sync.Mutex
	sent []*tc.Mail
	fail func(m *tc.Mail) error
}

func (f *fakeMailer) Send(_ context.Context, m *tc.Mail) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(m); err != nil {
			return err
		}
	}
	f.sent = append(f.sent, m)
	return nil
}

func (f *fakeMailer) mails() []*tc.Mail {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// outboxFixture: invitations on, a doctor and a patient with emails.
func outboxFixture(t *testing.T) (*fixture, *fakeMailer, *tc.Outbox, string) {
	t.Helper()
	f := newFixture(t, invitesOn)
	m := &fakeMailer{}
	o := &tc.Outbox{Service: f.svc, Mailer: m, Batch: 10}
	in := validCreate()
	in.Participants[1].Email = "mario@example.org"
	in.Participants[1].TimeZone = "Europe/Rome"
	id, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	return f, m, o, id
}

func runOnce(t *testing.T, o *tc.Outbox) int {
	t.Helper()
	n, err := o.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Ensure the worker sends each message once with the recipient's current
// address, language, zone and own link, and marks it sent.
func TestOutboxSends(t *testing.T) {
	f, m, o, id := outboxFixture(t)
	if n := runOnce(t, o); n != 2 {
		t.Fatalf("claimed %d, want 2", n)
	}
	if n := runOnce(t, o); n != 0 {
		t.Fatalf("claimed %d again, want 0", n)
	}
	mails := m.mails()
	if len(mails) != 2 {
		t.Fatalf("sent %d mails", len(mails))
	}
	got, _ := f.store.FindByID(ctx, id)
	for i, p := range got.Participants {
		mail := mails[i]
		if mail.To != p.Email || mail.Language != p.Language || mail.TimeZone != p.TimeZone || mail.Kind != tc.InvitationInvite {
			t.Errorf("mail %d: %+v", i, mail)
		}
		if mail.Link != f.svc.LinkURL(&got.Participants[i], tc.LinkOptions{}) {
			t.Errorf("mail %d: link %q is not %s's", i, mail.Link, p.UserID)
		}
		if !mail.Start.Equal(start) || !mail.End.Equal(start.Add(30*time.Minute)) || mail.Sequence != 0 {
			t.Errorf("mail %d: times %v–%v sequence %d", i, mail.Start, mail.End, mail.Sequence)
		}
		if mail.UID != id+"@127.0.0.1" || !strings.HasPrefix(mail.MessageID, id+".") || len(mail.Others) != 0 {
			t.Errorf("mail %d: UID %q Message-ID %q others %q", i, mail.UID, mail.MessageID, mail.Others)
		}
	}
	if mails[0].MessageID == mails[1].MessageID {
		t.Error("two messages share a Message-ID")
	}
	for _, msg := range f.store.Outbox() {
		if msg.Status != tc.DeliverySent || msg.Attempts != 1 || !msg.SentAt.Equal(f.clock.Now()) {
			t.Errorf("after sending: %+v", msg)
		}
	}
	// A cancellation carries no link; the UID stays.
	if err := f.svc.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	runOnce(t, o)
	mails = m.mails()
	if len(mails) != 4 || mails[2].Kind != tc.InvitationCancel || mails[2].Link != "" || mails[2].UID != mails[0].UID || mails[2].Sequence != 1 {
		t.Errorf("cancellation: %+v", mails[2:])
	}
}

// Ensure other participants' names appear only with ShowNames.
func TestOutboxShowNames(t *testing.T) {
	_, m, o, _ := outboxFixture(t)
	o.ShowNames = true
	runOnce(t, o)
	mails := m.mails()
	if !slices.Equal(mails[0].Others, []string{"Mario Rossi"}) || !slices.Equal(mails[1].Others, []string{"Dr. Anna Verdi"}) {
		t.Errorf("others: %q, %q", mails[0].Others, mails[1].Others)
	}
}

// Ensure a temporary failure is retried with exponential backoff up to a
// limit, then marked failed with the reason; a server-level failure makes
// the rest of the batch wait without counting an attempt.
func TestOutboxRetries(t *testing.T) {
	f, m, o, _ := outboxFixture(t)
	o.MaxAttempts = 4
	down := &tc.MailError{Reason: "dial tcp 127.0.0.1:25: connection refused"}
	m.fail = func(*tc.Mail) error { return down }
	runOnce(t, o)
	msgs := f.store.Outbox()
	t0 := f.clock.Now()
	if msgs[0].Status != tc.DeliveryPending || msgs[0].Attempts != 1 || !msgs[0].NextAttemptAt.Equal(t0.Add(30*time.Second)) || msgs[0].LastError != down.Reason {
		t.Errorf("first after a failure: %+v", msgs[0])
	}
	if msgs[1].Attempts != 0 || !msgs[1].NextAttemptAt.Equal(msgs[0].NextAttemptAt) || msgs[1].LastError != down.Reason {
		t.Errorf("second, not tried: %+v", msgs[1])
	}
	if n := runOnce(t, o); n != 0 {
		t.Errorf("claimed %d before the backoff ended", n)
	}
	for i, wait := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute} {
		f.clock.Set(f.clock.Now().Add(wait))
		runOnce(t, o)
		msgs = f.store.Outbox()
		if msgs[0].Attempts != i+2 {
			t.Fatalf("attempt %d: %+v", i+2, msgs[0])
		}
	}
	if msgs[0].Status != tc.DeliveryFailed || !strings.HasSuffix(msgs[0].LastError, "(gave up after 4 attempts)") {
		t.Errorf("after the last attempt: %+v", msgs[0])
	}
	// The server comes back: the second message goes out.
	m.fail = nil
	f.clock.Set(f.clock.Now().Add(time.Hour))
	runOnce(t, o)
	if got := f.store.Outbox()[1]; got.Status != tc.DeliverySent {
		t.Errorf("second after recovery: %+v", got)
	}
}

func TestOutboxBackoffCap(t *testing.T) {
	f, m, o, _ := outboxFixture(t)
	m.fail = func(*tc.Mail) error { return errors.New("boom: secret@example.org") }
	var waits []time.Duration
	for range 10 {
		runOnce(t, o)
		msg := f.store.Outbox()[0]
		waits = append(waits, msg.NextAttemptAt.Sub(f.clock.Now()))
		if strings.Contains(msg.LastError, "@") {
			t.Fatalf("reason of a plain error shown: %q", msg.LastError)
		}
		f.clock.Set(msg.NextAttemptAt)
	}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour, time.Hour}
	if !slices.Equal(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
}

// Ensure a recipient refused for good is failed at once with the server's
// reason, and the others are still sent.
func TestOutboxPermanentFailure(t *testing.T) {
	f, m, o, _ := outboxFixture(t)
	m.fail = func(mail *tc.Mail) error {
		if mail.To == "anna@example.org" {
			return &tc.MailError{Permanent: true, MessageOnly: true, Reason: "recipient refused: 550 5.1.1 mailbox unavailable"}
		}
		return nil
	}
	runOnce(t, o)
	msgs := f.store.Outbox()
	if msgs[0].Status != tc.DeliveryFailed || msgs[0].LastError != "recipient refused: 550 5.1.1 mailbox unavailable" || msgs[0].Attempts != 1 {
		t.Errorf("refused: %+v", msgs[0])
	}
	if msgs[1].Status != tc.DeliverySent || len(m.mails()) != 1 || m.mails()[0].To != "mario@example.org" {
		t.Errorf("other: %+v", msgs[1])
	}
}

// Ensure one participant's messages go out in order: while the invitation
// waits for a retry, the update behind it is not sent.
func TestOutboxOrderPerParticipant(t *testing.T) {
	f, m, o, id := outboxFixture(t)
	m.fail = func(mail *tc.Mail) error {
		if mail.To == "anna@example.org" && mail.Kind == tc.InvitationInvite {
			return &tc.MailError{MessageOnly: true, Reason: "450 4.2.1 try later"}
		}
		return nil
	}
	runOnce(t, o)
	moved := start.Add(time.Hour)
	if err := f.svc.Update(ctx, id, tc.UpdateInput{StartDate: &moved}); err != nil {
		t.Fatal(err)
	}
	runOnce(t, o)
	var got []string
	for _, mail := range m.mails() {
		got = append(got, mail.To+":"+mail.Kind.String())
	}
	if want := []string{"mario@example.org:invite", "mario@example.org:update"}; !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q (the doctor's update waits behind the invitation)", got, want)
	}
	m.fail = nil
	f.clock.Set(f.clock.Now().Add(time.Minute))
	runOnce(t, o)
	runOnce(t, o)
	got = nil
	for _, mail := range m.mails()[2:] {
		got = append(got, mail.To+":"+mail.Kind.String())
	}
	if want := []string{"anna@example.org:invite", "anna@example.org:update"}; !slices.Equal(got, want) {
		t.Errorf("then sent %q, want %q", got, want)
	}
}

// Ensure a message whose participant lost their email is failed, not sent.
func TestOutboxRecipientGone(t *testing.T) {
	f, m, o, id := outboxFixture(t)
	parts := []tc.ParticipantInput{doctor(), patient()} // the patient's email is dropped
	if err := f.svc.Update(ctx, id, tc.UpdateInput{Participants: &parts}); err != nil {
		t.Fatal(err)
	}
	runOnce(t, o)
	msgs := f.store.Outbox()
	if msgs[1].Status != tc.DeliveryFailed || msgs[1].LastError != "the participant has no email address" || len(m.mails()) != 1 {
		t.Errorf("patient's message: %+v; %d mails", msgs[1], len(m.mails()))
	}
}

// Ensure Run recovers stale claims, sends at once when notified, and stops
// with its context.
func TestOutboxRun(t *testing.T) {
	f, m, o, id := outboxFixture(t)
	o.Poll = time.Hour                                                                // only a notification can wake it
	if _, err := f.store.ClaimOutbox(ctx, f.clock.Now(), time.Hour, 10); err != nil { // a dead process's claim
		t.Fatal(err)
	}
	f.svc.Notifier = o
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { o.Run(rctx); close(done) }()
	waitFor(t, func() bool { return len(m.mails()) == 2 })
	if err := f.svc.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(m.mails()) == 4 })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
