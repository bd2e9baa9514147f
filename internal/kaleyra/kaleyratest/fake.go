// Package kaleyratest is an HTTP fake of the parts of the Kaleyra Video v2
// REST API that Teleconsult uses, built from
// ../../../../shared/reference/kaleyra-api.md (and, where the reference
// leaves a name open, the name the adapter documents), for tests on
// loopback. It checks the apikey header, methods, paths and JSON bodies
// (users with a plus|basic role, rooms of 2 to 25 known users with at least
// one plus user, per-participant tools with the eight known keys, a
// duration of at least 60 s) and answers with JSON bodies, errors included.
// Faults can be injected per route: any status (with Retry-After), a hang,
// a malformed or huge body, or a lost answer.
package kaleyratest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/teleconsult/teleconsult/internal/testkit"
)

// Participant is one participant of a room, as sent.
type Participant struct {
	UserID  string
	IsAdmin bool
	Tools   map[string]bool
	Link    string
}

// Room is a room held by the fake.
type Room struct {
	ID           string
	Participants []Participant
	// Duration is the duration sent, 0 when none.
	Duration int64
	// Live is the live flag sent (true when none: Kaleyra's default is
	// not documented, Mia's LIVE_TELECONSULTATION defaults to true).
	Live         bool
	Body         map[string]any
	CreatedAt    time.Time
	DurationUsed int64
}

// Fault is what the fake does instead of (or after) answering; see
// [testkit.Fault].
type Fault = testkit.Fault

// Request is a request the fake received.
type Request = testkit.Request

// Server is the fake Kaleyra API.
type Server struct {
	*testkit.Fake
	// APIKey is the company key the fake accepts.
	APIKey string

	mu      sync.Mutex
	users   map[string]string // id → role
	rooms   map[string]*Room
	deleted []string
	uploads map[string][]string // room → keys
	creds   []string            // user ids
	// linkBase, set by ServeLinks, is where participant links point.
	linkBase string
	visits   []Visit
	// backgrounds are the company's uploaded background images (alias →
	// image); defaultBackground the alias of the default.
	backgrounds       map[string]Background
	defaultBackground string
}

// Background is a company background image held by the fake.
type Background struct {
	Alias       string
	ContentType string
	Data        []byte
	CreatedAt   time.Time
}

// New starts a fake Kaleyra API on 127.0.0.1 that accepts apiKey; it stops
// when the test ends.
func New(tb interface{ Cleanup(func()) }, apiKey string) *Server {
	s := &Server{APIKey: apiKey, users: map[string]string{}, rooms: map[string]*Room{}, uploads: map[string][]string{},
		backgrounds: map[string]Background{}}
	s.Fake = testkit.StartFake(tb, testkit.Vendor{Authorize: s.authorize, Route: s.route,
		Error:     func(w http.ResponseWriter, status int) { apiError(w, status, "injected", "injected failure") },
		Malformed: `{"room_id": "r", "participants": [`, HugeKey: "room_id", HugePad: 'a'})
	return s
}

// Users returns the users: id → role.
func (s *Server) Users() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.users {
		out[k] = v
	}
	return out
}

// Rooms returns copies of the rooms that exist.
func (s *Server) Rooms() map[string]Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Room{}
	for k, r := range s.rooms {
		out[k] = *r
	}
	return out
}

// Deleted returns the ids of the rooms deleted, in order.
func (s *Server) Deleted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deleted)
}

// AddUploads adds files uploaded in room.
func (s *Server) AddUploads(room string, keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uploads[room] = append(s.uploads[room], keys...)
}

// Uploads returns the keys of the files left in room.
func (s *Server) Uploads(room string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.uploads[room])
}

// SetDurationUsed sets the calling time a room reports.
func (s *Server) SetDurationUsed(room string, seconds int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.rooms[room]; ok {
		r.DurationUsed = seconds
	}
}

func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": typ, "message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// authorize answers a request without the company's apikey (or with a
// bearer token, which Kaleyra's REST API does not take).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("apikey") != s.APIKey || r.Header.Get("Authorization") != "" {
		apiError(w, http.StatusUnauthorized, "unauthorized", "missing or invalid apikey")
		return true
	}
	return false
}

