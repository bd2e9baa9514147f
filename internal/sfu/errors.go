package sfu

import "errors"

// Errors of the provider's configuration and life cycle.
var (
	// ErrClosed is returned by operations on a closed provider.
	ErrClosed = errors.New("sfu: provider closed")
	// ErrConfig wraps every configuration error; the message names the
	// field.
	ErrConfig = errors.New("sfu: bad configuration")
)

// Errors of signalling message decoding. Each is shown to the sender in an
// error message, so none carries anything but the protocol's own words.
var (
	// ErrMessageTooLarge: a frame over [MaxMessageBytes].
	ErrMessageTooLarge = errors.New("message too large: at most 65536 bytes")
	// ErrMalformed: not one JSON object of valid UTF-8.
	ErrMalformed = errors.New("malformed message: expected one JSON object")
	// ErrUnknownType: a type the protocol does not have.
	ErrUnknownType = errors.New("unknown message type")
	// ErrUnknownField: a field the message type does not have (this
	// includes any field naming a room: the room is the connection's).
	ErrUnknownField = errors.New("unknown field")
	// ErrDuplicateField: a field given twice.
	ErrDuplicateField = errors.New("duplicate field")
	// ErrMissingField: a required field is absent or empty.
	ErrMissingField = errors.New("missing field")
	// ErrBadField: a field of the wrong type or out of range.
	ErrBadField = errors.New("invalid field")
)
