package teleconsult_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/inmem"
	"github.com/teleconsult/teleconsult/internal/session"
	tc "github.com/teleconsult/teleconsult/internal/teleconsult"

	"github.com/teleconsult/teleconsult/internal/testkit"
)

// notifications records what the service tells participants.
type notifications struct {
	mu   sync.Mutex
	list []tc.Notification
}

func (n *notifications) Notify(_ context.Context, x tc.Notification) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, x)
}

func (n *notifications) kinds() []tc.NotificationKind {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []tc.NotificationKind
	for _, x := range n.list {
		out = append(out, x.Kind)
	}
	return out
}

type fixture struct {
	svc   *tc.Service
	store *inmem.Store
	clock *testkit.Clock
	notes *notifications
	sfu   *builtin
	seen  int // outbox messages already looked at (newMessages)
}

var (
	start = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	ctx   = context.Background()
)

func newFixture(t *testing.T, mod func(*tc.Settings)) *fixture {
	t.Helper()
	master := make([]byte, tc.KeySize)
	_, _ = rand.Read(master)
	keys, err := tc.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := session.New(keys.SessionKey(), "http://127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	st := tc.DefaultSettings()
	st.ImmutablePeriod = 10 * time.Minute
	if mod != nil {
		mod(&st)
	}
	f := &fixture{store: inmem.NewStore(), clock: testkit.NewClock(start.Add(-24 * time.Hour)), notes: &notifications{}, sfu: newBuiltin()}
	f.svc = &tc.Service{Store: f.store, Provider: f.sfu, Notifier: f.notes, Tokens: tokens, Keys: keys, Settings: st, Now: f.clock.Now}
	return f
}

func dur(d time.Duration) *time.Duration { return &d }

func doctor() tc.ParticipantInput {
	return tc.ParticipantInput{UserID: "doc-1", Groups: []string{"doctor"}, FullName: "Dr. Anna Verdi", Language: "it", Email: "anna@example.org"}
}

func patient() tc.ParticipantInput {
	return tc.ParticipantInput{UserID: "pat-1", Groups: []string{"patient"}, FullName: "Mario Rossi", Language: "en"}
}

func validCreate() tc.CreateInput {
	return tc.CreateInput{StartDate: start, Duration: dur(30 * time.Minute), Number: 2,
		Participants: []tc.ParticipantInput{doctor(), patient()}}
}

// code extracts the link code from a personal link.
func code(t *testing.T, link *string) string {
	t.Helper()
	if link == nil {
		t.Fatal("no link")
	}
	s := *link
	i := strings.Index(s, "/join/")
	if i < 0 {
		t.Fatalf("link %q has no /join/", s)
	}
	s = s[i+len("/join/"):]
	if j := strings.IndexByte(s, '?'); j >= 0 {
		s = s[:j]
	}
	return s
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tc.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func TestCreateValidation(t *testing.T) {
	ts := func(s string) *time.Time { x, _ := time.Parse(time.RFC3339, s); return &x }
	tests := []struct {
		name string
		mod  func(*tc.CreateInput)
		want string // substring of the message
	}{
		{"no start", func(in *tc.CreateInput) { in.StartDate = time.Time{} }, "start_date: required"},
		{"start far past", func(in *tc.CreateInput) { in.StartDate = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC) }, "start_date: must be between"},
		{"start far future", func(in *tc.CreateInput) { in.StartDate = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }, "start_date: must be between"},
		{"both end and duration", func(in *tc.CreateInput) { in.EndDate = ts("2026-11-23T11:00:00Z") }, "not both"},
		{"neither end nor duration", func(in *tc.CreateInput) { in.Duration = nil }, "one is required"},
		{"end before start", func(in *tc.CreateInput) { in.Duration = nil; in.EndDate = ts("2026-11-23T09:00:00Z") }, "end_date: must be after start_date"},
		{"end equals start", func(in *tc.CreateInput) { in.Duration = nil; in.EndDate = ts("2026-11-23T10:00:00Z") }, "end_date: must be after"},
		{"too short", func(in *tc.CreateInput) { in.Duration = dur(4*time.Minute + 59*time.Second) }, "at least 5 minutes"},
		{"too long", func(in *tc.CreateInput) { in.Duration = dur(25 * time.Hour) }, "at most 24 hours"},
		{"negative duration", func(in *tc.CreateInput) { in.Duration = dur(-time.Hour) }, "positive"},
		{"in the past", func(in *tc.CreateInput) { in.StartDate = start.Add(-48 * time.Hour) }, "end in the past"},
		{"number zero", func(in *tc.CreateInput) { in.Number = 0; in.Participants = nil }, "participants.number: must be at least 1"},
		{"number too big", func(in *tc.CreateInput) { in.Number = 51 }, "at most 50"},
		{"number below data", func(in *tc.CreateInput) { in.Number = 1 }, "2 participants given but participants.number is 1"},
		{"duplicate user", func(in *tc.CreateInput) { in.Participants[1].UserID = "doc-1" }, "participants.data[1].userId: same userId as participants.data[0]"},
		{"missing user id", func(in *tc.CreateInput) { in.Participants[0].UserID = " " }, "participants.data[0].userId: required"},
		{"missing groups", func(in *tc.CreateInput) { in.Participants[1].Groups = nil }, "participants.data[1].groups"},
		{"missing name", func(in *tc.CreateInput) { in.Participants[1].FullName = "" }, "participants.data[1].fullName: required"},
		{"CRLF in name", func(in *tc.CreateInput) { in.Participants[1].FullName = "Mario\r\nBcc: x@y.z" }, "participants.data[1].fullName"},
		{"bad email", func(in *tc.CreateInput) { in.Participants[0].Email = "not-an-email" }, "participants.data[0].email: not a valid email address"},
		{"email with display name", func(in *tc.CreateInput) { in.Participants[0].Email = "Anna <anna@example.org>" }, "participants.data[0].email"},
		{"email header injection", func(in *tc.CreateInput) { in.Participants[0].Email = "a@b.c\r\nBcc: x@y.z" }, "participants.data[0].email"},
		{"bad language", func(in *tc.CreateInput) { in.Participants[0].Language = "italian" }, "participants.data[0].language"},
		{"bad time zone", func(in *tc.CreateInput) { in.Participants[0].TimeZone = "Mars/Olympus" }, "participants.data[0].timeZone"},
		{"unknown group", func(in *tc.CreateInput) { in.Participants[1].Groups = []string{"nurse"} }, `group "nurse" is not listed in any privileges`},
		{"no plus user", func(in *tc.CreateInput) { in.Participants[0].Groups = []string{"patient"} }, "no plus user in room"},
		{"appointment id with control chars", func(in *tc.CreateInput) { in.AppointmentID = "a\nb" }, "appointmentId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			in := validCreate()
			tt.mod(&in)
			_, err := f.svc.Create(ctx, in)
			wantCode(t, err, tc.EINVALID)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			for _, secret := range []string{"Mario", "Anna", "anna@example.org"} {
				if strings.Contains(tc.ErrorMessage(err), secret) {
					t.Errorf("error message %q contains patient data %q", tc.ErrorMessage(err), secret)
				}
			}
			if f.store.Commits != 0 {
				t.Errorf("%d commits after a refused create", f.store.Commits)
			}
		})
	}
}

