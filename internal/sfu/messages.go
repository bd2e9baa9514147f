package sfu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/teleconsult/teleconsult/internal/strictjson"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// MaxMessageBytes is the largest signalling message accepted (64 KiB).
const MaxMessageBytes = 64 << 10

const (
	maxChatRunes  = 2000
	maxTokenBytes = 8 << 10
	maxJSONDepth  = 4
	// maxParticipantIDBytes bounds participantId of admit and decline
	// (ours are "u_" and 22 characters).
	maxParticipantIDBytes = 64
)

// Message types of docs/signalling.md.
const (
	typeAuth      = "auth"
	typeOffer     = "offer"
	typeAnswer    = "answer"
	typeCandidate = "candidate"
	typeChat      = "chat"
	typePresent   = "present"
	typeLeave     = "leave"
	typePing      = "ping"
	// typeRestartICE asks for an ICE restart (docs/signalling.md,
	// "Reconnecting").
	typeRestartICE = "restart-ice"
	typePong       = "pong"
	typeWelcome    = "welcome"
	typeTracks     = "tracks"
	typeEnd        = "end"
	typeError      = "error"
	typeWarning    = "warning"
	typePeerJoined = "peer-joined"
	typePeerLeft   = "peer-left"
	// The waiting room (docs/signalling.md, "Waiting room").
	typeJoin        = "join"
	typeAdmit       = "admit"
	typeDecline     = "decline"
	typeAutoAdmit   = "auto-admit"
	typeWaiting     = "waiting"
	typeWaitingList = "waiting-list"
	// In-call moderation (docs/signalling.md, "Moderation").
	typeModerate   = "moderate"
	typeModeration = "moderation"
)

// inFields lists, for every message type a page may send, the fields it
// may have (type included). Keys are matched exactly, case included.
var inFields = map[string][]string{
	typeAuth:       {"type", "token", "lobby"},
	typeOffer:      {"type", "sdp"},
	typeAnswer:     {"type", "sdp"},
	typeCandidate:  {"type", "candidate"},
	typeChat:       {"type", "text"},
	typePresent:    {"type", "on"},
	typeLeave:      {"type"},
	typePing:       {"type"},
	typeRestartICE: {"type"},
	typeJoin:       {"type"},
	typeAdmit:      {"type", "participantId"},
	typeDecline:    {"type", "participantId"},
	typeAutoAdmit:  {"type", "on"},
	// The whiteboard and the live pointer (board.go).
	typeBoard:    {"type", "op"},
	typePointer:  pointerFields,
	typeModerate: {"type", "participantId", "action"},
}

var candidateFields = []string{"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"}

// inTypes are the keys of inFields, in the order of docs/signalling.md;
// fieldNames are every field of every message. Error messages name only
// these, never what the page sent (see [teleconsult.Quote]).
var (
	inTypes = []string{typeAuth, typeOffer, typeAnswer, typeCandidate, typeChat, typePresent, typeLeave, typePing,
		typeRestartICE, typeJoin, typeAdmit, typeDecline, typeAutoAdmit, typeModerate, typeBoard, typePointer}
	fieldNames = map[string]bool{}
)

func init() {
	for _, list := range inFields {
		for _, f := range list {
			fieldNames[f] = true
		}
	}
	for _, f := range candidateFields {
		fieldNames[f] = true
	}
}

// inMessage is a decoded message from the page. Only the fields of its
// type are set.
type inMessage struct {
	Type  string
	Token string // auth
	SDP   string // offer, answer
	// Candidate is nil for the end-of-candidates null.
	Candidate *iceCandidate
	Text      string // chat
	On        bool   // present, auto-admit
	// Lobby (auth, optional) holds the connection before the call until
	// it sends join: the pre-join screen of a participant who admits.
	Lobby bool
	// ParticipantID names who is admitted, declined or moderated.
	ParticipantID string
	Board         *boardOp    // board
	Pointer       *pointerMsg // pointer
	// Action is what moderate does.
	Action teleconsult.Moderation
}

