package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/teleconsult/teleconsult/internal/clientaddr"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// maxAPIKeyLen bounds the presented key before it is hashed.
const maxAPIKeyLen = 1024

// validAPIKey reports whether the request carries exactly one
// "Authorization: Bearer <key>" whose SHA-256 matches an accepted hash. Every
// hash is compared, in constant time.
func (s *Server) validAPIKey(r *http.Request) bool {
	_, ok := s.apiKey(r)
	return ok
}

// apiKey is [Server.validAPIKey] that also returns the key's id for the
// audit trail: the first 16 hex digits of the key's SHA-256 (what
// `printf %s "$KEY" | sha256sum | cut -c1-16` prints), never the key.
func (s *Server) apiKey(r *http.Request) (id string, ok bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	scheme, key, ok := strings.Cut(vals[0], " ")
	key = strings.Trim(key, " \t")
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" || len(key) > maxAPIKeyLen {
		return "", false
	}
	sum := sha256.Sum256([]byte(key))
	match := 0
	for _, h := range s.keyHashes {
		match |= subtle.ConstantTimeCompare(sum[:], h)
	}
	if match != 1 {
		return "", false
	}
	return hex.EncodeToString(sum[:8]), true
}

// gatewayRoutes are the operations a trusted gateway may call without an
// API key when TRUST_GATEWAY_IDENTITY is on: those that act for the user
// the request names (and check that user themselves). Creating, changing
// and cancelling visits, and the metrics, still need an API key.
var gatewayRoutes = map[string]bool{
	"GET " + Prefix + "/teleconsultation/{id}":                                   true,
	"POST " + Prefix + "/credentials":                                            true,
	"GET " + Prefix + "/teleconsultation/{id}/participants/{userId}/invitation":  true,
	"POST " + Prefix + "/teleconsultation/{id}/participants/{userId}/invitation": true,
}

// withClient stores the request's client address (see [clientaddr]) for
// every handler: the rate limits, the mounted WebSocket.
func (s *Server) withClient(r *http.Request) *http.Request {
	addr, via := s.trusted.Resolve(r)
	return clientaddr.WithAddr(r, addr, via)
}

type identityKey struct{}

// identity is who a protected request acts for and how it was let in.
type identity struct {
	user string
	// gateway is true when a trusted proxy's identity replaced the API
	// key.
	gateway bool
}

// authenticate checks a protected route's caller: a valid API key, or,
// with TRUST_GATEWAY_IDENTITY, a trusted proxy naming a user on one of the
// gatewayRoutes. It walks userIdPathInRequest once (reading the body when
// the path starts there; the handler reads it again) and stores the user
// for [Server.userID], and stores what a user directory passes on to the
// auth service.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, rt route) (*http.Request, error) {
	var body any
	if s.userPath[0].Extract == "body" {
		raw, err := s.readBody(w, r)
		if err != nil {
			return r, err
		}
		r.Body = io.NopCloser(bytes.NewReader(raw))
		if len(raw) > 0 {
			body, _ = parseStrict(raw) // a bad body is refused by the handler
		}
	}
	id := identity{user: walkUserPath(requestParts{r.Header, r.URL.Query(), body}, s.userPath)}
	keyID, key := s.apiKey(r)
	actor := teleconsult.ActorFrom(r.Context())
	actor.Kind, actor.KeyID, actor.UserID = teleconsult.ActorAPIKey, keyID, id.user
	if !key {
		if !s.gateway || !gatewayRoutes[rt.pattern()] || !clientaddr.ViaTrustedProxy(r) || id.user == "" {
			return r, errAPIKey
		}
		id.gateway = true
		actor.Kind = teleconsult.ActorGateway
	}
	ctx := context.WithValue(r.Context(), identityKey{}, id)
	ctx = teleconsult.WithActor(ctx, actor)
	ctx = teleconsult.WithForwardedHeaders(ctx, s.forwarded(r, key))
	return r.WithContext(ctx), nil
}

// forwardedHeaders are the request headers passed on to the auth service
// (AUTH_SERVICE), as Mia's ADDITIONAL_HEADERS_TO_PROXY does.
var forwardedHeaders = []string{"Cookie", "Authorization", "Client-Type"}

// forwarded returns the headers a user directory passes on: the cookie,
// the authorization (never when it is our API key: that stays here), the
// client-type, and the request id.
func (s *Server) forwarded(r *http.Request, apiKey bool) teleconsult.ForwardedHeaders {
	f := teleconsult.ForwardedHeaders{}
	for _, name := range forwardedHeaders {
		if name == "Authorization" && apiKey {
			continue
		}
		if vals := r.Header.Values(name); len(vals) > 0 {
			f[strings.ToLower(name)] = strings.Join(vals, ", ")
		}
	}
	if id := requestIDFrom(r.Context()); id != "" {
		f["x-request-id"] = id
	}
	return f
}

// userIDSources are the parts of a request that userIdPathInRequest may
// start from: Mia walks the fastify request object, whose headers, query
// and body these are.
var userIDSources = []string{"headers", "query", "body"}

// checkUserPath refuses a userIdPathInRequest that cannot be walked over a
// request: the first step must read the headers, the query or the body,
// and array steps need an index.
func checkUserPath(path []teleconsult.PathStep) error {
	if len(path) == 0 {
		return fmt.Errorf("httpapi: userIdPathInRequest: at least one step is required")
	}
	if first := path[0]; first.From != "object" || !contains(userIDSources, first.Extract) {
		return fmt.Errorf(`httpapi: userIdPathInRequest[0]: must be {"from": "object", "extract": "headers"} (or "query", or "body")`)
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

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// userID returns the user the caller acts for; "" means none. On protected
// routes it is the user found by [Server.authenticate]; elsewhere (the
// uploads, which also take session tokens) the path is walked over the
// headers and the query only.
func (s *Server) userID(r *http.Request) string {
	if id, ok := r.Context().Value(identityKey{}).(identity); ok {
		return id.user
	}
	return walkUserPath(requestParts{header: r.Header, query: r.URL.Query()}, s.userPath)
}

// withoutIdentityField returns body without the top-level field that
// userIdPathInRequest reads, when it starts in the body, so that the
// handler's own decoder does not refuse it as unknown.
func (s *Server) withoutIdentityField(body any) any {
	m, ok := body.(map[string]any)
	if !ok || s.userPath[0].Extract != "body" || len(s.userPath) < 2 || s.userPath[1].From != "object" {
		return body
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != s.userPath[1].Extract {
			out[k] = v
		}
	}
	return out
}

// requestParts are the parts of a request a userIdPathInRequest may start
// from.
type requestParts struct {
	header http.Header
	query  url.Values
	// body is the strictly parsed JSON body (see [parseStrict]); nil when
	// there is none or it is not read.
	body any
}

// walkUserPath walks userIdPathInRequest over the request. Step 0 chooses
// the headers, the query or the body. "object" takes a header
// (case-insensitive) or a query parameter (case-sensitive), each of exactly
// one value, or a JSON object's field; "json" parses the current string as
// JSON (duplicate keys refused) and takes Extract from the object, or the
// whole value when Extract is empty; "array" takes an index of a JSON
// array. The final value must be a non-empty string or a JSON number.
// Anything else gives "".
func walkUserPath(p requestParts, path []teleconsult.PathStep) string {
	var cur any
	switch path[0].Extract {
	case "headers":
		cur = p.header
	case "query":
		cur = p.query
	case "body":
		cur = p.body
	default:
		return ""
	}
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
			case url.Values:
				vals, ok := c[st.Extract]
				if !ok || len(vals) != 1 {
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
