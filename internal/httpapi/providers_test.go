package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/inmem"
	"github.com/teleconsult/teleconsult/internal/sfu"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// hostedProvider is the built-in provider dressed as a hosted one: it
// accepts webhooks signed "good" (body: {"id","type","room","session"}),
// gives join targets and room details, and fails on demand.
type hostedProvider struct {
	*sfu.Provider
	createErr error
	uploads   int
}

func (h *hostedProvider) Name() string { return "daily" }

func (h *hostedProvider) CreateRoom(ctx context.Context, tc *teleconsult.Teleconsultation, s *teleconsult.Settings) (*teleconsult.Room, error) {
	if h.createErr != nil {
		return nil, h.createErr
	}
	r, _ := h.Provider.CreateRoom(ctx, tc, s)
	r.URL = "https://acme.video.test/" + r.ID
	return r, nil
}

func (h *hostedProvider) Join(_ context.Context, tc *teleconsult.Teleconsultation, p *teleconsult.Participant, _ *teleconsult.Settings, o teleconsult.JoinOptions) (*teleconsult.JoinTarget, error) {
	return &teleconsult.JoinTarget{Provider: "daily", URL: tc.ProviderRoomURL, Token: "meeting-token-" + p.ProviderUserID, ExpiresAt: o.Until}, nil
}

func (h *hostedProvider) DeleteUploads(context.Context, *teleconsult.Teleconsultation) (teleconsult.UploadsDeleted, error) {
	n := h.uploads
	h.uploads = 0
	return teleconsult.UploadsDeleted{Total: n, Deleted: n}, nil
}

func (h *hostedProvider) RoomDetails(context.Context, *teleconsult.Teleconsultation) (*teleconsult.RoomDetails, error) {
	used := 5 * time.Hour
	return &teleconsult.RoomDetails{Status: "NOT_RUNNING", CallType: "audio_video", DurationUsed: &used}, nil
}

func (h *hostedProvider) ParseWebhook(req teleconsult.WebhookRequest, _ time.Time) (teleconsult.CallEvent, error) {
	if http.Header(req.Header).Get("X-Webhook-Signature") != "good" {
		return teleconsult.CallEvent{}, teleconsult.Errorf(teleconsult.EUNAUTHORIZED, "webhook signature missing or invalid")
	}
	var b struct{ ID, Type, Room, Session string }
	if err := json.Unmarshal(req.Body, &b); err != nil {
		return teleconsult.CallEvent{}, teleconsult.Errorf(teleconsult.EINVALID, "malformed webhook")
	}
	kind := map[string]teleconsult.CallEventKind{"participant.joined": teleconsult.CallEventParticipantJoined}[b.Type]
	return teleconsult.CallEvent{ID: b.ID, Kind: kind, Type: b.Type, Room: b.Room, Session: b.Session}, nil
}

func newHostedEnv(t *testing.T, opts ...envOption) (*env, *hostedProvider) {
	e := newEnv(t, opts...)
	h := &hostedProvider{Provider: newSFU(t)}
	e.svc.Provider = h
	e.svc.Events = inmem.NewEvents(e.store)
	return e, h
}

const webhookPath = Prefix + "/webhooks/daily"

func webhookJSON(id, typ, room string) string {
	b, _ := json.Marshal(map[string]string{"id": id, "type": typ, "room": room, "session": "s-" + id})
	return string(b)
}

// Ensure the Daily webhook route is public, verified by the provider
// before anything changes, idempotent per event id, ignores rooms that are
// not ours, and bounds its body.
func TestDailyWebhookRoute(t *testing.T) {
	e, _ := newHostedEnv(t)
	id := e.create(2, "", doctor, patient)
	stored, err := e.store.FindByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	room := stored.ProviderRoomID
	signed := withHeader("X-Webhook-Signature", "good")

	w := e.do("POST", webhookPath, webhookJSON("e1", "participant.joined", room), noKey())
	wantStatus(t, w, http.StatusUnauthorized)
	if msg := errorOf(t, w); msg != "webhook signature missing or invalid" {
		t.Errorf("message %q", msg)
	}
	w = e.do("POST", webhookPath, webhookJSON("e1", "participant.joined", room), noKey(), withHeader("X-Webhook-Signature", "forged"))
	wantStatus(t, w, http.StatusUnauthorized)
	if got, _ := e.store.FindByID(context.Background(), id); got.Version != stored.Version {
		t.Fatal("a refused webhook changed the teleconsultation")
	}

	w = e.do("POST", webhookPath, webhookJSON("e1", "participant.joined", room), noKey(), signed)
	wantStatus(t, w, http.StatusOK)
	if st := body(t, w)["status"]; st != "applied" {
		t.Errorf("status %v", st)
	}
	if got := e.view(id, "p1")["details"].(map[string]any)["status"]; got != "in_progress" {
		t.Errorf("details.status %v after a join", got)
	}
	for _, tt := range []struct{ body, want string }{
		{webhookJSON("e1", "participant.joined", room), "duplicate"},
		{webhookJSON("e2", "participant.joined", "not-our-room"), "ignored"},
		{webhookJSON("e3", "recording.started", room), "ignored"},
		{`{"test":"test"}`, "ignored"},
	} {
		w := e.do("POST", webhookPath, tt.body, noKey(), signed)
		wantStatus(t, w, http.StatusOK)
		if st := body(t, w)["status"]; st != tt.want {
			t.Errorf("%s: status %v, want %s", tt.body, st, tt.want)
		}
	}
	w = e.do("POST", webhookPath, `{"pad":"`+strings.Repeat("x", maxWebhookBytes)+`"}`, noKey(), signed)
	wantStatus(t, w, http.StatusRequestEntityTooLarge)
	w = e.do("POST", webhookPath, `{"pad":"`+strings.Repeat("x", maxWebhookBytes)+`"}`, noKey(), signed, unknownLength())
	wantStatus(t, w, http.StatusRequestEntityTooLarge)
	w = e.do("POST", webhookPath, `[`, noKey(), signed)
	wantStatus(t, w, http.StatusBadRequest)
	if strings.Contains(e.logs.String(), "Marker") {
		t.Errorf("logs show patient data:\n%s", e.logs)
	}

	// With the built-in provider there are no webhooks.
	b := newEnv(t)
	w = b.do("POST", webhookPath, webhookJSON("e1", "participant.joined", room), noKey(), signed)
	wantStatus(t, w, http.StatusNotFound)
}

