package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// maxAPIKeyLen bounds the presented key before it is hashed.
const maxAPIKeyLen = 1024

// validAPIKey reports whether the request carries exactly one
// "Authorization: Bearer <key>" whose SHA-256 matches an accepted hash. Every
// hash is compared, in constant time.
func (s *Server) validAPIKey(r *http.Request) bool {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return false
	}
	scheme, key, ok := strings.Cut(vals[0], " ")
	key = strings.Trim(key, " \t")
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" || len(key) > maxAPIKeyLen {
		return false
	}
	sum := sha256.Sum256([]byte(key))
	match := 0
	for _, h := range s.keyHashes {
		match |= subtle.ConstantTimeCompare(sum[:], h)
	}
	return match == 1
}

// checkUserPath refuses a userIdPathInRequest that cannot be walked over a
// request: the first step must read the headers, and array steps need an
// index.
func checkUserPath(path []teleconsult.PathStep) error {
	if len(path) == 0 {
		return fmt.Errorf("httpapi: userIdPathInRequest: at least one step is required")
	}
	if path[0] != (teleconsult.PathStep{From: "object", Extract: "headers"}) {
		return fmt.Errorf(`httpapi: userIdPathInRequest[0]: must be {"from": "object", "extract": "headers"}`)
	}
	for i, st := range path[1:] {
		switch st.From {
		case "object", "json":
		case "array":
			if n, err := strconv.Atoi(st.Extract); err != nil || n < 0 {
				return fmt.Errorf("httpapi: userIdPathInRequest[%d].extract: an array step needs an index, not %q", i+1, st.Extract)
			}
		default:
			return fmt.Errorf("httpapi: userIdPathInRequest[%d].from: %q must be object, json or array", i+1, st.From)
		}
	}
	return nil
}

// userID returns the user a trusted caller acts for; "" means none. Call it
// only after the API key was checked.
func (s *Server) userID(r *http.Request) string { return walkUserPath(r.Header, s.userPath) }

// walkUserPath walks userIdPathInRequest over the request's headers. Step 0
// is the header map; "object" takes a header (case-insensitive; exactly one
// value) or a JSON object's field; "json" parses the current string as JSON
// (duplicate keys refused) and takes Extract from the object, or the whole
// value when Extract is empty; "array" takes an index of a JSON array. The
// final value must be a non-empty string or a JSON number. Anything else
// gives "".
func walkUserPath(h http.Header, path []teleconsult.PathStep) string {
	var cur any = h
	for _, st := range path[1:] {
		switch st.From {
		case "object":
			switch c := cur.(type) {
			case http.Header:
				vals := c.Values(st.Extract)
				if len(vals) != 1 {
					return ""
				}
				cur = vals[0]
			case map[string]any:
				v, ok := c[st.Extract]
				if !ok {
					return ""
				}
				cur = v
			default:
				return ""
			}
		case "json":
			str, ok := cur.(string)
			if !ok {
				return ""
			}
			v, err := parseStrict([]byte(str))
			if err != nil {
				return ""
			}
			if st.Extract != "" {
				m, ok := v.(map[string]any)
				if !ok {
					return ""
				}
				if v, ok = m[st.Extract]; !ok {
					return ""
				}
			}
			cur = v
		case "array":
			a, ok := cur.([]any)
			n, err := strconv.Atoi(st.Extract)
			if !ok || err != nil || n < 0 || n >= len(a) {
				return ""
			}
			cur = a[n]
		default:
			return ""
		}
	}
	switch v := cur.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}
