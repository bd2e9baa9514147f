package teleconsult_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/inmem"
	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
)

// hosted is a hosted video provider for the domain tests: rooms with
// per-participant links, join targets, uploads, details, credentials,
// webhooks, and failures on demand.
type hosted struct {
	mu       sync.Mutex
	rooms    map[string]bool // live rooms
	made     int
	deleted  []string
	ended    []string
	uploads  int
	failNext map[string]error // by method name, once
	// joinLanguage is the language of the participant last given to Join,
	// joinBackground its options' Background.
	joinLanguage   string
	joinBackground bool
}

var (
	_ tc.VideoProvider     = (*hosted)(nil)
	_ tc.WebhookReceiver   = (*hosted)(nil)
	_ tc.CallEnder         = (*hosted)(nil)
	_ tc.RoomInspector     = (*hosted)(nil)
	_ tc.CredentialsIssuer = (*hosted)(nil)
)

func newHosted() *hosted { return &hosted{rooms: map[string]bool{}, failNext: map[string]error{}} }

func (h *hosted) fail(method string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failNext[method] = err
}

func (h *hosted) takeFail(method string) error {
	err := h.failNext[method]
	delete(h.failNext, method)
	return err
}

func (h *hosted) Name() string { return "hosted" }

func (h *hosted) NewUser(_ context.Context, userID string, _ tc.Role) (string, error) {
	return "h_" + userID, nil
}

func (h *hosted) CreateRoom(_ context.Context, t *tc.Teleconsultation, _ *tc.Settings) (*tc.Room, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.takeFail("CreateRoom"); err != nil {
		return nil, err
	}
	h.made++
	r := &tc.Room{ID: fmt.Sprintf("room-%s-%d", t.ID[:6], t.RoomRevision+1), URL: "https://video.test/room", Links: map[string]string{}}
	for _, p := range t.ActiveParticipants() {
		r.Links[p.UserID] = "https://video.test/link/" + p.UserID + "/" + r.ID
	}
	h.rooms[r.ID] = true
	return r, nil
}

func (h *hosted) DeleteRoom(_ context.Context, t *tc.Teleconsultation) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.takeFail("DeleteRoom"); err != nil {
		return err
	}
	delete(h.rooms, t.ProviderRoomID)
	h.deleted = append(h.deleted, t.ProviderRoomID)
	return nil
}

func (h *hosted) Join(_ context.Context, t *tc.Teleconsultation, p *tc.Participant, _ *tc.Settings, o tc.JoinOptions) (*tc.JoinTarget, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.takeFail("Join"); err != nil {
		return nil, err
	}
	h.joinLanguage, h.joinBackground = p.Language, o.Background
	return &tc.JoinTarget{Provider: "hosted", URL: p.ProviderLink, Token: "tok-" + p.UserID, ExpiresAt: o.Until}, nil
}

func (h *hosted) DeleteUploads(context.Context, *tc.Teleconsultation) (tc.UploadsDeleted, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.uploads
	h.uploads = 0
	return tc.UploadsDeleted{Total: n, Deleted: n}, nil
}

func (h *hosted) EndCall(_ context.Context, t *tc.Teleconsultation) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ended = append(h.ended, t.ProviderRoomID)
	return nil
}

func (h *hosted) RoomDetails(c context.Context, _ *tc.Teleconsultation) (*tc.RoomDetails, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if dl, ok := c.Deadline(); !ok || time.Until(dl) > 2*time.Second {
		return nil, tc.Errorf(tc.EINTERNAL, "room details asked without a short deadline: GET could wait on the provider")
	}
	if err := h.takeFail("RoomDetails"); err != nil {
		return nil, err
	}
	used := 42 * time.Second
	return &tc.RoomDetails{Status: "NOT_RUNNING", DurationUsed: &used}, nil
}

func (h *hosted) Credentials(_ context.Context, pid string, ttl time.Duration) (string, time.Time, error) {
	return "sdk-" + pid, start.Add(ttl), nil
}

