package teleconsult

import (
	"errors"
	"fmt"
)

// Application error codes. Each maps to one HTTP status in the HTTP adapter.
const (
	EINVALID      = "invalid"      // bad input: 400
	EUNAUTHORIZED = "unauthorized" // caller not identified or not a participant: 401
	EFORBIDDEN    = "forbidden"    // identified but not allowed (yet): 403
	ENOTFOUND     = "not_found"    // no such object: 404
	ECONFLICT     = "conflict"     // refused by a rule about the object's state: 409
	EGONE         = "gone"         // cancelled, replaced, revoked or expired: 410
	ETOOLARGE     = "too_large"    // body or file over the limit: 413
	EUNSUPPORTED  = "unsupported"  // a type of file (or content) not accepted: 415
	ERATELIMIT    = "rate_limited" // too many attempts: 429
	EUNAVAILABLE  = "unavailable"  // a dependency (database, video provider) is down: 503
	EBADGATEWAY   = "bad_gateway"  // the video provider answered wrongly (error, malformed, huge): 502
	EDAMAGED      = "damaged"      // stored data failed authentication (cut, edited): 500, with its message
	EINTERNAL     = "internal"     // anything else: 500, details only in the log
)

// Error is an application error. Its Message is safe to show to the caller:
// it never holds patient data (names, emails), only ids and rule names.
type Error struct {
	Code    string
	Message string
	// Data holds more caller-safe fields for the response (for example
	// opensAt when a link is used too early).
	Data map[string]string
	// Reason says why a link or a call is refused (see [Reason]); empty
	// for other errors.
	Reason Reason
	// Err is an underlying cause, logged but never shown to the caller.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("teleconsult %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("teleconsult %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an application error with the given code and message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the application error in err's chain, or
// EINTERNAL for any other error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the caller-safe message of err: the application
// error's message, or "internal error" for anything else.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e) && e.Code != EINTERNAL:
		return e.Message
	default:
		return "internal error"
	}
}
