// Package dailytest is an HTTP fake of the parts of Daily's REST API that
// Teleconsult uses, built from ../../../../shared/reference/daily-api.md,
// for tests on loopback. It checks what a client sends (the Bearer key,
// methods, paths, JSON bodies against the documented fields and types, room
// name rules) and answers with the documented bodies and errors. Faults can
// be injected per route: any status (with Retry-After), a hang, a malformed
// or huge body, or a lost answer (the change is made, the answer never
// comes). It also signs webhooks as Daily does.
package dailytest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/teleconsult/teleconsult/internal/testkit"
)

// Room is a room held by the fake.
type Room struct {
	ID         string
	Name       string
	Privacy    string
	URL        string
	Properties map[string]any // as sent; numbers are json.Number
	CreatedAt  time.Time
	// Named says whether the client chose the name.
	Named   bool
	Updates int
}

// Token is a meeting token minted by the fake, with the properties sent.
type Token struct {
	Token      string
	Properties map[string]any
}

// Fault is what the fake does instead of (or after) answering; see
// [testkit.Fault].
type Fault = testkit.Fault

// Request is a request the fake received.
type Request = testkit.Request

// Server is the fake Daily API.
type Server struct {
	*testkit.Fake
	// APIKey is the key the fake accepts.
	APIKey string
	// Domain is the Daily domain: room URLs are https://<Domain>.daily.co/<name>.
	Domain string
	// Now is the clock of simulated meetings (the time of the leaves an
	// eject causes); time.Now when nil.
	Now func() time.Time

	// Simulated meetings (Join, Leave) and the webhooks they make; guarded
	// by mu.
	meetings map[string]*meeting // by room name: the meeting running in it
	events   []WebhookEvent      // made, not yet taken
	eventSeq int

	mu      sync.Mutex
	hipaa   bool
	rooms   map[string]*Room
	deleted []string
	tokens  []Token
	ejects  map[string][][]string
	// roomBase, set by ServeRooms, is the origin of the room pages.
	roomBase string
	visits   []Visit
	media    []string
}

// meeting is a call running in a room of the fake: its id, start, and the
// sessions in it (session id → user id and join time).
type meeting struct {
	id       string
	start    time.Time
	sessions map[string]session
}

type session struct {
	userID string
	joined time.Time
}

// WebhookEvent is a webhook the fake made for a simulated meeting, as Daily
// sends it: the body in Daily's envelope, with the documented payload.
type WebhookEvent struct {
	ID, Type string
	Body     []byte
}

// New starts a fake Daily API on 127.0.0.1 that accepts apiKey; it stops
// when the test ends.
func New(tb interface{ Cleanup(func()) }, apiKey string) *Server {
	s := &Server{APIKey: apiKey, Domain: "acme", rooms: map[string]*Room{}, ejects: map[string][][]string{},
		meetings: map[string]*meeting{}}
	s.Fake = testkit.StartFake(tb, testkit.Vendor{Authorize: s.authorize, Route: s.route, Error: injectedError,
		Malformed: `{"name": "abc", "url": `, HugeKey: "pad", HugePad: ' '})
	return s
}

// SetHIPAA makes the fake refuse room names chosen by the client, as a
// Daily domain in HIPAA mode does.
func (s *Server) SetHIPAA(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hipaa = on
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

// Deleted returns the names of the rooms deleted, in order.
func (s *Server) Deleted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.deleted...)
}

// Tokens returns the meeting tokens minted, in order.
func (s *Server) Tokens() []Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Token(nil), s.tokens...)
}

// Ejects returns the user_ids ejected from room, one slice per call.
func (s *Server) Ejects(room string) [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.ejects[room]...)
}

// apiError writes Daily's error body.
func apiError(w http.ResponseWriter, status int, typ, info string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": typ, "info": info})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// authorize answers a request without a valid key as Daily does.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || key == "" {
		apiError(w, http.StatusBadRequest, "authorization-header-error", "missing or malformed Authorization header")
		return true
	}
	if key != s.APIKey {
		apiError(w, http.StatusUnauthorized, "authentication-error", "bad API key")
		return true
	}
	return false
}

// injectedError answers an injected failure with Daily's error type for
// status.
func injectedError(w http.ResponseWriter, status int) {
	typ := map[int]string{429: "rate-limit-error", 401: "authentication-error", 403: "forbidden-error", 404: "invalid-request-error"}[status]
	if typ == "" {
		typ = "server-error"
	}
	apiError(w, status, typ, "injected failure")
}