// iceCandidate is RTCIceCandidateInit as browsers serialise it.
type iceCandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// decodeMessage decodes one signalling message strictly: one JSON object
// of valid UTF-8, at most MaxMessageBytes, a known type, only that type's
// fields (exact names, each once) with values of the right type.
func decodeMessage(b []byte) (inMessage, error) {
	var m inMessage
	if len(b) > MaxMessageBytes {
		return m, ErrMessageTooLarge
	}
	if !utf8.Valid(b) {
		return m, ErrMalformed
	}
	if err := scanJSON(b); err != nil {
		return m, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return m, ErrMalformed
	}
	rawType, ok := raw["type"]
	if !ok {
		return m, fmt.Errorf("%w: type", ErrMissingField)
	}
	if err := json.Unmarshal(rawType, &m.Type); err != nil {
		return m, fmt.Errorf("%w: type must be a string", ErrBadField)
	}
	allowed, ok := inFields[m.Type]
	if !ok {
		return inMessage{}, fmt.Errorf("%w; expected %s", ErrUnknownType, strings.Join(inTypes, ", "))
	}
	if err := onlyFields(raw, allowed); err != nil {
		return inMessage{}, err
	}
	var err error
	switch m.Type {
	case typeAuth:
		m.Token, err = stringField(raw, "token", maxTokenBytes)
		if v, ok := raw["lobby"]; ok && err == nil {
			m.Lobby, err = boolField(v, "lobby")
		}
	case typeAdmit, typeDecline:
		m.ParticipantID, err = stringField(raw, "participantId", maxParticipantIDBytes)
	case typeModerate:
		m.ParticipantID, err = stringField(raw, "participantId", maxParticipantIDBytes)
		if err == nil {
			m.Action, err = actionField(raw)
		}
	case typeOffer, typeAnswer:
		m.SDP, err = stringField(raw, "sdp", MaxMessageBytes)
	case typeCandidate:
		m.Candidate, err = candidateField(raw)
	case typeChat:
		m.Text, err = stringField(raw, "text", MaxMessageBytes)
		if err == nil {
			err = checkChat(m.Text)
		}
	case typePresent, typeAutoAdmit:
		v, ok := raw["on"]
		if !ok {
			return inMessage{}, fmt.Errorf("%w: on", ErrMissingField)
		}
		m.On, err = boolField(v, "on")
	case typeBoard:
		m.Board, err = decodeBoardOp(raw)
	case typePointer:
		m.Pointer, err = decodePointer(raw)
	}
	if err != nil {
		return inMessage{}, err
	}
	return m, nil
}

// actionField decodes the action of moderate: one of
// [teleconsult.Moderations].
func actionField(raw map[string]json.RawMessage) (teleconsult.Moderation, error) {
	a, err := stringField(raw, "action", 16)
	if err != nil {
		return "", err
	}
	m := teleconsult.Moderation(a)
	if !m.Valid() {
		names := make([]string, 0, 5)
		for _, x := range teleconsult.Moderations() {
			names = append(names, string(x))
		}
		return "", fmt.Errorf("%w: action must be one of %s", ErrBadField, strings.Join(names, ", "))
	}
	return m, nil
}

// boolField decodes a true or false field named name.
func boolField(v json.RawMessage, name string) (bool, error) {
	var b bool
	if json.Unmarshal(v, &b) != nil || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return false, fmt.Errorf("%w: %s must be true or false", ErrBadField, name)
	}
	return b, nil
}