// Ensure a complete create makes the room in one commit, the GET view hides
// the link until the window opens, then shows each participant their own.
func TestCreateAndView(t *testing.T) {
	f := newFixture(t, nil)
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	if f.store.Commits != 1 {
		t.Errorf("create took %d commits, want 1", f.store.Commits)
	}
	if len(id) != 32 {
		t.Errorf("id %q: want 32 hex chars", id)
	}
	if got := f.notes.kinds(); len(got) != 1 || got[0] != tc.NotifyRoomMade {
		t.Errorf("notifications %v, want one room-made", got)
	}
	v, err := f.svc.View(ctx, id, "pat-1", tc.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v.AccessLinkURL != nil {
		t.Errorf("link shown before the window: %q", *v.AccessLinkURL)
	}
	if v.Status != tc.StateScheduled || v.Role != tc.RoleBasic || len(v.Participants) != 2 || v.Duration != 30*time.Minute {
		t.Errorf("view %+v", v)
	}
	if _, err := f.svc.View(ctx, id, "someone-else", tc.LinkOptions{}); tc.ErrorMessage(err) != "Unauthorized user" {
		t.Errorf("non-participant: %v", err)
	}
	if _, err := f.svc.View(ctx, id, "", tc.LinkOptions{}); tc.ErrorCode(err) != tc.EUNAUTHORIZED {
		t.Errorf("no user: %v", err)
	}
	if _, err := f.svc.View(ctx, "0123456789abcdef0123456789abcdef", "pat-1", tc.LinkOptions{}); tc.ErrorCode(err) != tc.ENOTFOUND {
		t.Errorf("unknown id: %v", err)
	}

	f.clock.Set(start.Add(-10 * time.Minute)) // the immutable period begins
	vp, err := f.svc.View(ctx, id, "pat-1", tc.LinkOptions{Language: "it"})
	if err != nil {
		t.Fatal(err)
	}
	vd, err := f.svc.View(ctx, id, "doc-1", tc.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if vp.AccessLinkURL == nil || vd.AccessLinkURL == nil || *vp.AccessLinkURL == *vd.AccessLinkURL {
		t.Fatalf("links: patient %v doctor %v; want two different links", vp.AccessLinkURL, vd.AccessLinkURL)
	}
	if !strings.HasSuffix(*vp.AccessLinkURL, "?lang=it") || vp.Status != tc.StateOpen {
		t.Errorf("patient view: link %q status %s", *vp.AccessLinkURL, vp.Status)
	}
	for _, secret := range []string{"Mario", "Rossi", "pat-1", "doc-1", id} {
		if strings.Contains(*vp.AccessLinkURL, secret) {
			t.Errorf("link %q contains %q", *vp.AccessLinkURL, secret)
		}
	}
	cs, err := f.svc.Exchange(ctx, code(t, vp.AccessLinkURL))
	if err != nil {
		t.Fatal(err)
	}
	if cs.UserID != "pat-1" || cs.DisplayName != "Mario Rossi" || cs.Role != tc.RoleBasic || len(cs.Others) != 1 || cs.Others[0] != "Dr. Anna Verdi" {
		t.Errorf("session %+v", cs)
	}
	claims, err := f.svc.Tokens.Verify(cs.Token, f.clock.Now())
	if err != nil || claims.TeleconsultationID != id || claims.UserID != "pat-1" || claims.Kind != tc.SessionParticipant {
		t.Errorf("token claims %+v, %v", claims, err)
	}
}

func TestExchange(t *testing.T) {
	f := newFixture(t, func(s *tc.Settings) { s.Unlimited = false })
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(start)
	v, _ := f.svc.View(ctx, id, "pat-1", tc.LinkOptions{})
	c := code(t, v.AccessLinkURL)

	tests := []struct {
		name string
		now  time.Time
		code string
		want string // error code, "" for success
	}{
		{"ok at start", start, c, ""},
		{"ok in immutable period", start.Add(-10 * time.Minute), c, ""},
		{"too early", start.Add(-11 * time.Minute), c, tc.EFORBIDDEN},
		{"ok just before end", start.Add(30*time.Minute - time.Second), c, ""},
		{"expired at end", start.Add(30 * time.Minute), c, tc.EGONE},
		{"unknown code", start, strings.Repeat("A", 43), tc.EUNAUTHORIZED},
		{"wrong length", start, c[:42], tc.EUNAUTHORIZED},
		{"empty", start, "", tc.EUNAUTHORIZED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.clock.Set(tt.now)
			cs, err := f.svc.Exchange(ctx, tt.code)
			wantCode(t, err, tt.want)
			if err == nil && cs.ExpiresAt.After(start.Add(30*time.Minute)) {
				t.Errorf("token outlives the limited window: %v", cs.ExpiresAt)
			}
			var e *tc.Error
			if tt.want == tc.EFORBIDDEN && (!errors.As(err, &e) || e.Data["opensAt"] != "2026-11-23T09:50:00.000Z") {
				t.Errorf("too early: want opensAt in %v", err)
			}
		})
	}
}

// Ensure a PATCH before the window remakes the room, keeps the links of
// kept participants and kills those of removed ones, and that changes are
// refused once the window is locked.
func TestUpdate(t *testing.T) {
	f := newFixture(t, nil)
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := f.store.FindByID(ctx, id)
	interpreter := tc.ParticipantInput{UserID: "int-1", Groups: []string{"patient"}, FullName: "Luigi Bianchi"}
	parts := []tc.ParticipantInput{doctor(), interpreter}
	newStart := start.Add(time.Hour)
	if err := f.svc.Update(ctx, id, tc.UpdateInput{StartDate: &newStart, Participants: &parts}); err != nil {
		t.Fatal(err)
	}
	after, _ := f.store.FindByID(ctx, id)
	if after.ProviderRoomID == before.ProviderRoomID || !f.sfu.Closed(before.ProviderRoomID) {
		t.Errorf("room not remade: %s → %s", before.ProviderRoomID, after.ProviderRoomID)
	}
	if !after.EndDate.Equal(newStart.Add(30*time.Minute)) || after.State != tc.StateScheduled {
		t.Errorf("after: end %v state %s", after.EndDate, after.State)
	}
	if got := string(after.Participant("doc-1").LinkHash); got != string(before.Participant("doc-1").LinkHash) {
		t.Error("kept participant's link changed")
	}
	if after.Participant("pat-1") != nil || len(after.Participants) != 3 {
		t.Errorf("removed participant still active or lost: %+v", after.Participants)
	}
	// The removed patient's link is dead.
	f.clock.Set(newStart)
	patLink := f.svc.LinkURL(&before.Participants[1], tc.LinkOptions{})
	if _, err := f.svc.Exchange(ctx, code(t, &patLink)); tc.ErrorCode(err) != tc.EGONE {
		t.Errorf("removed participant's link: %v, want gone", err)
	}
	// Locked from start − immutable period on.
	f.clock.Set(newStart.Add(-10 * time.Minute))
	n := f.store.Commits
	later := newStart.Add(time.Hour)
	err = f.svc.Update(ctx, id, tc.UpdateInput{StartDate: &later})
	wantCode(t, err, tc.ECONFLICT)
	if !strings.Contains(err.Error(), "can no longer be changed") || f.store.Commits != n {
		t.Errorf("locked update: %v, commits %d→%d", err, n, f.store.Commits)
	}
	err = f.svc.AddParticipant(ctx, id, tc.ParticipantInput{UserID: "x", Groups: []string{"patient"}, FullName: "X"})
	wantCode(t, err, tc.ECONFLICT)
}

func TestUpdateValidation(t *testing.T) {
	f := newFixture(t, nil)
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	three := 1
	noPlus := []tc.ParticipantInput{patient()}
	tests := []struct {
		name string
		in   tc.UpdateInput
		code string
	}{
		{"too short", tc.UpdateInput{Duration: dur(time.Minute)}, tc.EINVALID},
		{"number below known", tc.UpdateInput{Number: &three}, tc.EINVALID},
		{"no plus user", tc.UpdateInput{Participants: &noPlus, Number: &three}, tc.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := f.store.Commits
			wantCode(t, f.svc.Update(ctx, id, tt.in), tt.code)
			if f.store.Commits != n {
				t.Error("refused update was stored")
			}
		})
	}
	wantCode(t, f.svc.Update(ctx, "0123456789abcdef0123456789abcdef", tc.UpdateInput{}), tc.ENOTFOUND)
}

