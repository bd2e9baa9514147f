package fhir

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Paths of the routes, as [http.ServeMux] patterns. The caller mounts them
// behind the API's authentication (trusted callers only).
const (
	AppointmentPath = "/fhir/Appointment/{id}"
	EncounterPath   = "/fhir/Encounter/{id}"
)

// idRE is the FHIR id datatype (R4 datatypes.html#id).
var idRE = regexp.MustCompile(`^[A-Za-z0-9.\-]{1,64}$`)

// ParseID checks a logical id taken from a request path: a FHIR id (1 to
// 64 letters, digits, '-' and '.'). Teleconsultation ids are 32 hex
// digits; any other valid id is simply not found.
func ParseID(s string) (string, bool) {
	if !idRE.MatchString(s) {
		return "", false
	}
	return s, true
}

// Handler serves the FHIR read interactions of Appointment and Encounter
// (R4 http.html#read) for teleconsultations. Set Service; the zero
// Options are the defaults.
type Handler struct {
	Service *teleconsult.Service
	Options Options
	// Logger receives failures of the store; nil discards.
	Logger *slog.Logger
}

// Appointment returns the handler of GET [AppointmentPath].
func (h *Handler) Appointment() http.Handler {
	return h.read("Appointment", func(tc *teleconsult.Teleconsultation, v View) any { return h.Options.Appointment(tc, v) })
}

// Encounter returns the handler of GET [EncounterPath].
func (h *Handler) Encounter() http.Handler {
	return h.read("Encounter", func(tc *teleconsult.Teleconsultation, v View) any { return h.Options.Encounter(tc, v) })
}

func (h *Handler) read(typ string, describe func(*teleconsult.Teleconsultation, View) any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := ParseID(r.PathValue("id"))
		if !ok {
			writeOutcome(w, http.StatusNotFound, "not-found", "no "+typ+" has this id: a FHIR id is 1 to 64 letters, digits, '-' or '.'")
			return
		}
		tc, err := h.Service.Find(r.Context(), id)
		switch code := teleconsult.ErrorCode(err); {
		case err == nil:
		case code == teleconsult.ENOTFOUND:
			writeOutcome(w, http.StatusNotFound, "not-found", typ+"/"+id+" is not known")
			return
		case code == teleconsult.EUNAVAILABLE:
			writeOutcome(w, http.StatusServiceUnavailable, "transient", "the database is unavailable; try again")
			return
		default:
			h.log().Error("fhir: reading a teleconsultation", "type", typ, "id", id, "err", err)
			writeOutcome(w, http.StatusInternalServerError, "exception", "internal error; the service's log has the cause")
			return
		}
		res := describe(tc, View{Now: h.Service.Clock(), Settings: &h.Service.Settings})
		writeResource(w, http.StatusOK, res)
	})
}

func (h *Handler) log() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// OperationOutcome is the R4 OperationOutcome resource: the body of every
// error answer of the FHIR routes.
type OperationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []Issue `json:"issue"`
}

// Issue is OperationOutcome.issue.
type Issue struct {
	// Severity is fatal, error, warning or information.
	Severity string `json:"severity"`
	// Code is from the R4 value set issue-type (not-found, exception, …).
	Code        string `json:"code"`
	Diagnostics string `json:"diagnostics,omitempty"`
}

// writeOutcome answers status with an OperationOutcome of one error issue.
func writeOutcome(w http.ResponseWriter, status int, code, diagnostics string) {
	writeResource(w, status, OperationOutcome{ResourceType: "OperationOutcome",
		Issue: []Issue{{Severity: "error", Code: code, Diagnostics: diagnostics}}})
}

func writeResource(w http.ResponseWriter, status int, res any) {
	b, err := json.Marshal(res)
	if err != nil {
		// Only strings, numbers and booleans: cannot happen.
		panic("fhir: encoding a resource: " + err.Error())
	}
	w.Header().Set("Content-Type", ContentType+"; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