func onlyFields(raw map[string]json.RawMessage, allowed []string) error {
	for k := range raw {
		found := false
		for _, a := range allowed {
			if k == a {
				found = true
				break
			}
		}
		if !found {
			if fieldNames[k] {
				return fmt.Errorf("%w: %s is not allowed here; expected %s", ErrUnknownField, k, strings.Join(allowed, ", "))
			}
			return fmt.Errorf("%w; expected %s", ErrUnknownField, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// stringField returns a required non-empty string field of at most max
// bytes.
func stringField(raw map[string]json.RawMessage, name string, max int) (string, error) {
	v, ok := raw[name]
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrMissingField, name)
	}
	var s string
	if bytes.Equal(bytes.TrimSpace(v), []byte("null")) || json.Unmarshal(v, &s) != nil {
		return "", fmt.Errorf("%w: %s must be a string", ErrBadField, name)
	}
	if s == "" {
		return "", fmt.Errorf("%w: %s", ErrMissingField, name)
	}
	if len(s) > max {
		return "", fmt.Errorf("%w: %s is too long", ErrBadField, name)
	}
	return s, nil
}

func candidateField(raw map[string]json.RawMessage) (*iceCandidate, error) {
	v, ok := raw["candidate"]
	if !ok {
		return nil, fmt.Errorf("%w: candidate", ErrMissingField)
	}
	if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil, nil
	}
	var inner map[string]json.RawMessage
	if json.Unmarshal(v, &inner) != nil {
		return nil, fmt.Errorf("%w: candidate must be an object or null", ErrBadField)
	}
	if err := onlyFields(inner, candidateFields); err != nil {
		return nil, fmt.Errorf("candidate: %w", err)
	}
	var c iceCandidate
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, fmt.Errorf("%w: candidate: %s", ErrBadField, "wrong field type")
	}
	if _, ok := inner["candidate"]; !ok {
		return nil, fmt.Errorf("%w: candidate.candidate", ErrMissingField)
	}
	if len(c.Candidate) > 1024 || strings.ContainsAny(c.Candidate, "\r\n\x00") {
		return nil, fmt.Errorf("%w: candidate.candidate", ErrBadField)
	}
	if c.SDPMid != nil && (len(*c.SDPMid) > 32 || strings.ContainsAny(*c.SDPMid, "\r\n\x00 ")) {
		return nil, fmt.Errorf("%w: candidate.sdpMid", ErrBadField)
	}
	if c.UsernameFragment != nil && len(*c.UsernameFragment) > 256 {
		return nil, fmt.Errorf("%w: candidate.usernameFragment", ErrBadField)
	}
	return &c, nil
}

// checkChat enforces 1–2000 characters of text: no control characters but
// tab and line breaks.
func checkChat(s string) error {
	n := 0
	for _, r := range s {
		n++
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' || r == 0x7f {
			return fmt.Errorf("%w: text has control characters", ErrBadField)
		}
	}
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("%w: text", ErrMissingField)
	}
	if n > maxChatRunes {
		return fmt.Errorf("%w: text is longer than %d characters", ErrBadField, maxChatRunes)
	}
	return nil
}

// scanJSON checks that b is exactly one JSON object, nested at most
// maxJSONDepth deep, of at most 17 fields an object, with no object holding
// the same key twice (encoding/json would silently keep the last one).
func scanJSON(b []byte) error {
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return ErrMalformed
	}
	_, err := strictjson.Parse(b, strictjson.Options{MaxDepth: maxJSONDepth, MaxKeys: 17})
	e, ok := errors.AsType[*strictjson.Error](err)
	if !ok {
		return err
	}
	switch e.Kind {
	case strictjson.TooDeep:
		return fmt.Errorf("%w: nested too deep", ErrMalformed)
	case strictjson.TooManyKeys:
		return fmt.Errorf("%w: too many fields", ErrMalformed)
	case strictjson.DuplicateKey:
		if fieldNames[e.Key] {
			return fmt.Errorf("%w: %s", ErrDuplicateField, e.Key)
		}
		return ErrDuplicateField
	}
	return ErrMalformed
}