// Ensure a teleconsultation waiting for participants is completed by
// AddParticipant, which makes the room; and that it can be completed even
// inside its window.
func TestAddParticipant(t *testing.T) {
	f := newFixture(t, nil)
	in := validCreate()
	in.Number = 3
	id, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := f.store.FindByID(ctx, id)
	if got.State != tc.StateWaiting || got.ProviderRoomID != "" {
		t.Fatalf("partial create: state %s room %q", got.State, got.ProviderRoomID)
	}
	if len(f.notes.kinds()) != 0 {
		t.Error("invitations sent before the room exists")
	}
	f.clock.Set(start) // inside the window: still completable
	v, err := f.svc.View(ctx, id, "pat-1", tc.LinkOptions{})
	if err != nil || v.AccessLinkURL != nil {
		t.Errorf("waiting teleconsultation shows a link: %+v %v", v, err)
	}
	wantCode(t, f.svc.AddParticipant(ctx, id, patient()), tc.ECONFLICT) // already a participant
	wantCode(t, f.svc.AddParticipant(ctx, id, tc.ParticipantInput{UserID: "n", Groups: []string{"nurse"}, FullName: "N"}), tc.EINVALID)
	if err := f.svc.AddParticipant(ctx, id, tc.ParticipantInput{UserID: "int-1", Groups: []string{"patient"}, FullName: "Luigi Bianchi"}); err != nil {
		t.Fatal(err)
	}
	got, _ = f.store.FindByID(ctx, id)
	if got.State != tc.StateScheduled || got.ProviderRoomID == "" || len(got.Participants) != 3 {
		t.Errorf("after completion: state %s room %q, %d participants", got.State, got.ProviderRoomID, len(got.Participants))
	}
	wantCode(t, f.svc.AddParticipant(ctx, id, tc.ParticipantInput{UserID: "x", Groups: []string{"patient"}, FullName: "X"}), tc.ECONFLICT)
}