// ParseWebhook takes "sig=ok" as a good signature and the body
// "<id> <kind> <room> <session> <unix seconds> [<start unix seconds>]".
func (h *hosted) ParseWebhook(req tc.WebhookRequest, _ time.Time) (tc.CallEvent, error) {
	if sig := req.Header["Sig"]; len(sig) != 1 || sig[0] != "ok" {
		return tc.CallEvent{}, tc.Errorf(tc.EUNAUTHORIZED, "bad signature")
	}
	var ev tc.CallEvent
	var kind string
	var at, begin int64
	if n, _ := fmt.Sscan(string(req.Body), &ev.ID, &kind, &ev.Room, &ev.Session, &at, &begin); n < 5 {
		return tc.CallEvent{}, tc.Errorf(tc.EINVALID, "malformed")
	}
	ev.Type, ev.At = kind, time.Unix(at, 0)
	if begin != 0 {
		ev.Start = time.Unix(begin, 0)
	}
	ev.Kind = map[string]tc.CallEventKind{"started": tc.CallEventMeetingStarted, "ended": tc.CallEventMeetingEnded,
		"joined": tc.CallEventParticipantJoined, "left": tc.CallEventParticipantLeft}[kind]
	return ev, nil
}

type hostedFixture struct {
	*fixture
	h      *hosted
	events *inmem.Events
}

func newHostedFixture(t *testing.T, mod func(*tc.Settings)) *hostedFixture {
	f := newFixture(t, mod)
	h := newHosted()
	f.svc.Provider = h
	ev := inmem.NewEvents(f.store)
	f.svc.Events = ev
	return &hostedFixture{fixture: f, h: h, events: ev}
}

func (f *hostedFixture) webhook(t *testing.T, body string) (string, error) {
	t.Helper()
	return f.svc.Webhook(ctx, "hosted", tc.WebhookRequest{Header: map[string][]string{"Sig": {"ok"}}, Body: []byte(body)})
}

