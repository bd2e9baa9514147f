package httpapi

import (
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Decoders turn a strictly parsed body (see [parseStrict]) into the
// domain's inputs. They check shapes and types and name the field in every
// message; the rules (required values, ranges, groups, dates) are the
// domain's.

// maxSeconds clamps second counts before they become a time.Duration, so
// that a huge value cannot overflow; the domain then refuses it by its own
// rule.
const maxSeconds = 1 << 32

func seconds(n int64) time.Duration {
	return time.Duration(max(-maxSeconds, min(n, maxSeconds))) * time.Second
}

// Fields of the request bodies, in the order messages list them.
var (
	teleconsultationFields = []string{"participants", "start_date", "end_date", "duration_in_seconds", "appointmentId"}
	participantsFields     = []string{"number", "data"}
	participantFields      = []string{"userId", "userExternalId", "groups", "group", "fullName", "language", "email", "timeZone"}
)

// decodeCreate decodes the body of POST /teleconsultation.
func (s *Server) decodeCreate(v any) (teleconsult.CreateInput, error) {
	var in teleconsult.CreateInput
	m, err := object(v, "", teleconsultationFields...)
	if err != nil {
		return in, err
	}
	if _, ok := m["participants"]; !ok {
		return in, badRequest("participants: required")
	}
	number, data, err := s.decodeParticipants(m["participants"])
	if err != nil {
		return in, err
	}
	if number != nil {
		in.Number = *number
	}
	if data != nil {
		in.Participants = *data
	}
	if in.StartDate, _, err = dateField(m, "", "start_date"); err != nil {
		return in, err
	}
	if in.EndDate, in.Duration, err = decodeEnd(m); err != nil {
		return in, err
	}
	if in.AppointmentID, _, err = stringField(m, "", "appointmentId"); err != nil {
		return in, err
	}
	return in, nil
}

// decodeUpdate decodes the body of PATCH /teleconsultation/{id}: the same
// fields as create, all optional, at least one.
func (s *Server) decodeUpdate(v any) (teleconsult.UpdateInput, error) {
	var in teleconsult.UpdateInput
	m, err := object(v, "", teleconsultationFields...)
	if err != nil {
		return in, err
	}
	if len(m) == 0 {
		return in, badRequest("nothing to change")
	}
	if _, ok := m["appointmentId"]; ok {
		return in, badRequest("appointmentId: cannot be changed; create a teleconsultation with the new appointmentId instead")
	}
	if p, ok := m["participants"]; ok {
		if in.Number, in.Participants, err = s.decodeParticipants(p); err != nil {
			return in, err
		}
		if in.Number == nil && in.Participants == nil {
			return in, badRequest("participants: give number, data or both")
		}
	}
	if t, ok, err := dateField(m, "", "start_date"); err != nil {
		return in, err
	} else if ok {
		in.StartDate = &t
	}
	if in.EndDate, in.Duration, err = decodeEnd(m); err != nil {
		return in, err
	}
	return in, nil
}

// decodeEnd reads end_date and duration_in_seconds; the domain checks that
// exactly one is given.
func decodeEnd(m map[string]any) (*time.Time, *time.Duration, error) {
	var end *time.Time
	var dur *time.Duration
	if t, ok, err := dateField(m, "", "end_date"); err != nil {
		return nil, nil, err
	} else if ok {
		end = &t
	}
	if n, ok, err := intField(m, "", "duration_in_seconds"); err != nil {
		return nil, nil, err
	} else if ok {
		d := seconds(n)
		dur = &d
	}
	return end, dur, nil
}

// decodeParticipants reads participants: {number, data}. The other Mia
// form, a list of user ids, needs an auth service to look users up
// (AUTH_SERVICE); it is read as {"number": n, "data": [{"userId": id}, …]},
// so messages name participants.data[i].
func (s *Server) decodeParticipants(v any) (*int, *[]teleconsult.ParticipantInput, error) {
	if ids, ok := v.([]any); ok {
		list, err := stringsValue(ids, "participants")
		if err != nil {
			return nil, nil, err
		}
		if s.svc.Settings.AuthService == "" {
			return nil, nil, badRequest(`participants as a list of user ids needs AUTH_SERVICE; send {"number", "data"} instead`)
		}
		n := len(list)
		data := make([]teleconsult.ParticipantInput, n)
		for i, id := range list {
			data[i].UserID = id
		}
		return &n, &data, nil
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, nil, badRequest(`participants: must be an object {"number", "data"}`)
	}
	m, err := object(v, "participants", participantsFields...)
	if err != nil {
		return nil, nil, err
	}
	var number *int
	if n, ok, err := intField(m, "participants", "number"); err != nil {
		return nil, nil, err
	} else if ok {
		// Clamped like seconds: the domain's range check names the field.
		c := int(max(-1, min(n, 1<<20)))
		number = &c
	}
	var data *[]teleconsult.ParticipantInput
	if d, ok := m["data"]; ok {
		a, isArr := d.([]any)
		if !isArr {
			return nil, nil, badRequest("participants.data: must be an array of participants")
		}
		list := make([]teleconsult.ParticipantInput, 0, len(a))
		for i, e := range a {
			p, err := decodeParticipant(e, indexPath("participants.data", i))
			if err != nil {
				return nil, nil, err
			}
			list = append(list, p)
		}
		data = &list
	}
	return number, data, nil
}

// decodeParticipant reads one participant. Mia's aliases are accepted:
// userExternalId for userId, and group (a string or an array) for groups.
func decodeParticipant(v any, path string) (teleconsult.ParticipantInput, error) {
	var p teleconsult.ParticipantInput
	m, err := object(v, path, participantFields...)
	if err != nil {
		return p, err
	}
	id, hasID, err := stringField(m, path, "userId")
	if err != nil {
		return p, err
	}
	ext, hasExt, err := stringField(m, path, "userExternalId")
	switch {
	case err != nil:
		return p, err
	case hasID && hasExt:
		return p, badRequest("%s: give either userId or userExternalId, not both", joinPath(path, "userId"))
	case hasExt:
		id = ext
	}
	p.UserID = id
	g, hasGroups := m["groups"]
	g1, hasGroup := m["group"]
	switch {
	case hasGroups && hasGroup:
		return p, badRequest("%s: give either groups or group, not both", joinPath(path, "groups"))
	case hasGroups:
		if p.Groups, err = stringsValue(g, joinPath(path, "groups")); err != nil {
			return p, err
		}
	case hasGroup:
		if one, ok := g1.(string); ok {
			p.Groups = []string{one}
		} else if p.Groups, err = stringsValue(g1, joinPath(path, "group")); err != nil {
			return p, badRequest("%s: must be a string or an array of strings", joinPath(path, "group"))
		}
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"fullName", &p.FullName}, {"language", &p.Language}, {"email", &p.Email}, {"timeZone", &p.TimeZone}} {
		if *f.dst, _, err = stringField(m, path, f.key); err != nil {
			return p, err
		}
	}
	return p, nil
}

// decodeCredentials reads the body of POST /credentials, when there is
// one: {"expiresIn": seconds}. No expiresIn means the domain's default.
func decodeCredentials(v any) (time.Duration, error) {
	m, err := object(v, "", "expiresIn")
	if err != nil {
		return 0, err
	}
	n, _, err := intField(m, "", "expiresIn")
	return seconds(n), err
}

// decodeSession reads the body of POST /sessions: {"code": "...",
// "language"?: "it"}.
// sessionFields are the fields of POST /sessions: the link code and the
// options of the link it came in (see [teleconsult.LinkOptions]).
var sessionFields = []string{"code", "language", "useBackground"}

func decodeSession(v any) (code string, o teleconsult.LinkOptions, err error) {
	m, err := object(v, "", sessionFields...)
	if err != nil {
		return "", o, err
	}
	code, ok, err := stringField(m, "", "code")
	if err != nil {
		return "", o, err
	}
	if !ok {
		return "", o, badRequest("code: required")
	}
	if o.Language, _, err = stringField(m, "", "language"); err != nil {
		return "", o, err
	}
	o.Background, _, err = boolField(m, "", "useBackground")
	return code, o, err
}
