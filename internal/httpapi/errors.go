package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// statusOf maps each domain error code to its HTTP status: the one table.
var statusOf = map[string]int{
	teleconsult.EINVALID:      http.StatusBadRequest,
	teleconsult.EUNAUTHORIZED: http.StatusUnauthorized,
	teleconsult.EFORBIDDEN:    http.StatusForbidden,
	teleconsult.ENOTFOUND:     http.StatusNotFound,
	teleconsult.ECONFLICT:     http.StatusConflict,
	teleconsult.EGONE:         http.StatusGone,
	teleconsult.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	teleconsult.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	teleconsult.ERATELIMIT:    http.StatusTooManyRequests,
	teleconsult.EUNAVAILABLE:  http.StatusServiceUnavailable,
	teleconsult.EBADGATEWAY:   http.StatusBadGateway,
	teleconsult.EDAMAGED:      http.StatusInternalServerError,
	teleconsult.EINTERNAL:     http.StatusInternalServerError,
}

// httpError is an error decided by this adapter (bad JSON, wrong media
// type, unknown route, rate limit). Its message is safe to show.
type httpError struct {
	status int
	msg    string
	header map[string]string
}

func (e *httpError) Error() string { return fmt.Sprintf("http %d: %s", e.status, e.msg) }

func badRequest(format string, args ...any) *httpError {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// errAPIKey answers a protected route called without a valid API key.
var errAPIKey = &httpError{
	status: http.StatusUnauthorized,
	msg:    "missing or invalid API key",
	header: map[string]string{"WWW-Authenticate": `Bearer realm="teleconsult"`},
}

// errorBody is the shape of every error response: Mia's {"error": "..."}.
type errorBody struct {
	Error string `json:"error"`
}

func internalMessage(requestID string) string {
	return "internal error (request id " + requestID + ")"
}

// miaNoPlusUser turns the domain's "no plus user in room" into Mia's
// verbatim text for the route ("Failed POST /teleconsultation: ...").
func miaNoPlusUser(err error, route string) error {
	if errors.Is(err, teleconsult.ErrNoPlusUser) {
		return badRequest("Failed %s: no plus user in room", route)
	}
	return err
}

// writeError writes err as a JSON error response. Internal errors are
// logged with the request id and shown only as "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if errors.As(err, &he) {
		for k, v := range he.header {
			w.Header().Set(k, v)
		}
		s.writeJSON(w, r, he.status, errorBody{Error: he.msg})
		return
	}
	id := requestIDFrom(r.Context())
	code := teleconsult.ErrorCode(err)
	status, ok := statusOf[code]
	switch {
	case !ok || code == teleconsult.EINTERNAL:
		s.log.Error("request failed", "request_id", id, "route", routeLabel(r.Pattern), "err", err)
		s.writeJSON(w, r, http.StatusInternalServerError, errorBody{Error: internalMessage(id)})
		return
	case status == http.StatusInternalServerError:
		s.log.Error("request failed", "request_id", id, "route", routeLabel(r.Pattern), "err", err)
	case status >= 500:
		s.log.Warn("request failed", "request_id", id, "route", routeLabel(r.Pattern), "err", err)
	}
	body := map[string]string{}
	var de *teleconsult.Error
	if errors.As(err, &de) {
		for k, v := range de.Data {
			body[k] = v
		}
	}
	if reason := teleconsult.ReasonOf(err); reason != "" {
		body["reason"] = string(reason) // why a link or a call is refused: teleconsult.Refusals
	}
	body["error"] = teleconsult.ErrorMessage(err)
	s.writeJSON(w, r, status, body)
}

// writeJSON writes v as a JSON response with status.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode response", "request_id", requestIDFrom(r.Context()), "err", err)
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: internalMessage(requestIDFrom(r.Context()))})
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