var (
	userPath   = regexp.MustCompile(`^/v2/users/([^/]+)$`)
	roomPath   = regexp.MustCompile(`^/v2/rooms/([^/]+)$`)
	uploadPath = regexp.MustCompile(`^/v2/uploads/([^/]+)$`)
)

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/v2/users":
		s.createUser(w, r)
	case r.Method == http.MethodGet && userPath.MatchString(p):
		s.getUser(w, userPath.FindStringSubmatch(p)[1])
	case r.Method == http.MethodPost && p == "/v2/rooms":
		s.createRoom(w, r)
	case r.Method == http.MethodGet && roomPath.MatchString(p):
		s.getRoom(w, roomPath.FindStringSubmatch(p)[1])
	case r.Method == http.MethodDelete && roomPath.MatchString(p):
		s.deleteRoom(w, roomPath.FindStringSubmatch(p)[1])
	case r.Method == http.MethodGet && p == "/v2/uploads":
		s.listUploads(w, r)
	case r.Method == http.MethodDelete && uploadPath.MatchString(p):
		s.deleteUpload(w, uploadPath.FindStringSubmatch(p)[1])
	case r.Method == http.MethodPost && p == "/rest/sdk/credentials":
		s.credentials(w, r)
	case r.Method == http.MethodPost && p == "/rest/company/virtual_background":
		s.uploadBackground(w, r)
	case r.Method == http.MethodPost && p == "/rest/company/update":
		s.updateCompany(w, r)
	default:
		apiError(w, http.StatusNotFound, "not_found", "no such endpoint")
	}
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.TrimRight(base64.RawURLEncoding.EncodeToString(b), "=")
}

var userIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	m, err := testkit.ReadObject(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	role, _ := m["role"].(string)
	if role != "plus" && role != "basic" {
		apiError(w, http.StatusBadRequest, "bad_request", "role must be plus or basic")
		return
	}
	id := "user_" + random(9)
	for k, v := range m {
		switch k {
		case "role":
		case "language":
			if _, ok := v.(string); !ok {
				apiError(w, http.StatusBadRequest, "bad_request", "language must be a string")
				return
			}
		case "id":
			given, ok := v.(string)
			if !ok || !userIDRE.MatchString(given) {
				apiError(w, http.StatusBadRequest, "bad_request", "invalid id")
				return
			}
			id = given
		default:
			apiError(w, http.StatusBadRequest, "bad_request", "unknown field "+k)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.users[id]; dup {
		apiError(w, http.StatusBadRequest, "bad_request", "a user with this id already exists")
		return
	}
	s.users[id] = role
	writeJSON(w, http.StatusCreated, map[string]string{"user_id": id, "role": role})
}

func (s *Server) getUser(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, ok := s.users[id]
	if !ok {
		apiError(w, http.StatusNotFound, "not_found", "user not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user_id": id, "role": role})
}

var toolKeys = []string{"chat", "screen_sharing", "file_upload", "whiteboard", "snapshot", "live_edit", "live_pointer", "present_to_everyone"}

var roomFields = []string{"participants", "recording", "duration", "call_type", "ringing", "description", "offline_transcription", "live"}

func (s *Server) createRoom(w http.ResponseWriter, r *http.Request) {
	m, err := testkit.ReadObject(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	for k := range m {
		if !slices.Contains(roomFields, k) {
			apiError(w, http.StatusBadRequest, "bad_request", "unknown field "+k)
			return
		}
	}
	rm := &Room{ID: "room_" + random(9), Body: m, CreatedAt: time.Now().UTC(), Live: true}
	if l, ok := m["live"]; ok {
		b, isBool := l.(bool)
		if !isBool {
			apiError(w, http.StatusBadRequest, "bad_request", "live must be a boolean")
			return
		}
		rm.Live = b
	}
	if d, ok := m["duration"]; ok {
		n, isNum := d.(json.Number)
		v, err := strconv.ParseInt(string(n), 10, 64)
		if !isNum || err != nil || v < 60 {
			apiError(w, http.StatusBadRequest, "bad_request", "duration must be an integer of at least 60 seconds")
			return
		}
		rm.Duration = v
	}
	list, ok := m["participants"].([]any)
	if !ok || len(list) < 2 || len(list) > 25 {
		apiError(w, http.StatusBadRequest, "bad_request", "participants must be an array of 2 to 25 objects")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	plus := false
	for i, e := range list {
		po, ok := e.(map[string]any)
		if !ok {
			apiError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("participants[%d] must be an object", i))
			return
		}
		var pt Participant
		for k, v := range po {
			switch k {
			case "user_id":
				pt.UserID, _ = v.(string)
			case "is_admin":
				b, isBool := v.(bool)
				if !isBool {
					apiError(w, http.StatusBadRequest, "bad_request", "is_admin must be a boolean")
					return
				}
				pt.IsAdmin = b
			case "tools":
				to, isObj := v.(map[string]any)
				if !isObj {
					apiError(w, http.StatusBadRequest, "bad_request", "tools must be an object")
					return
				}
				pt.Tools = map[string]bool{}
				for tk, tv := range to {
					b, isBool := tv.(bool)
					if !slices.Contains(toolKeys, tk) || !isBool {
						apiError(w, http.StatusBadRequest, "bad_request", "unknown or non-boolean tool "+tk)
						return
					}
					pt.Tools[tk] = b
				}
			default:
				apiError(w, http.StatusBadRequest, "bad_request", "unknown participant field "+k)
				return
			}
		}
		role, known := s.users[pt.UserID]
		if !known {
			apiError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("participants[%d].user_id: unknown user", i))
			return
		}
		plus = plus || role == "plus"
		pt.Link = "https://acme.sandbox.bandyer.test/eu/direct-rest-call-handler/" + random(18)
		if s.linkBase != "" {
			pt.Link = s.linkBase + "/eu/direct-rest-call-handler/" + random(18)
		}
		rm.Participants = append(rm.Participants, pt)
	}
	if !plus {
		apiError(w, http.StatusBadRequest, "bad_request", "a room needs at least one plus user")
		return
	}
	s.rooms[rm.ID] = rm
	out := []map[string]any{}
	for _, pt := range rm.Participants {
		out = append(out, map[string]any{"user_id": pt.UserID, "is_admin": pt.IsAdmin, "link": pt.Link})
	}
	writeJSON(w, http.StatusCreated, map[string]any{"room_id": rm.ID, "participants": out})
}

func (s *Server) getRoom(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rm, ok := s.rooms[id]
	if !ok {
		apiError(w, http.StatusNotFound, "not_found", "room not found")
		return
	}
	body := map[string]any{"room_id": rm.ID, "recording": "none", "recording_status": "stopped", "call_type": "audio_video",
		"status": "NOT_RUNNING", "disabled": false, "creation_date": rm.CreatedAt.Format(time.RFC3339),
		"duration_used_in_seconds": rm.DurationUsed, "live": rm.Live}
	if rm.Duration > 0 {
		body["duration_in_seconds"] = rm.Duration
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) deleteRoom(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rooms[id]; !ok {
		apiError(w, http.StatusNotFound, "not_found", "room not found")
		return
	}
	delete(s.rooms, id)
	s.deleted = append(s.deleted, id)
	writeJSON(w, http.StatusOK, map[string]any{"room_id": id, "deleted": true})
}

func (s *Server) listUploads(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, err1 := strconv.Atoi(q.Get("offset"))
	limit, err2 := strconv.Atoi(q.Get("limit"))
	if q.Get("room_id") == "" || err1 != nil || err2 != nil || offset < 0 || limit < 1 || limit > 100 {
		apiError(w, http.StatusBadRequest, "bad_request", "room_id, offset and limit are required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := s.uploads[q.Get("room_id")]
	page := []map[string]string{}
	for i := offset; i < len(keys) && i < offset+limit; i++ {
		page = append(page, map[string]string{"key": keys[i], "room_id": q.Get("room_id"), "upload_type": "file_upload"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"offset": offset, "limit": limit, "has_more": offset+limit < len(keys),
		"count": len(page), "uploads": page})
}

func (s *Server) deleteUpload(w http.ResponseWriter, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for room, keys := range s.uploads {
		if i := slices.Index(keys, key); i >= 0 {
			s.uploads[room] = slices.Delete(keys, i, i+1)
			writeJSON(w, http.StatusOK, map[string]any{"key": key, "deleted": true})
			return
		}
	}
	apiError(w, http.StatusNotFound, "not_found", "upload not found")
}

func (s *Server) credentials(w http.ResponseWriter, r *http.Request) {
	m, err := testkit.ReadObject(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	id, _ := m["user_id"].(string)
	s.mu.Lock()
	_, known := s.users[id]
	if known {
		s.creds = append(s.creds, id)
	}
	s.mu.Unlock()
	if len(m) != 1 || !known {
		apiError(w, http.StatusBadRequest, "bad_request", "user_id of a known user is required")
		return
	}
	claims, _ := json.Marshal(map[string]any{"sub": id, "exp": time.Now().Add(time.Hour).Unix()})
	tok := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(claims) + "." + random(32)
	writeJSON(w, http.StatusOK, map[string]string{"access_token": tok})
}

// Backgrounds returns the company's background images and the default's
// alias.
func (s *Server) Backgrounds() (map[string]Background, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Background{}
	for k, v := range s.backgrounds {
		out[k] = v
	}
	return out, s.defaultBackground
}

func (s *Server) backgroundURL(alias string) string {
	return "https://cdn.kaleyra.test/backgrounds/" + alias
}

// uploadBackground is the company background upload: a multipart body
// whose field virtual_background is the image (at most 10 MiB).
func (s *Server) uploadBackground(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 11<<20)
	if err := r.ParseMultipartForm(11 << 20); err != nil { //nolint:gosec // G120: the body is bounded just above
		apiError(w, http.StatusBadRequest, "bad_request", "a multipart body is required")
		return
	}
	f, fh, err := r.FormFile("virtual_background")
	if err != nil || len(r.MultipartForm.File) != 1 || len(r.MultipartForm.Value) != 0 || fh.Size > 10<<20 {
		apiError(w, http.StatusBadRequest, "bad_request", "one field virtual_background of at most 10 MiB is required")
		return
	}
	defer func() { _ = f.Close() }()
	data := make([]byte, fh.Size)
	if _, err := io.ReadFull(f, data); err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", "cannot read the image")
		return
	}
	ct := fh.Header.Get("Content-Type")
	if ct != "image/png" && ct != "image/jpeg" {
		apiError(w, http.StatusBadRequest, "bad_request", "the image must be image/png or image/jpeg")
		return
	}
	b := Background{Alias: fmt.Sprintf("%x", []byte(random(12)))[:32], ContentType: ct, Data: data, CreatedAt: time.Now().UTC()}
	s.mu.Lock()
	s.backgrounds[b.Alias] = b
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"virtual_background": map[string]string{
		"background_alias": b.Alias, "url": s.backgroundURL(b.Alias), "creation_date": b.CreatedAt.Format(time.RFC3339Nano)}})
}

// updateCompany is "update company": {background_alias} makes an
// uploaded image the default; it answers with the company object.
func (s *Server) updateCompany(w http.ResponseWriter, r *http.Request) {
	m, err := testkit.ReadObject(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	alias, _ := m["background_alias"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.backgrounds[alias]
	if len(m) != 1 || !ok {
		apiError(w, http.StatusNotFound, "not_found", "background_alias of an uploaded background is required")
		return
	}
	s.defaultBackground = alias
	writeJSON(w, http.StatusOK, map[string]any{"company": map[string]any{
		"name": "Fake Clinic", "default_language": "en",
		"logos":                        map[string]string{"light_url": "", "dark_url": ""},
		"default_background":           map[string]string{"alias": alias, "url": s.backgroundURL(alias), "creation_date": b.CreatedAt.Format(time.RFC3339Nano)},
		"end_call_redirect_url":        "",
		"user_details_provider_url":    "",
		"end_call_redirect_timeout_ms": 5000,
	}})
}