func (f *hostedFixture) get(t *testing.T, id string) *tc.Teleconsultation {
	t.Helper()
	got, err := f.store.FindByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Ensure a provider's per-participant links are kept with the
// participants, survive a change that keeps the room, are replaced when the
// room is remade, and are handed out only by the link exchange, after its
// checks, with the provider's join target.
func TestProviderRoomAndJoin(t *testing.T) {
	f := newHostedFixture(t, nil)
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	got := f.get(t, id)
	if got.ProviderRoomURL != "https://video.test/room" || got.RoomRevision != 1 {
		t.Fatalf("room %q revision %d", got.ProviderRoomURL, got.RoomRevision)
	}
	for _, p := range got.Participants {
		if p.ProviderLink != "https://video.test/link/"+p.UserID+"/"+got.ProviderRoomID {
			t.Errorf("%s: link %q", p.UserID, p.ProviderLink)
		}
	}

	// A change of name only keeps the room and the links.
	in := []tc.ParticipantInput{doctor(), patient()}
	in[1].FullName = "Mario R."
	if err := f.svc.Update(ctx, id, tc.UpdateInput{Participants: &in}); err != nil {
		t.Fatal(err)
	}
	kept := f.get(t, id)
	if kept.ProviderRoomID != got.ProviderRoomID || kept.Participants[1].ProviderLink != got.Participants[1].ProviderLink {
		t.Errorf("a name change remade the room or lost a link: %+v", kept.Participants[1])
	}

	// Removing the patient and adding another remakes the room: new links,
	// none for the removed participant, the old room deleted.
	other := tc.ParticipantInput{UserID: "pat-2", Groups: []string{"patient"}, FullName: "Luigi Bianchi"}
	in = []tc.ParticipantInput{doctor(), other}
	if err := f.svc.Update(ctx, id, tc.UpdateInput{Participants: &in}); err != nil {
		t.Fatal(err)
	}
	remade := f.get(t, id)
	if remade.ProviderRoomID == got.ProviderRoomID || remade.RoomRevision != 2 || len(f.h.deleted) != 1 || f.h.deleted[0] != got.ProviderRoomID {
		t.Fatalf("room %s rev %d, deleted %v", remade.ProviderRoomID, remade.RoomRevision, f.h.deleted)
	}
	for _, p := range remade.Participants {
		want := "https://video.test/link/" + p.UserID + "/" + remade.ProviderRoomID
		if !p.Active() {
			want = ""
		}
		if p.ProviderLink != want {
			t.Errorf("%s (active %v): link %q, want %q", p.UserID, p.Active(), p.ProviderLink, want)
		}
	}

	// The exchange hands out the join target once the window is open.
	f.clock.Set(start.Add(-5 * time.Minute))
	v, err := f.svc.View(ctx, id, "pat-2", tc.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := f.svc.Exchange(ctx, code(t, v.AccessLinkURL))
	if err != nil {
		t.Fatal(err)
	}
	if cs.Join == nil || cs.Join.Provider != "hosted" || cs.Join.URL != "https://video.test/link/pat-2/"+remade.ProviderRoomID ||
		cs.Join.Token != "tok-pat-2" || !cs.Join.ExpiresAt.Equal(cs.ExpiresAt) {
		t.Errorf("join %+v", cs.Join)
	}
	if strings.Contains(*v.AccessLinkURL, "video.test") {
		t.Errorf("GET shows the provider's link %q instead of ours", *v.AccessLinkURL)
	}
	// The provider's room details reach the view; a failure leaves them out.
	if v.ProviderDetails == nil || v.ProviderDetails.Status != "NOT_RUNNING" || *v.ProviderDetails.DurationUsed != 42*time.Second {
		t.Errorf("details %+v", v.ProviderDetails)
	}
	f.h.fail("RoomDetails", tc.Errorf(tc.EUNAVAILABLE, "down"))
	if v, err := f.svc.View(ctx, id, "pat-2", tc.LinkOptions{}); err != nil || v.ProviderDetails != nil {
		t.Errorf("view with details down: %v %+v", err, v)
	}
	// A visit set up with another provider (VIDEO_PROVIDER changed since)
	// is refused clearly rather than sent to the wrong platform.
	f.svc.Provider = f.sfu
	if _, err := f.svc.Exchange(ctx, code(t, v.AccessLinkURL)); tc.ErrorCode(err) != tc.ECONFLICT || !strings.Contains(err.Error(), "set up with video provider hosted") {
		t.Errorf("exchange after a provider switch: %v", err)
	}
	f.svc.Provider = f.h
	// A provider that cannot give a join target now fails the exchange.
	f.h.fail("Join", tc.Errorf(tc.EUNAVAILABLE, "video provider down"))
	if _, err := f.svc.Exchange(ctx, code(t, v.AccessLinkURL)); tc.ErrorCode(err) != tc.EUNAVAILABLE {
		t.Errorf("exchange with the provider down: %v", err)
	}
}

// Ensure an outage leaves no half-made state: a create, a change or a
// cancellation that the provider refuses changes nothing, and a later
// attempt completes it.
func TestProviderOutageConsistency(t *testing.T) {
	f := newHostedFixture(t, nil)
	down := tc.Errorf(tc.EUNAVAILABLE, "video provider down")
	f.h.fail("CreateRoom", down)
	if _, err := f.svc.Create(ctx, validCreate()); tc.ErrorCode(err) != tc.EUNAVAILABLE {
		t.Fatalf("create: %v", err)
	}
	if counts, _ := f.store.CountByState(ctx); len(counts) != 0 {
		t.Fatalf("stored after a failed create: %v", counts)
	}
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	before := f.get(t, id)

	f.h.fail("CreateRoom", down)
	if err := f.svc.Update(ctx, id, tc.UpdateInput{Duration: dur(time.Hour)}); tc.ErrorCode(err) != tc.EUNAVAILABLE {
		t.Fatalf("update: %v", err)
	}
	if after := f.get(t, id); after.Version != before.Version || after.ProviderRoomID != before.ProviderRoomID {
		t.Errorf("a failed update changed the teleconsultation")
	}
	if err := f.svc.Update(ctx, id, tc.UpdateInput{Duration: dur(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	f.h.fail("DeleteRoom", down)
	if err := f.svc.Cancel(ctx, id); tc.ErrorCode(err) != tc.EUNAVAILABLE {
		t.Fatalf("cancel: %v", err)
	}
	if got := f.get(t, id); got.State != tc.StateScheduled {
		t.Errorf("a failed cancel left state %s", got.State)
	}
	if err := f.svc.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := f.get(t, id); got.State != tc.StateCancelled || len(f.h.rooms) != 0 {
		t.Errorf("state %s, rooms left %v", got.State, f.h.rooms)
	}
	// A provider that makes a room without an id is a bad gateway.
	f.h.fail("CreateRoom", nil)
	bad := &noIDProvider{f.h}
	f.svc.Provider = bad
	if _, err := f.svc.Create(ctx, validCreate()); tc.ErrorCode(err) != tc.EBADGATEWAY {
		t.Errorf("room without id: %v", err)
	}
}

type noIDProvider struct{ *hosted }

func (noIDProvider) CreateRoom(context.Context, *tc.Teleconsultation, *tc.Settings) (*tc.Room, error) {
	return &tc.Room{}, nil
}

// Ensure webhook events drive the call state: joins start the call, the
// LIVE rule ends it when a participant leaves and fewer than two remain
// (disconnecting the rest and deleting uploads), time used comes from the
// event times, replays and unknown rooms change nothing, and a bad
// signature is refused.
func TestWebhookCallState(t *testing.T) {
	for _, live := range []bool{true, false} {
		t.Run(fmt.Sprintf("live=%v", live), func(t *testing.T) {
			f := newHostedFixture(t, func(s *tc.Settings) { s.Live = live; s.DeleteUploads = true })
			id, err := f.svc.Create(ctx, validCreate())
			if err != nil {
				t.Fatal(err)
			}
			room := f.get(t, id).ProviderRoomID
			f.clock.Set(start.Add(time.Hour))
			t0 := start.Unix()
			ev := func(n int, kind, session string, at int64) string {
				return fmt.Sprintf("ev%d %s %s %s %d", n, kind, room, session, at)
			}
			mustApply := func(body, want string) {
				t.Helper()
				if got, err := f.webhook(t, body); err != nil || got != want {
					t.Fatalf("webhook %q: %q %v, want %q", body, got, err, want)
				}
			}
			mustApply(ev(1, "joined", "s1", t0), tc.WebhookApplied)
			if got := f.get(t, id); got.State != tc.StateInProgress || !got.CallStartedAt.Equal(start) {
				t.Fatalf("after a join: %s from %v", got.State, got.CallStartedAt)
			}
			mustApply(ev(1, "joined", "s1", t0), tc.WebhookDuplicate)
			mustApply(ev(2, "started", "-", t0+1), tc.WebhookApplied)
			mustApply(ev(3, "joined", "s2", t0+60), tc.WebhookApplied)
			f.h.uploads = 3
			mustApply(ev(4, "left", "s1", t0+600), tc.WebhookApplied)
			got := f.get(t, id)
			if live {
				if got.State != tc.StateEnded || got.CallUsed != 600*time.Second || len(f.h.ended) != 1 || f.h.uploads != 0 {
					t.Fatalf("LIVE, one left of two: %s used %v, ended %v, uploads left %d", got.State, got.CallUsed, f.h.ended, f.h.uploads)
				}
			} else if got.State != tc.StateInProgress || len(f.h.ended) != 0 || f.h.uploads != 3 {
				t.Fatalf("not LIVE, one left of two: %s, ended %v", got.State, f.h.ended)
			}
			mustApply(ev(5, "left", "s2", t0+900), tc.WebhookApplied)
			mustApply(ev(6, "ended", "-", t0+901), tc.WebhookApplied)
			got = f.get(t, id)
			if want := map[bool]time.Duration{true: 600 * time.Second, false: 900 * time.Second}[live]; got.State != tc.StateEnded || got.CallUsed != want {
				t.Errorf("after everyone left: %s used %v, want %v", got.State, got.CallUsed, want)
			}
			if f.h.uploads != 0 {
				t.Errorf("uploads not deleted at the end")
			}
			version := got.Version

			// A replayed event, an unknown room, an event we do not follow
			// and a bad signature change nothing.
			mustApply(ev(3, "joined", "s2", t0+60), tc.WebhookDuplicate)
			mustApply("ev7 joined other-room s9 "+fmt.Sprint(t0), tc.WebhookIgnored)
			mustApply(fmt.Sprintf("ev8 recorded %s - %d", room, t0), tc.WebhookIgnored)
			_, err = f.svc.Webhook(ctx, "hosted", tc.WebhookRequest{Header: map[string][]string{"Sig": {"forged"}}, Body: []byte(ev(9, "joined", "s3", t0))})
			wantCode(t, err, tc.EUNAUTHORIZED)
			if _, err := f.svc.Webhook(ctx, "daily", tc.WebhookRequest{}); tc.ErrorCode(err) != tc.ENOTFOUND {
				t.Errorf("webhook for another provider: %v", err)
			}
			if got := f.get(t, id); got.Version != version {
				t.Errorf("version %d after ignored webhooks, want %d", got.Version, version)
			}
			// Participants may re-enter: a new join starts a new call.
			mustApply(ev(10, "joined", "s4", t0+1000), tc.WebhookApplied)
			if got := f.get(t, id); got.State != tc.StateInProgress {
				t.Errorf("re-entry: %s", got.State)
			}
		})
	}
}

// failingStore fails the next Apply.
type failingStore struct {
	*inmem.Store
	fail bool
}

func (s *failingStore) Apply(c context.Context, ch tc.Change) error {
	if s.fail {
		s.fail = false
		return tc.Errorf(tc.EUNAVAILABLE, "database busy; retry")
	}
	return s.Store.Apply(c, ch)
}

// Ensure an event whose handling failed is handled when the provider
// retries it, and that an event for a cancelled teleconsultation is
// ignored.
func TestWebhookRetryAfterFailure(t *testing.T) {
	f := newHostedFixture(t, nil)
	fs := &failingStore{Store: f.store}
	f.svc.Store = fs
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	room := f.get(t, id).ProviderRoomID
	f.clock.Set(start)
	body := fmt.Sprintf("e1 joined %s s1 %d", room, start.Unix())
	fs.fail = true
	if _, err := f.webhook(t, body); tc.ErrorCode(err) != tc.EUNAVAILABLE {
		t.Fatalf("failing store: %v", err)
	}
	if got, err := f.webhook(t, body); err != nil || got != tc.WebhookApplied {
		t.Fatalf("retry: %q %v", got, err)
	}
	if err := f.svc.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got, err := f.webhook(t, fmt.Sprintf("e2 left %s s1 %d", room, start.Unix())); err != nil || got != tc.WebhookIgnored {
		t.Errorf("event after cancellation: %q %v", got, err)
	}
	if got := f.get(t, id); got.State != tc.StateCancelled {
		t.Errorf("state %s", got.State)
	}
}

// Ensure upload deletion follows TELECONSULTATION_DELETE_UPLOADS, and
// POST /credentials gives the provider's own credentials when it has them.
func TestProviderUploadsAndCredentials(t *testing.T) {
	f := newHostedFixture(t, nil)
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := f.svc.DeleteUploads(ctx, id, ""); err != nil || res != nil {
		t.Errorf("uploads with deletion off: %+v %v", res, err)
	}
	f.svc.Settings.DeleteUploads = true
	f.h.uploads = 2
	if res, err := f.svc.DeleteUploads(ctx, id, ""); err != nil || res == nil || res.Total != 2 || res.Deleted != 2 {
		t.Errorf("uploads: %+v %v", res, err)
	}
	if _, err := f.svc.DeleteUploads(ctx, "0123456789abcdef0123456789abcdef", ""); tc.ErrorCode(err) != tc.ENOTFOUND {
		t.Errorf("unknown id: %v", err)
	}
	c, err := f.svc.Credentials(ctx, "doc-1", time.Hour)
	if err != nil || c.AccessToken != "sdk-h_doc-1" || c.ProviderUserID != "h_doc-1" || !c.ExpiresAt.Equal(start.Add(time.Hour)) {
		t.Errorf("credentials %+v %v", c, err)
	}
}