var (
	roomPath  = regexp.MustCompile(`^/rooms/([^/]+)$`)
	ejectPath = regexp.MustCompile(`^/rooms/([^/]+)/eject$`)
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/rooms":
		s.createRoom(w, r)
	case r.Method == http.MethodGet && roomPath.MatchString(p):
		s.getRoom(w, roomPath.FindStringSubmatch(p)[1])
	case r.Method == http.MethodPost && roomPath.MatchString(p):
		s.updateRoom(w, r, roomPath.FindStringSubmatch(p)[1])
	case r.Method == http.MethodDelete && roomPath.MatchString(p):
		s.deleteRoom(w, roomPath.FindStringSubmatch(p)[1])
	case r.Method == http.MethodPost && ejectPath.MatchString(p):
		s.eject(w, r, ejectPath.FindStringSubmatch(p)[1])
	case r.Method == http.MethodPost && p == "/meeting-tokens":
		s.createToken(w, r)
	default:
		apiError(w, http.StatusNotFound, "invalid-request-error", "no such endpoint")
	}
}

// Documented field types: "int", "bool", "string", "object", "strings".
var roomPropertyTypes = map[string]string{
	"nbf": "int", "exp": "int", "eject_at_room_exp": "bool", "eject_after_elapsed": "int",
	"max_participants": "int", "enable_knocking": "bool", "enable_prejoin_ui": "bool",
	"enable_screenshare": "bool", "enable_chat": "bool", "enable_advanced_chat": "bool",
	"enable_shared_chat_history": "bool", "start_video_off": "bool", "start_audio_off": "bool",
	"owner_only_broadcast": "bool", "enable_recording": "string", "enable_people_ui": "bool",
	"enable_pip_ui": "bool", "enable_emoji_reactions": "bool", "enable_hand_raising": "bool",
	"enable_network_ui": "bool", "enable_noise_cancellation_ui": "bool", "enable_breakout_rooms": "bool",
	"enable_video_processing_ui": "bool", "enforce_unique_user_ids": "bool", "lang": "string",
	"geo": "string", "permissions": "object",
}

var tokenPropertyTypes = map[string]string{
	"room_name": "string", "nbf": "int", "exp": "int", "eject_at_token_exp": "bool",
	"eject_after_elapsed": "int", "is_owner": "bool", "user_name": "string", "user_id": "string",
	"enable_screenshare": "bool", "start_video_off": "bool", "start_audio_off": "bool",
	"enable_recording": "string", "enable_prejoin_ui": "bool", "close_tab_on_exit": "bool",
	"redirect_on_meeting_exit": "string", "lang": "string", "permissions": "object",
}

// checkFields checks an object against documented field types.
func checkFields(m map[string]any, types map[string]string, where string) error {
	for k, v := range m {
		t, ok := types[k]
		if !ok {
			return fmt.Errorf("%s: unknown property %q", where, k)
		}
		ok = false
		switch t {
		case "int":
			n, isNum := v.(json.Number)
			_, err := strconv.ParseInt(string(n), 10, 64)
			ok = isNum && err == nil
		case "bool":
			_, ok = v.(bool)
		case "string":
			_, ok = v.(string)
		case "object":
			_, ok = v.(map[string]any)
		}
		if !ok {
			return fmt.Errorf("%s.%s: must be %s", where, k, t)
		}
	}
	return nil
}