func TestAddParticipantNoPlus(t *testing.T) {
	f := newFixture(t, nil)
	in := validCreate()
	in.Participants = []tc.ParticipantInput{patient()}
	id, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	n := f.store.Commits
	err = f.svc.AddParticipant(ctx, id, tc.ParticipantInput{UserID: "p2", Groups: []string{"patient"}, FullName: "P"})
	if !errors.Is(err, tc.ErrNoPlusUser) || f.store.Commits != n {
		t.Errorf("completing without plus: %v, commits %d→%d", err, n, f.store.Commits)
	}
}

// Ensure creating again for the same appointment replaces the earlier
// teleconsultation and kills its links: a rescheduled appointment gets a
// new room and new links, and the old ones stop working.
func TestReplaceByAppointment(t *testing.T) {
	f := newFixture(t, nil)
	in := validCreate()
	in.AppointmentID = "appt-42"
	first, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := f.store.FindByID(ctx, first)
	if old.State != tc.StateReplaced || old.ReplacedBy != second || !f.sfu.Closed(old.ProviderRoomID) {
		t.Errorf("old: state %s replacedBy %q", old.State, old.ReplacedBy)
	}
	if _, err := f.svc.View(ctx, first, "pat-1", tc.LinkOptions{}); tc.ErrorCode(err) != tc.EGONE {
		t.Errorf("GET old: %v, want gone", err)
	}
	f.clock.Set(start)
	oldLink := f.svc.LinkURL(old.Participant("pat-1"), tc.LinkOptions{})
	if _, err := f.svc.Exchange(ctx, code(t, &oldLink)); tc.ErrorCode(err) != tc.EGONE {
		t.Errorf("old link: %v, want gone", err)
	}
	v, err := f.svc.View(ctx, second, "pat-1", tc.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Exchange(ctx, code(t, v.AccessLinkURL)); err != nil {
		t.Errorf("new link: %v", err)
	}
	if got := f.notes.kinds(); len(got) != 3 || got[1] != tc.NotifyCancelled || got[2] != tc.NotifyRoomMade {
		t.Errorf("notifications %v", got)
	}
}

// Ensure a visit about to happen is not replaced under its participants'
// feet, and that a visit over can be booked again.
func TestReplaceRefusedInWindow(t *testing.T) {
	f := newFixture(t, nil)
	in := validCreate()
	in.AppointmentID = "appt-9"
	first, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(start.Add(-5 * time.Minute)) // inside the immutable period
	in.StartDate = start.Add(24 * time.Hour)
	n := f.store.Commits
	_, err = f.svc.Create(ctx, in)
	wantCode(t, err, tc.ECONFLICT)
	if f.store.Commits != n {
		t.Error("refused replacement stored something")
	}
	if got, _ := f.store.FindByID(ctx, first); got.State != tc.StateScheduled {
		t.Errorf("old state %s", got.State)
	}
	f.clock.Set(start.Add(31 * time.Minute)) // the old visit is over
	if _, err := f.svc.Create(ctx, in); err != nil {
		t.Errorf("replacing a visit that is over: %v", err)
	}
}

// Ensure concurrent creates for one appointment leave exactly one live
// teleconsultation.
func TestReplaceConcurrent(t *testing.T) {
	f := newFixture(t, nil)
	in := validCreate()
	in.AppointmentID = "appt-7"
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = f.svc.Create(ctx, in)
		}()
	}
	wg.Wait()
	counts, _ := f.store.CountByState(ctx)
	if counts[tc.StateScheduled] != 1 {
		t.Errorf("states %v: want exactly one scheduled", counts)
	}
}