// Ensure Mia's upload deletion route: 204 when deletion is off, 200 with
// the counts when on.
func TestDeleteUploadsRoute(t *testing.T) {
	e, h := newHostedEnv(t)
	id := e.create(2, "", doctor, patient)
	w := e.do("DELETE", api+"/"+id+"/uploads", "")
	wantStatus(t, w, http.StatusNoContent)
	e.svc.Settings.DeleteUploads = true
	h.uploads = 3
	w = e.do("DELETE", api+"/"+id+"/uploads", "")
	wantStatus(t, w, http.StatusOK)
	if b := body(t, w); b["total"] != 3.0 || b["deleted"] != 3.0 {
		t.Errorf("body %v", b)
	}
	wantStatus(t, e.do("DELETE", api+"/0123456789abcdef0123456789abcdef/uploads", ""), http.StatusNotFound)
	wantStatus(t, e.do("DELETE", api+"/"+id+"/uploads", "", noKey()), http.StatusUnauthorized)
}

// Ensure the session carries where to join at the provider, GET merges the
// provider's room details, and a provider's bad answer is a 502.
func TestProviderFieldsAndErrors(t *testing.T) {
	b := newEnv(t)
	bid := b.create(2, "", doctor, patient)
	b.clock.Set(startAt)
	w := b.do("POST", Prefix+"/sessions", sessionJSON(linkCode(t, b.view(bid, "p1")["accessLinkURL"])), noKey())
	wantStatus(t, w, http.StatusCreated)
	if j := body(t, w)["join"]; !jsonEqual(j, map[string]any{"provider": "builtin"}) {
		t.Errorf("builtin join %v", j)
	}

	e, h := newHostedEnv(t)
	id := e.create(2, "", doctor, patient)
	e.clock.Set(startAt)
	v := e.view(id, "p1")
	d := v["details"].(map[string]any)
	if d["providerStatus"] != "NOT_RUNNING" || d["callType"] != "audio_video" || d["durationUsedInSeconds"] != 18000.0 || d["status"] != "open" {
		t.Errorf("details %v", d)
	}
	w = e.do("POST", Prefix+"/sessions", sessionJSON(linkCode(t, v["accessLinkURL"])), noKey())
	wantStatus(t, w, http.StatusCreated)
	sess := body(t, w)
	j, _ := sess["join"].(map[string]any)
	if j["provider"] != "daily" || !strings.HasPrefix(j["url"].(string), "https://acme.video.test/") ||
		!strings.HasPrefix(j["token"].(string), "meeting-token-") || j["expiresAt"] != sess["expiresAt"] {
		t.Errorf("join %v", j)
	}

	h.createErr = &teleconsult.Error{Code: teleconsult.EBADGATEWAY, Message: "video provider Daily failed (HTTP 500) (create room)"}
	w = e.do("POST", api, createJSON(2, "", doctor, patient))
	wantStatus(t, w, http.StatusBadGateway)
	if msg := errorOf(t, w); msg != "video provider Daily failed (HTTP 500) (create room)" {
		t.Errorf("message %q", msg)
	}
	h.createErr = teleconsult.Errorf(teleconsult.EUNAVAILABLE, "video provider Daily did not answer within 10s (create room)")
	wantStatus(t, e.do("POST", api, createJSON(2, "", doctor, patient)), http.StatusServiceUnavailable)
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// Ensure the webhook route takes the provider from its path: the
// configured one's webhooks are handled (/webhooks/daily as before),
// another provider's, or an odd name, are 404 without echoing the name.
func TestWebhookRouteByProvider(t *testing.T) {
	e, _ := newHostedEnv(t)
	id := e.create(2, "", doctor, patient)
	stored, err := e.store.FindByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	signed := withHeader("X-Webhook-Signature", "good")
	body := webhookJSON("e1", "participant.joined", stored.ProviderRoomID)
	for _, tt := range []struct {
		path   string
		status int
		msg    string
	}{
		{Prefix + "/webhooks/kaleyra", http.StatusNotFound, "webhooks of kaleyra are not enabled: VIDEO_PROVIDER is daily"},
		{Prefix + "/webhooks/builtin", http.StatusNotFound, "webhooks of builtin are not enabled: VIDEO_PROVIDER is daily"},
		{Prefix + "/webhooks/Da%3Cb%3Eily", http.StatusNotFound, "not found"},
		{Prefix + "/webhooks/" + strings.Repeat("d", 33), http.StatusNotFound, "not found"},
		{Prefix + "/webhooks/daily", http.StatusOK, ""},
	} {
		w := e.do("POST", tt.path, body, noKey(), signed)
		wantStatus(t, w, tt.status)
		if tt.msg != "" && errorOf(t, w) != tt.msg {
			t.Errorf("%s: %q, want %q", tt.path, errorOf(t, w), tt.msg)
		}
	}
	if got := e.view(id, "p1")["details"].(map[string]any)["status"]; got != "in_progress" {
		t.Errorf("details.status %v after a join through /webhooks/daily", got)
	}
}