func randomName(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func (s *Server) roomObject(rm *Room) map[string]any {
	return map[string]any{"id": rm.ID, "name": rm.Name, "api_created": true, "privacy": rm.Privacy,
		"url": rm.URL, "created_at": rm.CreatedAt.Format(time.RFC3339), "config": rm.Properties}
}

func (s *Server) createRoom(w http.ResponseWriter, r *http.Request) {
	m, err := testkit.ReadObject(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "json-parsing-error", err.Error())
		return
	}
	rm := &Room{Privacy: "public", Properties: map[string]any{}, CreatedAt: time.Now().UTC(), ID: randomName(8)}
	for k, v := range m {
		switch k {
		case "name":
			name, ok := v.(string)
			if !ok {
				apiError(w, http.StatusBadRequest, "invalid-request-error", "name must be a string")
				return
			}
			rm.Name, rm.Named = name, true
		case "privacy":
			pv, ok := v.(string)
			if !ok || (pv != "public" && pv != "private") {
				apiError(w, http.StatusBadRequest, "invalid-request-error", "privacy must be public or private")
				return
			}
			rm.Privacy = pv
		case "properties":
			props, ok := v.(map[string]any)
			if !ok {
				apiError(w, http.StatusBadRequest, "invalid-request-error", "properties must be an object")
				return
			}
			if err := checkFields(props, roomPropertyTypes, "properties"); err != nil {
				apiError(w, http.StatusBadRequest, "invalid-request-error", err.Error())
				return
			}
			rm.Properties = props
		default:
			apiError(w, http.StatusBadRequest, "invalid-request-error", "unknown field "+k)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rm.Named {
		if s.hipaa {
			apiError(w, http.StatusBadRequest, "invalid-request-error", "custom room names are not allowed on this domain")
			return
		}
		if !nameRE.MatchString(rm.Name) || len(s.Domain)+len(rm.Name) > 41 {
			apiError(w, http.StatusBadRequest, "invalid-request-error", "invalid room name")
			return
		}
		if _, dup := s.rooms[rm.Name]; dup {
			apiError(w, http.StatusBadRequest, "invalid-request-error", "a room named "+rm.Name+" already exists")
			return
		}
	} else {
		rm.Name = randomName(20)
	}
	rm.URL = "https://" + s.Domain + ".daily.co/" + rm.Name
	if s.roomBase != "" {
		rm.URL = s.roomBase + "/" + rm.Name
	}
	s.rooms[rm.Name] = rm
	writeJSON(w, s.roomObject(rm))
}

func (s *Server) getRoom(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rm, ok := s.rooms[name]
	if !ok {
		apiError(w, http.StatusNotFound, "invalid-request-error", "room not found")
		return
	}
	writeJSON(w, s.roomObject(rm))
}

func (s *Server) updateRoom(w http.ResponseWriter, r *http.Request, name string) {
	m, err := testkit.ReadObject(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "json-parsing-error", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rm, ok := s.rooms[name]
	if !ok {
		apiError(w, http.StatusNotFound, "invalid-request-error", "room not found")
		return
	}
	for k, v := range m {
		switch k {
		case "privacy":
			pv, ok := v.(string)
			if !ok || (pv != "public" && pv != "private") {
				apiError(w, http.StatusBadRequest, "invalid-request-error", "privacy must be public or private")
				return
			}
			rm.Privacy = pv
		case "properties":
			props, ok := v.(map[string]any)
			if !ok {
				apiError(w, http.StatusBadRequest, "invalid-request-error", "properties must be an object")
				return
			}
			if err := checkFields(props, roomPropertyTypes, "properties"); err != nil {
				apiError(w, http.StatusBadRequest, "invalid-request-error", err.Error())
				return
			}
			for pk, pv := range props {
				rm.Properties[pk] = pv
			}
		default:
			apiError(w, http.StatusBadRequest, "invalid-request-error", "unknown field "+k)
			return
		}
	}
	rm.Updates++
	writeJSON(w, s.roomObject(rm))
}

func (s *Server) deleteRoom(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rooms[name]; !ok {
		apiError(w, http.StatusNotFound, "invalid-request-error", "room not found")
		return
	}
	delete(s.rooms, name)
	s.deleted = append(s.deleted, name)
	writeJSON(w, map[string]any{"deleted": true, "name": name})
}

func (s *Server) eject(w http.ResponseWriter, r *http.Request, name string) {
	m, err := testkit.ReadObject(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "json-parsing-error", err.Error())
		return
	}
	var ids []string
	for k, v := range m {
		list, ok := v.([]any)
		if (k != "ids" && k != "user_ids" && k != "ban") || (k != "ban" && (!ok || len(list) > 100)) {
			apiError(w, http.StatusBadRequest, "invalid-request-error", "bad field "+k)
			return
		}
		if k == "user_ids" {
			for _, e := range list {
				id, ok := e.(string)
				if !ok {
					apiError(w, http.StatusBadRequest, "invalid-request-error", "user_ids must be strings")
					return
				}
				ids = append(ids, id)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rooms[name]; !ok {
		apiError(w, http.StatusNotFound, "invalid-request-error", "room not found")
		return
	}
	s.ejects[name] = append(s.ejects[name], ids)
	// The ejected sessions leave the meeting now, as at Daily.
	var ejected []string
	if m := s.meetings[name]; m != nil {
		now := s.now()
		for sid, se := range m.sessions {
			if slices.Contains(ids, se.userID) {
				ejected = append(ejected, sid)
			}
		}
		slices.Sort(ejected)
		for _, sid := range ejected {
			s.leaveLocked(name, sid, now)
		}
	}
	writeJSON(w, map[string]any{"ejected_ids": ejected})
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	m, err := testkit.ReadObject(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "json-parsing-error", err.Error())
		return
	}
	props, ok := m["properties"].(map[string]any)
	if !ok || len(m) != 1 {
		apiError(w, http.StatusBadRequest, "invalid-request-error", "body must be {\"properties\": {...}}")
		return
	}
	if err := checkFields(props, tokenPropertyTypes, "properties"); err != nil {
		apiError(w, http.StatusBadRequest, "invalid-request-error", err.Error())
		return
	}
	if id, _ := props["user_id"].(string); len(id) > 36 {
		apiError(w, http.StatusBadRequest, "invalid-request-error", "user_id must be at most 36 characters")
		return
	}
	tok := "eyJ" + randomName(40)
	s.mu.Lock()
	s.tokens = append(s.tokens, Token{Token: tok, Properties: props})
	s.mu.Unlock()
	writeJSON(w, map[string]string{"token": tok})
}

// Sign returns X-Webhook-Signature for a webhook body sent at timestamp
// ts: base64 of HMAC-SHA256 under the decoded secret of "<ts>.<body>".
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Event returns a webhook body in Daily's envelope.
func Event(typ, id string, payload map[string]any, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"version": "1.0.0", "type": typ, "id": id, "payload": payload,
		"event_ts": float64(at.UnixMilli()) / 1000})
	return b
}

// Int reads an integer property as sent (json.Number), or -1.
func Int(v any) int64 {
	n, ok := v.(json.Number)
	if !ok {
		return -1
	}
	i, err := n.Int64()
	if err != nil {
		return -1
	}
	return i
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Join simulates session (a browser's connection) of userID joining room
// at: meeting.started first when no meeting runs in the room, then
// participant.joined. The events are kept for [Server.TakeEvents].
func (s *Server) Join(room, sessionID, userID string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.meetings[room]
	if m == nil {
		s.eventSeq++
		m = &meeting{id: fmt.Sprintf("meeting-%04d", s.eventSeq), start: at, sessions: map[string]session{}}
		s.meetings[room] = m
		s.addEvent("meeting.started", at, map[string]any{"start_ts": unixSeconds(at), "meeting_id": m.id, "room": room})
	}
	m.sessions[sessionID] = session{userID: userID, joined: at}
	s.addEvent("participant.joined", at, s.participant(room, sessionID, m.sessions[sessionID], nil))
}

// Leave simulates session leaving room at: participant.left (with the
// seconds it was in the call), then meeting.ended when the room is empty.
// Leaving a session that is not in the room does nothing.
func (s *Server) Leave(room, sessionID string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaveLocked(room, sessionID, at)
}

func (s *Server) leaveLocked(room, sessionID string, at time.Time) {
	m := s.meetings[room]
	if m == nil {
		return
	}
	se, ok := m.sessions[sessionID]
	if !ok {
		return
	}
	delete(m.sessions, sessionID)
	d := int64(at.Sub(se.joined) / time.Second)
	s.addEvent("participant.left", at, s.participant(room, sessionID, se, &d))
	if len(m.sessions) == 0 {
		delete(s.meetings, room)
		s.addEvent("meeting.ended", at, map[string]any{"start_ts": unixSeconds(m.start), "end_ts": unixSeconds(at),
			"meeting_id": m.id, "room": room})
	}
}

// participant is the payload of participant.joined and .left (duration
// only for left).
func (s *Server) participant(room, sessionID string, se session, duration *int64) map[string]any {
	p := map[string]any{"joined_at": unixSeconds(se.joined), "session_id": sessionID, "room": room,
		"user_id": se.userID, "user_name": "Guest", "owner": false, "will_eject_at": 0,
		"permissions": map[string]any{"hasPresence": true, "canSend": true}}
	if duration != nil {
		p["duration"] = *duration
	}
	return p
}

func (s *Server) addEvent(typ string, at time.Time, payload map[string]any) {
	s.eventSeq++
	id := fmt.Sprintf("%08x-0000-4000-8000-%012x", s.eventSeq, s.eventSeq)
	s.events = append(s.events, WebhookEvent{ID: id, Type: typ, Body: Event(typ, id, payload, at)})
}

// unixSeconds is t as Daily's payloads give times: Unix seconds.
func unixSeconds(t time.Time) int64 { return t.Unix() }

// TakeEvents returns the webhooks made by simulated meetings since the last
// call, in the order Daily would send them, and forgets them.
func (s *Server) TakeEvents() []WebhookEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := s.events
	s.events = nil
	return ev
}