// describeDecodeError is the error message shown to the sender.
func describeDecodeError(err error) string {
	for _, known := range []error{ErrMessageTooLarge, ErrMalformed, ErrUnknownType, ErrUnknownField,
		ErrDuplicateField, ErrMissingField, ErrBadField} {
		if errors.Is(err, known) {
			return err.Error()
		}
	}
	return ErrMalformed.Error()
}

// Messages from the server.

type outError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type outEnd struct {
	Type    string `json:"type"`
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}

type peerInfo struct {
	ParticipantID string `json:"participantId"`
	Name          string `json:"name"`
}

type windowInfo struct {
	OpensAt   string `json:"opensAt"`
	StartDate string `json:"startDate"`
	EndDate   string `json:"endDate"`
	Limited   bool   `json:"limited"`
}

type outWelcome struct {
	Type          string            `json:"type"`
	ParticipantID string            `json:"participantId"`
	Name          string            `json:"name"`
	Role          string            `json:"role"`
	Tools         teleconsult.Tools `json:"tools"`
	Peers         []peerInfo        `json:"peers"`
	ICEServers    []ICEServer       `json:"iceServers"`
	Window        windowInfo        `json:"window"`
	StartAudioOff bool              `json:"startAudioOff"`
	StartVideoOff bool              `json:"startVideoOff"`
}

type outSDP struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

type outCandidate struct {
	Type      string        `json:"type"`
	Candidate *iceCandidate `json:"candidate"`
}

// trackInfo maps one forwarded track of an offer to its person.
type trackInfo struct {
	StreamID      string `json:"streamId"`
	TrackID       string `json:"trackId"`
	Mid           string `json:"mid"`
	Kind          string `json:"kind"`
	ParticipantID string `json:"participantId"`
	Name          string `json:"name"`
	Source        string `json:"source"`
}

type outTracks struct {
	Type   string      `json:"type"`
	Tracks []trackInfo `json:"tracks"`
}

type outChat struct {
	Type string `json:"type"`
	From string `json:"from"`
	Name string `json:"name"`
	Text string `json:"text"`
	At   string `json:"at"`
}

type outPresent struct {
	Type          string `json:"type"`
	ParticipantID string `json:"participantId"`
	On            bool   `json:"on"`
}

type outPeerJoined struct {
	Type          string `json:"type"`
	ParticipantID string `json:"participantId"`
	Name          string `json:"name"`
}

type outPeerLeft struct {
	Type          string `json:"type"`
	ParticipantID string `json:"participantId"`
}

type outWarning struct {
	Type        string `json:"type"`
	Reason      string `json:"reason"`
	EndsAt      string `json:"endsAt"`
	SecondsLeft int    `json:"secondsLeft"`
}

// waitingInfo is one participant in the waiting room, as the ones who
// admit see them.
type waitingInfo struct {
	ParticipantID string `json:"participantId"`
	Name          string `json:"name"`
	Since         string `json:"since"`
}

// outWaitingList is sent to the participants who admit.
type outWaitingList struct {
	Type      string        `json:"type"`
	Waiting   []waitingInfo `json:"waiting"`
	AutoAdmit bool          `json:"autoAdmit"`
}

// outWaiting is sent to a participant in the waiting room.
type outWaiting struct {
	Type           string     `json:"type"`
	Since          string     `json:"since"`
	Host           string     `json:"host"`
	Told           bool       `json:"told"`
	LateMinutes    int        `json:"lateMinutes"`
	EstimatedStart string     `json:"estimatedStart"`
	Window         windowInfo `json:"window"`
}

// outModeration tells the room what moderation holds back of one
// participant; Action is the change that caused it, or empty for the state
// sent on joining.
type outModeration struct {
	Type          string `json:"type"`
	ParticipantID string `json:"participantId"`
	Action        string `json:"action,omitempty"`
	Muted         bool   `json:"muted"`
	CameraOff     bool   `json:"cameraOff"`
}

type outType struct {
	Type string `json:"type"`
}
