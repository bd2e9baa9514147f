package sfu

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

func TestDecodeMessage(t *testing.T) {
	good := []struct {
		in   string
		want inMessage
	}{
		{`{"type":"auth","token":"abc"}`, inMessage{Type: "auth", Token: "abc"}},
		{` {"token":"abc","type":"auth"} `, inMessage{Type: "auth", Token: "abc"}},
		{`{"type":"answer","sdp":"v=0\r\n"}`, inMessage{Type: "answer", SDP: "v=0\r\n"}},
		{`{"type":"offer","sdp":"v=0"}`, inMessage{Type: "offer", SDP: "v=0"}},
		{`{"type":"candidate","candidate":null}`, inMessage{Type: "candidate"}},
		{`{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"ab"}}`,
			inMessage{Type: "candidate", Candidate: &iceCandidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host",
				SDPMid: ptr("0"), SDPMLineIndex: ptr(uint16(0)), UsernameFragment: ptr("ab")}}},
		{`{"type":"candidate","candidate":{"candidate":"","sdpMid":null,"sdpMLineIndex":null}}`,
			inMessage{Type: "candidate", Candidate: &iceCandidate{}}},
		{`{"type":"chat","text":"ciao\nè tutto ok? 👍"}`, inMessage{Type: "chat", Text: "ciao\nè tutto ok? 👍"}},
		{`{"type":"chat","text":"` + strings.Repeat("é", 2000) + `"}`, inMessage{Type: "chat", Text: strings.Repeat("é", 2000)}},
		{`{"type":"present","on":true}`, inMessage{Type: "present", On: true}},
		{`{"type":"present","on":false}`, inMessage{Type: "present"}},
		{`{"type":"leave"}`, inMessage{Type: "leave"}},
		{`{"type":"ping"}`, inMessage{Type: "ping"}},
		{`{"type":"auth","token":"abc","lobby":true}`, inMessage{Type: "auth", Token: "abc", Lobby: true}},
		{`{"type":"auth","token":"abc","lobby":false}`, inMessage{Type: "auth", Token: "abc"}},
		{`{"type":"join"}`, inMessage{Type: "join"}},
		{`{"type":"admit","participantId":"u_1"}`, inMessage{Type: "admit", ParticipantID: "u_1"}},
		{`{"type":"decline","participantId":"u_1"}`, inMessage{Type: "decline", ParticipantID: "u_1"}},
		{`{"type":"auto-admit","on":true}`, inMessage{Type: "auto-admit", On: true}},
		{`{"type":"moderate","participantId":"u_1","action":"camera-off"}`, inMessage{Type: "moderate", ParticipantID: "u_1", Action: "camera-off"}},
		{`{"action":"remove","type":"moderate","participantId":"u_1"}`, inMessage{Type: "moderate", ParticipantID: "u_1", Action: "remove"}},
	}
	for _, tt := range good {
		got, err := decodeMessage([]byte(tt.in))
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%.60s: got %+v, %v", tt.in, got, err)
		}
	}

	bad := []struct {
		in   string
		want error
	}{
		{``, ErrMalformed},
		{`null`, ErrMalformed},
		{`"auth"`, ErrMalformed},
		{`[{"type":"ping"}]`, ErrMalformed},
		{`{"type":"ping"}{"type":"ping"}`, ErrMalformed},
		{`{"type":"ping"`, ErrMalformed},
		{"{\"type\":\"chat\",\"text\":\"\xff\"}", ErrMalformed},
		{`{}`, ErrMissingField},
		{`{"type":1}`, ErrBadField},
		{`{"type":"teleport"}`, ErrUnknownType},
		{`{"type":"PING"}`, ErrUnknownType},
		{`{"Type":"ping"}`, ErrMissingField},
		{`{"type":"ping","type":"ping"}`, ErrDuplicateField},
		{`{"type":"chat","text":"a","text":"b"}`, ErrDuplicateField},
		{`{"type":"ping","room":"r_other"}`, ErrUnknownField},
		{`{"type":"auth","token":"abc","lobby":"yes"}`, ErrBadField},
		{`{"type":"auth","token":"abc","lobby":null}`, ErrBadField},
		{`{"type":"admit"}`, ErrMissingField},
		{`{"type":"admit","participantId":""}`, ErrMissingField},
		{`{"type":"admit","participantId":7}`, ErrBadField},
		{`{"type":"decline","participantId":"` + strings.Repeat("u", 65) + `"}`, ErrBadField},
		{`{"type":"auto-admit"}`, ErrMissingField},
		{`{"type":"auto-admit","on":1}`, ErrBadField},
		{`{"type":"join","participantId":"u_1"}`, ErrUnknownField},
		{`{"type":"moderate","participantId":"u_1"}`, ErrMissingField},
		{`{"type":"moderate","action":"mute"}`, ErrMissingField},
		{`{"type":"moderate","participantId":"u_1","action":"kick"}`, ErrBadField},
		{`{"type":"moderate","participantId":"u_1","action":true}`, ErrBadField},
		{`{"type":"moderate","participantId":"u_1","action":"mute","on":true}`, ErrUnknownField},
		{`{"type":"chat","text":"x","teleconsultationId":"abc"}`, ErrUnknownField},
		{`{"type":"chat","text":"x","from":"u_forged"}`, ErrUnknownField},
		{`{"type":"chat","text":"x","Text":"y"}`, ErrUnknownField},
		{`{"type":"auth"}`, ErrMissingField},
		{`{"type":"auth","token":""}`, ErrMissingField},
		{`{"type":"auth","token":null}`, ErrBadField},
		{`{"type":"auth","token":7}`, ErrBadField},
		{`{"type":"auth","token":"` + strings.Repeat("a", maxTokenBytes+1) + `"}`, ErrBadField},
		{`{"type":"answer"}`, ErrMissingField},
		{`{"type":"candidate"}`, ErrMissingField},
		{`{"type":"candidate","candidate":"x"}`, ErrBadField},
		{`{"type":"candidate","candidate":{"sdpMid":"0"}}`, ErrMissingField},
		{`{"type":"candidate","candidate":{"candidate":"a","port":1}}`, ErrUnknownField},
		{`{"type":"candidate","candidate":{"candidate":"a","sdpMLineIndex":-1}}`, ErrBadField},
		{`{"type":"candidate","candidate":{"candidate":"a\r\nb"}}`, ErrBadField},
		{`{"type":"candidate","candidate":{"candidate":"a","candidate":"b"}}`, ErrDuplicateField},
		{`{"type":"chat","text":""}`, ErrMissingField},
		{`{"type":"chat","text":"   "}`, ErrMissingField},
		{`{"type":"chat","text":"a\u0000b"}`, ErrBadField},
		{`{"type":"chat","text":"` + strings.Repeat("x", maxChatRunes+1) + `"}`, ErrBadField},
		{`{"type":"present"}`, ErrMissingField},
		{`{"type":"present","on":"yes"}`, ErrBadField},
		{`{"type":"present","on":null}`, ErrBadField},
		{`{"type":"leave","x":{"y":{"z":{"w":{"v":1}}}}}`, ErrMalformed},
		{`{"type":"ping","x":[[[[1]]]]}`, ErrMalformed},
		{`{"type":"ping","a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1,"j":1,"k":1,"l":1,"m":1,"n":1,"o":1,"p":1,"q":1}`, ErrMalformed},
		{`{"type":"chat","text":"` + strings.Repeat("x", MaxMessageBytes) + `"}`, ErrMessageTooLarge},
	}
	for _, tt := range bad {
		got, err := decodeMessage([]byte(tt.in))
		if !errors.Is(err, tt.want) {
			t.Errorf("%.60s: got %+v, %v; want %v", tt.in, got, err, tt.want)
		}
		if err != nil && describeDecodeError(err) == "" {
			t.Errorf("%.60s: no description", tt.in)
		}
	}
}

