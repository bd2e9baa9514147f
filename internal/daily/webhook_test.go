package daily

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/daily/dailytest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/vendorhttp"
)

var (
	secret = []byte("webhook-secret-bytes")
	now    = time.Date(2031, 5, 6, 10, 0, 0, 0, time.UTC)
)

func provider(t testing.TB) *Provider {
	p, err := New(Config{APIKey: "k", BaseURL: "http://127.0.0.1:1", NamingKey: bytes.Repeat([]byte{1}, 32), WebhookSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func signed(body []byte, at time.Time, key []byte) teleconsult.WebhookRequest {
	ts := strconv.FormatInt(at.Unix(), 10)
	return teleconsult.WebhookRequest{Header: map[string][]string{
		SignatureHeader: {dailytest.Sign(key, ts, body)}, TimestampHeader: {ts},
	}, Body: body}
}

// Ensure the four followed events decode with their room, session and
// time, and that a missing or wrong signature, a stale or future timestamp
// are refused.
func TestParseWebhook(t *testing.T) {
	p := provider(t)
	joined := dailytest.Event("participant.joined", "evt-1", map[string]any{
		"room": "AbCdEfGhIj0123456789", "session_id": "sess-1", "user_id": "u", "user_name": "Mario Rossi",
		"joined_at": float64(now.Add(-time.Minute).Unix()), "owner": false,
	}, now)
	ev, err := p.ParseWebhook(signed(joined, now, secret), now)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != teleconsult.CallEventParticipantJoined || ev.ID != "evt-1" || ev.Room != "AbCdEfGhIj0123456789" ||
		ev.Session != "sess-1" || !ev.At.Equal(now.Add(-time.Minute)) {
		t.Errorf("event %+v", ev)
	}
	left := dailytest.Event("participant.left", "evt-2", map[string]any{
		"room": "r1", "session_id": "sess-1", "joined_at": float64(now.Add(-time.Minute).Unix()), "duration": 42.5,
	}, now)
	if ev, err := p.ParseWebhook(signed(left, now, secret), now); err != nil || ev.Kind != teleconsult.CallEventParticipantLeft ||
		!ev.At.Equal(now.Add(-time.Minute+42500*time.Millisecond)) || !ev.Start.Equal(now.Add(-time.Minute)) {
		t.Errorf("left: %+v %v", ev, err)
	}
	ended := dailytest.Event("meeting.ended", "evt-3", map[string]any{"room": "r1", "meeting_id": "m",
		"start_ts": float64(now.Add(-time.Hour).Unix()), "end_ts": float64(now.Add(-time.Minute).Unix())}, now)
	if ev, err := p.ParseWebhook(signed(ended, now, secret), now); err != nil || ev.Kind != teleconsult.CallEventMeetingEnded || !ev.At.Equal(now.Add(-time.Minute)) ||
		!ev.Start.Equal(now.Add(-time.Hour)) {
		t.Errorf("ended: %+v %v", ev, err)
	}
	recording := dailytest.Event("recording.started", "evt-4", map[string]any{"room": "r1"}, now)
	if ev, err := p.ParseWebhook(signed(recording, now, secret), now); err != nil || ev.Kind != teleconsult.CallEventIgnored || ev.Type != "recording.started" {
		t.Errorf("recording: %+v %v", ev, err)
	}
	// Daily's test request, signed or not, changes nothing.
	for _, req := range []teleconsult.WebhookRequest{{Body: []byte(`{"test":"test"}`)}, signed([]byte(`{"test":"test"}`), now, secret)} {
		if ev, err := p.ParseWebhook(req, now); err != nil || ev.Kind != teleconsult.CallEventIgnored {
			t.Errorf("test request: %+v %v", ev, err)
		}
	}

	bad := map[string]teleconsult.WebhookRequest{
		"no signature": {Body: joined},
		"wrong key":    signed(joined, now, []byte("another secret")),
		"stale":        signed(joined, now.Add(-6*time.Minute), secret),
		"future":       signed(joined, now.Add(6*time.Minute), secret),
		"body changed": func() teleconsult.WebhookRequest {
			r := signed(joined, now, secret)
			r.Body = bytes.Replace(joined, []byte("sess-1"), []byte("sess-2"), 1)
			return r
		}(),
		"timestamp changed": func() teleconsult.WebhookRequest {
			r := signed(joined, now, secret)
			r.Header[TimestampHeader] = []string{strconv.FormatInt(now.Unix()+1, 10)}
			return r
		}(),
		"not base64": func() teleconsult.WebhookRequest {
			r := signed(joined, now, secret)
			r.Header[SignatureHeader] = []string{"%%%"}
			return r
		}(),
	}
	for name, req := range bad {
		ev, err := p.ParseWebhook(req, now)
		if teleconsult.ErrorCode(err) != teleconsult.EUNAUTHORIZED || ev.ID != "" {
			t.Errorf("%s: %+v %v", name, ev, err)
		}
		if err != nil && strings.Contains(teleconsult.ErrorMessage(err), "Mario") {
			t.Errorf("%s: message shows the body", name)
		}
	}
	// A timestamp in milliseconds is read as such.
	ms := signed(joined, now, secret)
	tsMS := strconv.FormatInt(now.UnixMilli(), 10)
	ms.Header[TimestampHeader] = []string{tsMS}
	ms.Header[SignatureHeader] = []string{dailytest.Sign(secret, tsMS, joined)}
	if _, err := p.ParseWebhook(ms, now); err != nil {
		t.Errorf("millisecond timestamp: %v", err)
	}
	// Without a secret, nothing is accepted.
	p.webhookSecret = nil
	if _, err := p.ParseWebhook(signed(joined, now, secret), now); teleconsult.ErrorCode(err) != teleconsult.EUNAUTHORIZED ||
		!strings.Contains(err.Error(), "DAILY_WEBHOOK_SECRET") {
		t.Errorf("no secret: %v", err)
	}
}

// Ensure malformed events are refused as invalid input.
func TestDecodeEventMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":      `{"type": `,
		"no id":         `{"type":"meeting.started","payload":{"room":"r"}}`,
		"no payload":    `{"type":"meeting.started","id":"e"}`,
		"bad room":      `{"type":"meeting.started","id":"e","payload":{"room":"a/b"}}`,
		"no session":    `{"type":"participant.left","id":"e","payload":{"room":"r"}}`,
		"payload array": `{"type":"meeting.ended","id":"e","payload":[1]}`,
		"huge":          `{"type":"meeting.ended","id":"e","payload":{"room":"r","x":"` + strings.Repeat("x", MaxWebhookBytes) + `"}}`,
	} {
		if _, err := DecodeEvent([]byte(body)); teleconsult.ErrorCode(err) != teleconsult.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Odd times are ignored rather than trusted.
	ev, err := DecodeEvent([]byte(`{"type":"meeting.started","id":"e","event_ts":1e300,"payload":{"room":"r","start_ts":-5}}`))
	if err != nil || !ev.At.IsZero() {
		t.Errorf("odd times: %+v %v", ev, err)
	}
}

// FuzzParseWebhook drives the signature check and the event decoder with
// arbitrary bodies and headers: no panic, and an accepted event is
// well-formed.
func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(`{"test":"test"}`), "", "")
	f.Add(dailytest.Event("participant.joined", "e", map[string]any{"room": "r", "session_id": "s", "joined_at": 1.9e9}, now), "sig", "1")
	f.Add([]byte(`{"type":"meeting.ended","id":"x","payload":{"room":"r","end_ts":"12"}}`), "", "")
	p := provider(f)
	f.Fuzz(func(t *testing.T, body []byte, sig, ts string) {
		for _, req := range []teleconsult.WebhookRequest{
			{Header: map[string][]string{SignatureHeader: {sig}, TimestampHeader: {ts}}, Body: body},
			signed(body, now, secret),
		} {
			ev, err := p.ParseWebhook(req, now)
			if err != nil {
				if c := teleconsult.ErrorCode(err); c != teleconsult.EUNAUTHORIZED && c != teleconsult.EINVALID {
					t.Fatalf("error code %s: %v", c, err)
				}
				continue
			}
			if ev.Kind != teleconsult.CallEventIgnored && (ev.ID == "" || ev.Room == "") {
				t.Fatalf("accepted event without id or room: %+v", ev)
			}
		}
	})
}

