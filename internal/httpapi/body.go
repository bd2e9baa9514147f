package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/teleconsult/teleconsult/internal/strictjson"
)

// readJSON reads the request body and parses it strictly (see
// [parseStrict]). It returns nil, nil for an empty body unless required.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, required bool) (any, error) {
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		if required {
			return nil, badRequest("request body required: a JSON object")
		}
		return nil, nil
	}
	return parseStrict(body)
}

// readBody reads at most s.maxBody bytes of body. A body must be
// application/json (a charset parameter, if any, must be utf-8).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooLarge := &httpError{status: http.StatusRequestEntityTooLarge,
		msg: fmt.Sprintf("request body too large (limit %d bytes)", s.maxBody)}
	if r.ContentLength > s.maxBody {
		return nil, tooLarge
	}
	if r.ContentLength > 0 {
		if err := checkJSONType(r); err != nil {
			return nil, err
		}
	}
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge
		}
		return nil, badRequest("could not read the request body")
	}
	if len(body) > 0 && r.ContentLength <= 0 {
		if err := checkJSONType(r); err != nil {
			return nil, err
		}
	}
	return body, nil
}

func checkJSONType(r *http.Request) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &httpError{status: http.StatusUnsupportedMediaType, msg: "Content-Type must be application/json"}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return &httpError{status: http.StatusUnsupportedMediaType, msg: "Content-Type charset must be utf-8"}
	}
	return nil
}

// maxJSONDepth bounds nesting: no request needs more than a few levels.
const maxJSONDepth = 32

// parseStrict parses data as exactly one JSON value with [strictjson]:
// objects become map[string]any, arrays []any, numbers json.Number. It
// refuses syntax errors, trailing data, nesting deeper than maxJSONDepth,
// and duplicate keys at any depth (two parsers could otherwise read
// different values from the same body). Object keys are later matched
// exactly, unlike encoding/json's case-insensitive struct matching.
func parseStrict(data []byte) (any, error) {
	v, err := strictjson.Parse(data, strictjson.Options{MaxDepth: maxJSONDepth})
	e, ok := errors.AsType[*strictjson.Error](err)
	if !ok {
		return v, err
	}
	switch e.Kind {
	case strictjson.Trailing:
		return nil, badRequest("malformed JSON: trailing data after the JSON value")
	case strictjson.TooDeep:
		return nil, badRequest("malformed JSON: nested more than %d levels deep", maxJSONDepth)
	case strictjson.DuplicateKey:
		p := ""
		for _, s := range e.Path {
			if s.Index >= 0 {
				p = indexPath(p, s.Index)
			} else {
				p = joinPath(p, s.Key)
			}
		}
		if p = joinPath(p, e.Key); strings.Contains(p, unnamed) {
			return nil, badRequest("malformed JSON: duplicate key before byte %d", e.Offset)
		}
		return nil, badRequest("%s: duplicate key", p)
	}
	return nil, syntaxError(e.Err)
}

func syntaxError(err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		// encoding/json quotes the offending character: keep it ASCII.
		detail := strings.Map(func(r rune) rune {
			if r < 0x20 || r > 0x7e {
				return '?'
			}
			return r
		}, strings.TrimPrefix(se.Error(), "json: "))
		return badRequest("malformed JSON at byte %d: %s", se.Offset, detail)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return badRequest("malformed JSON: unexpected end of input")
	}
	return badRequest("malformed JSON")
}

// schemaNames are the field names of every request body: the only keys
// a message may name (see [joinPath]).
var schemaNames = map[string]bool{}

func init() {
	for _, list := range [][]string{teleconsultationFields, participantsFields, participantFields, sessionFields, {"expiresIn"}, {"background_alias"}} {
		for _, k := range list {
			schemaNames[k] = true
		}
	}
}

// unnamed stands for a key that is not a field name in a message path.
const unnamed = "[?]"

