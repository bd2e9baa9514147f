package httpapi

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// The audit trail's route: GET /audit, for trusted callers with an API
// key (never a gateway's user).

// auditParams are the query parameters of GET /audit.
var auditParams = map[string]bool{"teleconsultationId": true, "from": true, "to": true, "after": true, "limit": true}

// parseAuditQuery reads GET /audit's query: teleconsultationId (a
// teleconsultation id), from and to (RFC 3339 times, from inclusive, to
// exclusive), after (the cursor: the last entry id of the previous page)
// and limit (1 to 1000, default 100). An unknown or repeated parameter, or a
// bad value, is an error that names it.
func parseAuditQuery(q url.Values) (teleconsult.AuditQuery, error) {
	var out teleconsult.AuditQuery
	for name, vals := range q {
		if !auditParams[name] {
			return out, badRequest("unknown query parameter %s: use teleconsultationId, from, to, after and limit", strconv.Quote(name))
		}
		if len(vals) != 1 {
			return out, badRequest("%s: give it once", name)
		}
	}
	if id, ok := q["teleconsultationId"]; ok {
		if !roomIDShape.MatchString(id[0]) {
			return out, badRequest("teleconsultationId: must be a teleconsultation id (32 hexadecimal digits)")
		}
		out.TeleconsultationID = id[0]
	}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &out.From}, {"to", &out.To}} {
		v, ok := q[p.name]
		if !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v[0])
		if err != nil || t.Year() < 2000 || t.Year() > 9999 {
			return out, badRequest("%s: must be an RFC 3339 time such as 2026-01-31T09:00:00Z", p.name)
		}
		*p.t = t.UTC()
	}
	if !out.From.IsZero() && !out.To.IsZero() && !out.From.Before(out.To) {
		return out, badRequest("from: must be before to")
	}
	if v, ok := q["after"]; ok {
		n, err := strconv.ParseInt(v[0], 10, 64)
		if err != nil || n < 0 || v[0] != strconv.FormatInt(n, 10) {
			return out, badRequest("after: must be an entry id (a whole number, 0 or more)")
		}
		out.After = n
	}
	out.Limit = teleconsult.DefaultAuditPage
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > teleconsult.MaxAuditPage || v[0] != strconv.Itoa(n) {
			return out, badRequest("limit: must be a whole number from 1 to %d", teleconsult.MaxAuditPage)
		}
		out.Limit = n
	}
	return out, nil
}

// auditActorJSON is who did an audited operation.
type auditActorJSON struct {
	Kind          string `json:"kind"`
	KeyID         string `json:"keyId,omitempty"`
	UserID        string `json:"userId,omitempty"`
	ParticipantID string `json:"participantId,omitempty"`
}

// auditEntryJSON is one entry of the audit trail.
type auditEntryJSON struct {
	ID                 int64          `json:"id"`
	Time               string         `json:"time"`
	Actor              auditActorJSON `json:"actor"`
	RequestID          string         `json:"requestId,omitempty"`
	ClientAddress      string         `json:"clientAddress,omitempty"`
	TeleconsultationID string         `json:"teleconsultationId,omitempty"`
	Action             string         `json:"action"`
	Object             string         `json:"object,omitempty"`
	Outcome            string         `json:"outcome"`
	Hash               string         `json:"hash"`
}

// auditResponse is a page of the audit trail; Next, when not null, is the
// after of the next page.
type auditResponse struct {
	Entries []auditEntryJSON `json:"entries"`
	Next    *int64           `json:"next"`
}

// handleAudit answers GET /audit: a page of the audit trail, oldest first.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) error {
	q, err := parseAuditQuery(r.URL.Query())
	if err != nil {
		return err
	}
	entries, next, err := s.svc.AuditTrail(r.Context(), q)
	if err != nil {
		return err
	}
	resp := auditResponse{Entries: make([]auditEntryJSON, 0, len(entries))}
	if next > 0 {
		resp.Next = &next
	}
	for _, e := range entries {
		resp.Entries = append(resp.Entries, auditEntryJSON{
			ID: e.ID, Time: e.Time.UTC().Format(time.RFC3339Nano),
			Actor:     auditActorJSON{Kind: string(e.Kind), KeyID: e.KeyID, UserID: e.UserID, ParticipantID: e.ParticipantID},
			RequestID: e.RequestID, ClientAddress: e.ClientAddr, TeleconsultationID: e.TeleconsultationID,
			Action: string(e.Action), Object: e.Object, Outcome: e.Outcome, Hash: hex.EncodeToString(e.Hash),
		})
	}
	s.writeJSON(w, r, http.StatusOK, resp)
	return nil
}