func TestParseICEServers(t *testing.T) {
	got, err := ParseICEServers(` [{"urls":["stun:stun.example.org:3478"]},{"urls":["turn:turn.example.org"],"username":"u","credential":"p"}] `)
	if err != nil || len(got) != 2 || got[1].Username != "u" {
		t.Errorf("got %+v, %v", got, err)
	}
	got, err = ParseICEServers("stun:a.example, stuns:b.example")
	if err != nil || len(got) != 2 || got[1].URLs[0] != "stuns:b.example" {
		t.Errorf("got %+v, %v", got, err)
	}
	if got, err := ParseICEServers(""); err != nil || got != nil {
		t.Errorf("empty: %+v, %v", got, err)
	}
	for _, bad := range []string{
		`[{"urls":["http://x"]}]`, `[{"urls":[]}]`, `[{"urls":["turn:x"]}]`, `[{"urls":["stun:x"],"extra":1}]`,
		`[{`, "turn:x", "stun:", "stun:a b",
	} {
		if _, err := ParseICEServers(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestConfigChecks(t *testing.T) {
	bad := []Config{
		{UDPPort: -1},
		{UDPPort: 70000},
		{UDPPortMin: 5000, UDPPortMax: 4000},
		{UDPPortMax: 4000},
		{PublicIP: "example.org"},
		{ICEServers: []ICEServer{{URLs: []string{"ftp://x"}}}},
		{TURN: TURNConfig{Enabled: true}}, // no public IP
		{TURN: TURNConfig{Enabled: true, Port: -2}, PublicIP: "192.0.2.1"},
	}
	for i, c := range bad {
		if _, err := NewProvider(nil, c); !errors.Is(err, ErrConfig) {
			t.Errorf("%d: %+v: %v", i, c, err)
		}
	}
	p, err := NewProvider(nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "builtin" {
		t.Error(p.Name())
	}
	if err := p.Close(); err != nil {
		t.Error(err)
	}
}

// checkNoEcho fails when msg, an error message for the page, is not
// printable ASCII or repeats more of input than a short excerpt in quotes
// (teleconsult.MaxEcho characters).
func checkNoEcho(t *testing.T, msg, input string) {
	t.Helper()
	for _, r := range msg {
		if r < 0x20 || r > 0x7e {
			t.Fatalf("error message %q has a character %U that is not printable ASCII", msg, r)
		}
	}
	const n = teleconsult.MaxEcho + 3
	for i := 0; i+n <= len(msg); i++ {
		if strings.Contains(input, msg[i:i+n]) {
			t.Fatalf("error message %q repeats %q of the input", msg, msg[i:i+n])
		}
	}
}

// Error messages name only the protocol's types and fields, never what the
// page sent in their place.
func TestDecodeErrorsDoNotEcho(t *testing.T) {
	const name = "Mario Rossi"
	for _, tt := range []struct {
		in   string
		want string
	}{
		{`{"type":"` + name + `"}`, "unknown message type; expected auth, offer, answer, candidate, chat, present, leave, ping"},
		{`{"type":"ping","` + name + `":1}`, "unknown field; expected type"},
		{`{"type":"chat","text":"x","token":"t"}`, "unknown field: token is not allowed here; expected type, text"},
		{`{"type":"ping","` + name + `":1,"` + name + `":2}`, "duplicate field"},
		{`{"type":"chat","text":"a","text":"b"}`, "duplicate field: text"},
		{`{"type":"candidate","candidate":{"candidate":"a","` + name + `":1}}`, "candidate: unknown field; expected candidate, sdpMid, sdpMLineIndex, usernameFragment"},
		{"{\"type\":\"\u202e" + strings.Repeat("x", 60) + "\"}", "unknown message type; expected auth,"},
	} {
		_, err := decodeMessage([]byte(tt.in))
		msg := describeDecodeError(err)
		if !strings.HasPrefix(msg, tt.want) || strings.Contains(msg, name) {
			t.Errorf("%.60s: message %q, want %q", tt.in, msg, tt.want)
		}
		checkNoEcho(t, msg, tt.in)
	}
}

// FuzzDecodeMessage: no input panics, error messages do not echo it, every accepted message is one of the
// protocol's types, and an accepted message survives a round trip.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"auth","token":"eyJhbGciOiJIUzI1NiJ9.e30.sig"}`,
		`{"type":"answer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}`,
		`{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"candidate","candidate":null}`,
		`{"type":"chat","text":"hello"}`,
		`{"type":"present","on":true}`,
		`{"type":"leave"}`,
		`{"type":"ping"}`,
		`{"type":"offer","sdp":"v=0"}`,
		`{"type":"auth","token":"t","lobby":true}`,
		`{"type":"join"}`,
		`{"type":"admit","participantId":"u_1"}`,
		`{"type":"decline","participantId":"u_1"}`,
		`{"type":"auto-admit","on":false}`,
		`{"type":"moderate","participantId":"u_1","action":"mute"}`,
		`{"type":"moderate","participantId":"u_1","action":"MUTE"}`,
		`{"type":"moderate","participantId":"u_1","action":"mute","action":"remove"}`,
		`{"type":"chat","text":"a","text":"b"}`,
		`{"type":"chat","text":"x","from":"u_forged"}`,
		`{"type":"ping","x":[[[[1]]]]}`,
		`{"type":"candidate","candidate":{"candidate":"a","sdpMLineIndex":70000}}`,
		"{\"type\":\"chat\",\"text\":\"\xff\"}",
		`[]`, `{`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			if describeDecodeError(err) == "" {
				t.Fatalf("error without description: %v", err)
			}
			checkNoEcho(t, describeDecodeError(err), string(b))
			return
		}
		if _, ok := inFields[m.Type]; !ok {
			t.Fatalf("accepted type %q", m.Type)
		}
		// Re-encode what was understood and decode it again.
		out := map[string]any{"type": m.Type}
		switch m.Type {
		case typeAuth:
			out["token"] = m.Token
			if m.Lobby {
				out["lobby"] = true
			}
		case typeAdmit, typeDecline:
			out["participantId"] = m.ParticipantID
		case typeModerate:
			out["participantId"], out["action"] = m.ParticipantID, m.Action
		case typeOffer, typeAnswer:
			out["sdp"] = m.SDP
		case typeCandidate:
			out["candidate"] = m.Candidate
		case typeChat:
			out["text"] = m.Text
		case typePresent, typeAutoAdmit:
			out["on"] = m.On
		}
		enc, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeMessage(enc)
		if err != nil {
			if errors.Is(err, ErrMessageTooLarge) {
				return // escaping grew it past the limit
			}
			t.Fatalf("round trip of %q: %v", enc, err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip: %+v became %+v", m, again)
		}
	})
}