// joinPath names field key of the value at path, for messages:
// participants.data[0].userId. A key that is no field name of the API is
// not repeated (it may be anything the caller typed, a patient's name
// too): it is shown as [?].
func joinPath(path, key string) string {
	if !schemaNames[key] {
		return path + unnamed
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggestField returns the field of known that key was probably meant to
// be (the same but for case, _ and -), or "".
func suggestField(key string, known []string) string {
	norm := func(s string) string { return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s)) }
	for _, k := range known {
		if norm(k) == norm(key) {
			return k
		}
	}
	return ""
}

func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// object returns v as a JSON object whose keys are all in known.
func object(v any, path string, known ...string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		if path == "" {
			return nil, badRequest("request body must be a JSON object")
		}
		return nil, badRequest("%s: must be an object", path)
	}
	var unknown []string
	for k := range m {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		// Named only when it is a field of the API (misplaced); the
		// message says what is allowed instead of repeating the key.
		slices.Sort(unknown)
		msg := "unknown field"
		if where := joinPath(path, unknown[0]); !strings.HasSuffix(where, unnamed) {
			msg = where + ": field not allowed here"
		} else if path != "" {
			msg = path + ": unknown field"
		}
		switch s := suggestField(unknown[0], known); {
		case s != "":
			msg += "; did you mean " + s + "?"
		case len(known) == 0:
			msg += "; no fields are allowed here"
		default:
			msg += "; expected " + strings.Join(known, ", ")
		}
		return nil, badRequest("%s", msg)
	}
	return m, nil
}

// Field readers: each returns whether the field is present and an error
// naming the field when it has the wrong type. null is a wrong type.

func stringField(m map[string]any, path, key string) (string, bool, error) {
	v, ok := m[key]
	if !ok {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", true, badRequest("%s: must be a string", joinPath(path, key))
	}
	return s, true, nil
}

func boolField(m map[string]any, path, key string) (bool, bool, error) {
	v, ok := m[key]
	if !ok {
		return false, false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, true, badRequest("%s: must be true or false", joinPath(path, key))
	}
	return b, true, nil
}

// intField reads an integer. Integral values written with a fraction or an
// exponent (3600.0, 3.6e3) are integers too, as in JSON Schema.
func intField(m map[string]any, path, key string) (int64, bool, error) {
	v, ok := m[key]
	if !ok {
		return 0, false, nil
	}
	name := joinPath(path, key)
	n, isNum := v.(json.Number)
	if !isNum {
		return 0, true, badRequest("%s: must be an integer", name)
	}
	if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
		return i, true, nil
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil || f != math.Trunc(f) || math.IsInf(f, 0) {
		return 0, true, badRequest("%s: must be an integer", name)
	}
	if math.Abs(f) > 1<<53 {
		return 0, true, badRequest("%s: out of range", name)
	}
	return int64(f), true, nil
}

func stringsValue(v any, name string) ([]string, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, badRequest("%s: must be an array of strings", name)
	}
	out := make([]string, len(a))
	for i, e := range a {
		if out[i], ok = e.(string); !ok {
			return nil, badRequest("%s: must be a string", indexPath(name, i))
		}
	}
	return out, nil
}

// maxDateLen bounds a date string: the longest RFC 3339 date-time with
// nanoseconds and an offset is 35 characters.
const maxDateLen = 40

// dateField reads an RFC 3339 date-time with Z or an offset and an optional
// fraction, such as 2026-11-23T10:00:00.000Z.
func dateField(m map[string]any, path, key string) (time.Time, bool, error) {
	s, ok, err := stringField(m, path, key)
	if !ok || err != nil {
		if err != nil {
			err = badRequest("%s: must be a date-time string such as 2026-11-23T10:00:00.000Z", joinPath(path, key))
		}
		return time.Time{}, ok, err
	}
	if len(s) <= maxDateLen {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, true, nil
		}
	}
	return time.Time{}, true, badRequest("%s: must be an RFC 3339 date-time with Z or an offset, such as 2026-11-23T10:00:00.000Z", joinPath(path, key))
}
