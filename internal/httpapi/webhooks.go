package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// deliveryResponse is one outgoing webhook event to one receiver, with its
// delivery state (GET /teleconsultation/{id}/webhooks).
type deliveryResponse struct {
	// WebhookID is the webhook-id header: the same on every attempt.
	WebhookID     string          `json:"webhookId"`
	Receiver      string          `json:"receiver"`
	Type          string          `json:"type"`
	Status        string          `json:"status"`
	Attempts      int             `json:"attempts"`
	LastStatus    int             `json:"lastStatus,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	QueuedAt      string          `json:"queuedAt"`
	NextAttemptAt string          `json:"nextAttemptAt,omitempty"`
	DeliveredAt   string          `json:"deliveredAt,omitempty"`
	Payload       json.RawMessage `json:"payload"`
}

// handleWebhookDeliveries lists the outgoing webhook events of a
// teleconsultation and how their delivery stands: GET
// /teleconsultation/{id}/webhooks. Only for an API key (never for a
// gateway's user); the payloads hold ids, states and times only.
func (s *Server) handleWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	id, err := roomID(r)
	if err != nil {
		return err
	}
	msgs, err := s.svc.WebhookDeliveries(r.Context(), id)
	if err != nil {
		return err
	}
	out := make([]deliveryResponse, 0, len(msgs))
	for _, m := range msgs {
		d := deliveryResponse{
			WebhookID: m.EventID, Receiver: m.Endpoint, Type: string(m.Type), Status: m.Status.String(),
			Attempts: m.Attempts, LastStatus: m.LastStatus, Reason: m.LastError,
			QueuedAt: formatTime(m.CreatedAt), Payload: json.RawMessage(m.Payload),
		}
		if m.Status == teleconsult.DeliveryPending {
			d.NextAttemptAt = formatTime(m.NextAttemptAt)
		}
		if m.Status == teleconsult.DeliverySent {
			d.DeliveredAt = formatTime(m.SentAt)
		}
		out = append(out, d)
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{"teleconsultationId": id, "deliveries": out})
	return nil
}
