package httpapi

import (
	"errors"
	"io"
	"net/http"
	"regexp"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Routes and fields of the hosted video providers (Daily, Kaleyra): the
// providers' webhooks, upload deletion, the join target of a session and
// the provider's room details in GET.

// maxWebhookBytes bounds a webhook body: Daily's events are a few hundred
// bytes.
const maxWebhookBytes = 64 << 10

type webhookResponse struct {
	Status string `json:"status"`
}

// providerName is the shape of {provider} in a webhook route: a name as in
// VIDEO_PROVIDER. Anything else is not found, and never echoed.
var providerName = regexp.MustCompile(`^[a-z][a-z0-9]{0,31}$`)

// handleWebhook receives the webhooks of the video provider named by
// {provider} (POST /webhooks/daily): public (the provider holds no API
// key), authenticated by their signature, which the provider checks before
// anything changes. It answers 200 for an event applied, already handled
// (a replay) or ignored (not ours, not followed); 401 for a missing or bad
// signature or a stale timestamp; 404 when the configured provider is not
// {provider} or takes no webhooks.
func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request) error {
	provider := r.PathValue("provider")
	if !providerName.MatchString(provider) {
		return &httpError{status: http.StatusNotFound, msg: "not found"}
	}
	tooLarge := &httpError{status: http.StatusRequestEntityTooLarge, msg: "webhook body too large"}
	if r.ContentLength > maxWebhookBytes {
		return tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return tooLarge
		}
		return badRequest("could not read the request body")
	}
	outcome, err := s.svc.Webhook(r.Context(), provider, teleconsult.WebhookRequest{Header: r.Header, Body: body})
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, webhookResponse{Status: outcome})
	return nil
}

type uploadsResponse struct {
	Total   int `json:"total"`
	Deleted int `json:"deleted"`
}

// joinResponse is where the call page sends the participant: for Daily the
// room and a meeting token, for Kaleyra the participant's own room link,
// for the built-in provider nothing more than the session token.
type joinResponse struct {
	Provider  string `json:"provider"`
	URL       string `json:"url,omitempty"`
	Token     string `json:"token,omitempty"`
	ExpiresAt string `json:"expiresAt,omitempty"`
}

func newJoinResponse(j *teleconsult.JoinTarget) *joinResponse {
	if j == nil {
		return nil
	}
	out := &joinResponse{Provider: j.Provider, URL: j.URL, Token: j.Token}
	if !j.ExpiresAt.IsZero() {
		out.ExpiresAt = formatTime(j.ExpiresAt)
	}
	return out
}

// providerDetails are the fields of GET's details that only a provider that
// describes its rooms (Kaleyra) fills, with Mia's names.
type providerDetails struct {
	Recording       string `json:"recording,omitempty"`
	RecordingStatus string `json:"recordingStatus,omitempty"`
	CallType        string `json:"callType,omitempty"`
	ProviderStatus  string `json:"providerStatus,omitempty"`
}

// addProvider merges what the provider says about the room: its fields,
// its count of the time used when larger than ours, its disabled flag, and
// its live flag (the LIVE_TELECONSULTATION the room was made with).
func (d *viewDetails) addProvider(p *teleconsult.RoomDetails) {
	if p == nil {
		return
	}
	d.Recording, d.RecordingStatus, d.CallType, d.ProviderStatus = p.Recording, p.RecordingStatus, p.CallType, p.Status
	if p.DurationUsed != nil {
		if used := int64(*p.DurationUsed / time.Second); used > d.DurationUsedInSeconds {
			d.DurationUsedInSeconds = used
		}
	}
	d.Disabled = d.Disabled || p.Disabled
	if p.Live != nil {
		d.Live = *p.Live
	}
}
