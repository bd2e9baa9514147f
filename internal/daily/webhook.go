package daily

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Webhook headers and limits.
const (
	SignatureHeader = "X-Webhook-Signature"
	TimestampHeader = "X-Webhook-Timestamp"
	// MaxWebhookBytes bounds a webhook body; Daily's events are a few
	// hundred bytes.
	MaxWebhookBytes = 64 << 10
	// WebhookTolerance is how far a webhook's timestamp may be from our
	// clock: older ones are replays (or delayed past use).
	WebhookTolerance = 5 * time.Minute
)

// The event types followed.
var eventKinds = map[string]teleconsult.CallEventKind{
	"meeting.started":    teleconsult.CallEventMeetingStarted,
	"meeting.ended":      teleconsult.CallEventMeetingEnded,
	"participant.joined": teleconsult.CallEventParticipantJoined,
	"participant.left":   teleconsult.CallEventParticipantLeft,
}

// envelope is Daily's webhook body.
type envelope struct {
	Version string          `json:"version"`
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
	EventTS json.Number     `json:"event_ts"`
}

// payload holds the fields of the four followed events' payloads.
type payload struct {
	Room      string      `json:"room"`
	SessionID string      `json:"session_id"`
	StartTS   json.Number `json:"start_ts"`
	EndTS     json.Number `json:"end_ts"`
	JoinedAt  json.Number `json:"joined_at"`
	Duration  json.Number `json:"duration"`
}

var (
	eventIDRE = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
	sessionRE = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
)

// ParseWebhook implements [teleconsult.WebhookReceiver]: it checks
// X-Webhook-Signature, the base64 HMAC-SHA256 under the (base64-decoded)
// webhook secret of "<X-Webhook-Timestamp>.<body>", in constant time, and
// that the timestamp is within [WebhookTolerance] of now, then decodes the
// event. Daily's test request ({"test":"test"}, sent when a webhook is
// registered) is accepted and ignored even unsigned: it can change nothing.
func (p *Provider) ParseWebhook(req teleconsult.WebhookRequest, now time.Time) (teleconsult.CallEvent, error) {
	h := http.Header(req.Header)
	sig, ts := h.Get(SignatureHeader), h.Get(TimestampHeader)
	if sig == "" && isTestPing(req.Body) {
		return teleconsult.CallEvent{Type: "test"}, nil
	}
	if err := VerifySignature(p.webhookSecret, sig, ts, req.Body, now); err != nil {
		return teleconsult.CallEvent{}, err
	}
	return DecodeEvent(req.Body)
}

// isTestPing reports whether body is Daily's webhook test request.
func isTestPing(body []byte) bool {
	var m map[string]string
	return len(body) < 64 && json.Unmarshal(body, &m) == nil && len(m) == 1 && m["test"] == "test"
}

var errSignature = &teleconsult.Error{Code: teleconsult.EUNAUTHORIZED, Message: "webhook signature missing or invalid"}

// VerifySignature checks a webhook's signature and timestamp. Every
// failure is EUNAUTHORIZED; the message says which check failed, never the
// expected value.
func VerifySignature(secret []byte, sig, ts string, body []byte, now time.Time) error {
	if len(secret) == 0 {
		return &teleconsult.Error{Code: teleconsult.EUNAUTHORIZED, Message: "Daily webhooks are not accepted: DAILY_WEBHOOK_SECRET is not set"}
	}
	if sig == "" || ts == "" || len(sig) > 256 || len(ts) > 32 {
		return errSignature
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return errSignature
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return errSignature
	}
	at, err := parseTimestamp(ts)
	if err != nil {
		return errSignature
	}
	if d := now.Sub(at); d > WebhookTolerance || d < -WebhookTolerance {
		return &teleconsult.Error{Code: teleconsult.EUNAUTHORIZED, Message: "webhook timestamp too old or in the future"}
	}
	return nil
}

// parseTimestamp reads X-Webhook-Timestamp: Unix seconds, or milliseconds
// when it is that large.
func parseTimestamp(ts string) (time.Time, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, errSignature
	}
	if n > 1e11 {
		return time.UnixMilli(n), nil
	}
	return time.Unix(n, 0), nil
}

func malformed(what string) error {
	return teleconsult.Errorf(teleconsult.EINVALID, "malformed Daily webhook: %s", what)
}

// DecodeEvent decodes a (verified) webhook body into a call event. Events
// other than meeting.started|ended and participant.joined|left are
// returned as CallEventIgnored. The event's time is the payload's own
// (start_ts, end_ts, joined_at, joined_at + duration), else event_ts; an
// end's Start is start_ts (meeting.ended) or joined_at (participant.left).
func DecodeEvent(body []byte) (teleconsult.CallEvent, error) {
	if len(body) > MaxWebhookBytes {
		return teleconsult.CallEvent{}, malformed("body too large")
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil {
		return teleconsult.CallEvent{}, malformed("not a JSON event")
	}
	kind, followed := eventKinds[env.Type]
	ev := teleconsult.CallEvent{Kind: kind, Type: env.Type, ID: env.ID}
	if !followed {
		ev.Type = "other"
		if len(env.Type) <= 64 && eventIDRE.MatchString(env.Type) {
			ev.Type = env.Type
		}
		return teleconsult.CallEvent{Type: ev.Type}, nil
	}
	if !eventIDRE.MatchString(env.ID) {
		return teleconsult.CallEvent{}, malformed("id")
	}
	var pl payload
	pdec := json.NewDecoder(bytes.NewReader(env.Payload))
	pdec.UseNumber()
	if len(env.Payload) == 0 || pdec.Decode(&pl) != nil {
		return teleconsult.CallEvent{}, malformed("payload")
	}
	if !roomNameRE.MatchString(pl.Room) {
		return teleconsult.CallEvent{}, malformed("payload.room")
	}
	ev.Room = pl.Room
	at, ok := unixTime(env.EventTS)
	switch kind {
	case teleconsult.CallEventMeetingStarted:
		if t, ok2 := unixTime(pl.StartTS); ok2 {
			at, ok = t, true
		}
	case teleconsult.CallEventMeetingEnded:
		if t, ok2 := unixTime(pl.EndTS); ok2 {
			at, ok = t, true
		}
		if t, ok2 := unixTime(pl.StartTS); ok2 {
			ev.Start = t
		}
	case teleconsult.CallEventParticipantJoined, teleconsult.CallEventParticipantLeft:
		if !sessionRE.MatchString(pl.SessionID) {
			return teleconsult.CallEvent{}, malformed("payload.session_id")
		}
		ev.Session = pl.SessionID
		joined, okJ := unixTime(pl.JoinedAt)
		if kind == teleconsult.CallEventParticipantJoined && okJ {
			at, ok = joined, true
		}
		if kind == teleconsult.CallEventParticipantLeft && okJ {
			ev.Start = joined
			if d, okD := seconds(pl.Duration); okD {
				at, ok = joined.Add(d), true
			}
		}
	}
	if ok {
		ev.At = at
	}
	return ev, nil
}

// unixTime reads Unix seconds (possibly fractional) between 2000 and 2200.
func unixTime(n json.Number) (time.Time, bool) {
	f, err := n.Float64()
	if n == "" || err != nil || math.IsNaN(f) || f < 946684800 || f > 7258118400 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// seconds reads a non-negative duration in seconds, at most a day.
func seconds(n json.Number) (time.Duration, bool) {
	f, err := n.Float64()
	if n == "" || err != nil || math.IsNaN(f) || f < 0 || f > 86400 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}