func TestCancel(t *testing.T) {
	f := newFixture(t, nil)
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(start)
	v, _ := f.svc.View(ctx, id, "doc-1", tc.LinkOptions{})
	if err := f.svc.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	got, _ := f.store.FindByID(ctx, id)
	if got.State != tc.StateCancelled || !f.sfu.Closed(got.ProviderRoomID) {
		t.Errorf("state %s", got.State)
	}
	_, err = f.svc.Exchange(ctx, code(t, v.AccessLinkURL))
	var e *tc.Error
	if !errors.As(err, &e) || e.Code != tc.EGONE || tc.ReasonOf(err) != tc.ReasonCancelled {
		t.Errorf("link after cancel: %v, want gone with reason cancelled", err)
	}
	wantCode(t, f.svc.Cancel(ctx, id), tc.EGONE)
	_, err = f.svc.View(ctx, id, "doc-1", tc.LinkOptions{})
	wantCode(t, err, tc.EGONE)
	wantCode(t, f.svc.Update(ctx, id, tc.UpdateInput{Duration: dur(time.Hour)}), tc.EGONE)
}

func TestCallEvents(t *testing.T) {
	f := newFixture(t, nil)
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.svc.CallEnded(ctx, id), tc.ECONFLICT)
	f.clock.Set(start)
	if err := f.svc.CallStarted(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.svc.Update(ctx, id, tc.UpdateInput{Duration: dur(time.Hour)}), tc.ECONFLICT)
	f.clock.Set(start.Add(7 * time.Minute))
	if err := f.svc.CallEnded(ctx, id); err != nil {
		t.Fatal(err)
	}
	v, err := f.svc.View(ctx, id, "doc-1", tc.LinkOptions{})
	if err != nil || v.Status != tc.StateEnded || v.DurationUsed != 7*time.Minute {
		t.Errorf("after call: %+v %v", v, err)
	}
}