// FuzzDecodeRoom and FuzzDecodeToken feed arbitrary answers to the
// decoders of Daily's room and token responses: no panic, only a 502 or a
// valid room/token.
func FuzzDecodeRoom(f *testing.F) {
	f.Add([]byte(`{"name":"abc","url":"https://acme.daily.co/abc","privacy":"private"}`))
	f.Add([]byte(`{"name":"abc","url":"javascript:alert(1)","privacy":"private"}`))
	f.Add([]byte(`{"name": 5}`))
	p := provider(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := p.decodeRoom(&vendorhttp.Response{Status: 200, Body: body}, "create room", "")
		if err != nil {
			if teleconsult.ErrorCode(err) != teleconsult.EBADGATEWAY {
				t.Fatalf("code %s", teleconsult.ErrorCode(err))
			}
			return
		}
		if !roomNameRE.MatchString(r.ID) || !strings.HasPrefix(r.URL, "https://") {
			t.Fatalf("accepted room %+v", r)
		}
	})
}

func FuzzDecodeToken(f *testing.F) {
	f.Add([]byte(`{"token":"eyJhbGciOiJIUzI1NiJ9.e30.abc"}`))
	f.Add([]byte(`{"token":""}`))
	f.Add([]byte(`[]`))
	p := provider(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := p.decodeToken(&vendorhttp.Response{Status: 200, Body: body}, "create meeting token")
		if err != nil && teleconsult.ErrorCode(err) != teleconsult.EBADGATEWAY {
			t.Fatalf("code %s", teleconsult.ErrorCode(err))
		}
		if err == nil && (tok == "" || len(tok) > maxTokenLen || strings.ContainsAny(tok, " \n\"")) {
			t.Fatalf("accepted token %q", tok)
		}
	})
}
