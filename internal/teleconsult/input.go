package teleconsult

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on input.
const (
	MaxParticipants = 50
	maxUserIDLen    = 256
	maxNameLen      = 200
	maxGroups       = 20
	maxAppointment  = 256
)

// ParticipantInput is one participant as given by the caller.
type ParticipantInput struct {
	UserID   string
	Groups   []string
	FullName string
	Language string
	Email    string
	TimeZone string
}

// CreateInput is the body of POST /teleconsultation.
type CreateInput struct {
	AppointmentID string
	StartDate     time.Time
	// Exactly one of EndDate and Duration is set.
	EndDate  *time.Time
	Duration *time.Duration
	// Number is participants.number; Participants is participants.data.
	Number       int
	Participants []ParticipantInput
}

// UpdateInput is the body of PATCH /teleconsultation/{id}: every field
// optional. Participants, when set, replaces the whole list.
type UpdateInput struct {
	StartDate    *time.Time
	EndDate      *time.Time
	Duration     *time.Duration
	Number       *int
	Participants *[]ParticipantInput
}

var (
	languageRE = regexp.MustCompile(`^[a-z]{2}$`)
	// earliest and latest dates accepted, to catch typos and overflow.
	minDate = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDate = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func invalid(format string, args ...any) *Error { return Errorf(EINVALID, format, args...) }

// validText checks a free-text field: valid UTF-8, no control characters
// (so no header or log injection), at most max runes.
func validText(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 {
			return false
		}
	}
	return true
}

// checkDate validates one date; name is the field name for the message.
func checkDate(name string, t time.Time) error {
	if t.IsZero() {
		return invalid("%s: required", name)
	}
	if t.Before(minDate) || !t.Before(maxDate) {
		return invalid("%s: must be between %d and %d", name, minDate.Year(), maxDate.Year()-1)
	}
	return nil
}

// resolveEnd computes the end from a start and one of end/duration, and
// checks the duration rules (at least [MinDuration], at most [MaxDuration]).
func resolveEnd(start time.Time, end *time.Time, dur *time.Duration) (time.Time, error) {
	switch {
	case end != nil && dur != nil:
		return time.Time{}, invalid("give either end_date or duration_in_seconds, not both")
	case end == nil && dur == nil:
		return time.Time{}, invalid("end_date or duration_in_seconds: one is required")
	case end != nil:
		if err := checkDate("end_date", *end); err != nil {
			return time.Time{}, err
		}
		if !end.After(start) {
			return time.Time{}, invalid("end_date: must be after start_date")
		}
	default:
		if *dur < 0 {
			return time.Time{}, invalid("duration_in_seconds: must be positive")
		}
		e := start.Add(*dur)
		end = &e
	}
	d := end.Sub(start)
	if d < MinDuration {
		return time.Time{}, invalid("the teleconsultation must last at least %d minutes", int(MinDuration/time.Minute))
	}
	if d > MaxDuration {
		return time.Time{}, invalid("the teleconsultation must last at most %d hours", int(MaxDuration/time.Hour))
	}
	return end.UTC(), nil
}

// validateParticipant checks one participant; path names it in messages
// ("participants.data[1]", or "" for a participant given alone), never its
// name or email.
func validateParticipant(path string, p *ParticipantInput) error {
	if path != "" {
		path += "."
	}
	p.UserID = strings.TrimSpace(p.UserID)
	switch {
	case p.UserID == "":
		return invalid("%suserId: required", path)
	case !validText(p.UserID, maxUserIDLen):
		return invalid("%suserId: at most %d printable characters", path, maxUserIDLen)
	case len(p.Groups) == 0:
		return invalid("%sgroups: at least one group is required", path)
	case len(p.Groups) > maxGroups:
		return invalid("%sgroups: at most %d groups", path, maxGroups)
	case strings.TrimSpace(p.FullName) == "":
		return invalid("%sfullName: required", path)
	case !validText(p.FullName, maxNameLen):
		return invalid("%sfullName: at most %d printable characters", path, maxNameLen)
	case p.Language != "" && !languageRE.MatchString(p.Language):
		return invalid("%slanguage: must be a two-letter code such as en or it", path)
	}
	p.FullName = strings.TrimSpace(p.FullName)
	for i, g := range p.Groups {
		if !validText(g, maxUserIDLen) || strings.TrimSpace(g) == "" {
			return invalid("%sgroups[%d]: must be a non-empty group name", path, i)
		}
	}
	if p.Email != "" {
		a, err := mail.ParseAddress(p.Email)
		if err != nil || a.Address != p.Email || a.Name != "" || !validText(p.Email, 254) {
			return invalid("%semail: not a valid email address", path)
		}
	}
	if p.TimeZone != "" {
		if _, err := time.LoadLocation(p.TimeZone); err != nil || p.TimeZone == "Local" {
			return invalid("%stimeZone: not an IANA time zone name", path)
		}
	}
	return nil
}

// validateParticipants checks a participants object: number and data. It
// returns a normalised copy of data (the caller's slice is not changed).
func validateParticipants(number int, data []ParticipantInput) ([]ParticipantInput, error) {
	switch {
	case number < 1:
		return nil, invalid("participants.number: must be at least 1")
	case number > MaxParticipants:
		return nil, invalid("participants.number: at most %d participants", MaxParticipants)
	case len(data) > number:
		return nil, invalid("participants.data: %d participants given but participants.number is %d", len(data), number)
	}
	data = slices.Clone(data)
	seen := make(map[string]int, len(data))
	for i := range data {
		path := fmt.Sprintf("participants.data[%d]", i)
		if err := validateParticipant(path, &data[i]); err != nil {
			return nil, err
		}
		if j, dup := seen[data[i].UserID]; dup {
			return nil, invalid("%s.userId: same userId as participants.data[%d]", path, j)
		}
		seen[data[i].UserID] = i
	}
	return data, nil
}