func TestCredentials(t *testing.T) {
	f := newFixture(t, nil)
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	v, _ := f.svc.View(ctx, id, "doc-1", tc.LinkOptions{})
	cr, err := f.svc.Credentials(ctx, "doc-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if cr.ProviderUserID != v.ProviderUserID || !cr.ExpiresAt.Equal(f.clock.Now().Add(time.Hour)) {
		t.Errorf("credentials %+v, want provider user %q", cr, v.ProviderUserID)
	}
	claims, err := f.svc.Tokens.Verify(cr.AccessToken, f.clock.Now())
	if err != nil || claims.Kind != tc.SessionUser || claims.UserID != "doc-1" {
		t.Errorf("claims %+v %v", claims, err)
	}
	if _, err := f.svc.Tokens.Verify(cr.AccessToken, cr.ExpiresAt.Add(time.Second)); tc.ErrorCode(err) != tc.EUNAUTHORIZED {
		t.Errorf("expired token accepted: %v", err)
	}
	again, _ := f.svc.Credentials(ctx, "doc-1", 10*time.Minute)
	if again == nil || again.ProviderUserID != cr.ProviderUserID {
		t.Error("user-id map not kept")
	}
	// Only users known to the service: a stranger, a removed participant
	// and the participants of a cancelled visit are refused, as in Mia.
	_, err = f.svc.Credentials(ctx, "new-user", 10*time.Minute)
	wantCode(t, err, tc.EUNAUTHORIZED)
	if err := f.svc.Update(ctx, id, tc.UpdateInput{Participants: &[]tc.ParticipantInput{doctor(),
		{UserID: "pat-2", Groups: []string{"patient"}, FullName: "P2"}}}); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Credentials(ctx, "pat-1", 0)
	wantCode(t, err, tc.EUNAUTHORIZED)
	if _, err := f.svc.Credentials(ctx, "pat-2", 0); err != nil {
		t.Errorf("added participant: %v", err)
	}
	if err := f.svc.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Credentials(ctx, "doc-1", 0)
	wantCode(t, err, tc.EUNAUTHORIZED)
	_, err = f.svc.Credentials(ctx, "u", 30*time.Second)
	wantCode(t, err, tc.EINVALID)
	_, err = f.svc.Credentials(ctx, "", 0)
	wantCode(t, err, tc.EUNAUTHORIZED)
}
