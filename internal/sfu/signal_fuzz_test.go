package sfu

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// The fuzz tests below drive real pion peer connections made by the
// SFU's own API (newAPI, loopback candidates only). Run them for long
// inside a loopback-only network namespace, so that connectivity checks
// towards fuzzed candidates cannot leave the host. Each input that gets
// as far as pion makes a peer connection, so minimizing a new input takes
// long: bound it, or the run mostly minimizes.
//
//	unshare -rn sh -c 'ip link set lo up && exec go test -run "^$" -fuzz FuzzCheckAnswer -fuzztime 60s -fuzzminimizetime 5s ./internal/sfu'

// chromium reads a file of testdata/chromium (made by chromiumsdp_test.go
// from Chromium's answers to the SFU's offers).
func chromium(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "chromium", name))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func parseSDP(tb testing.TB, text string) *sdp.SessionDescription {
	tb.Helper()
	var d sdp.SessionDescription
	if err := d.UnmarshalString(text); err != nil {
		tb.Fatal(err)
	}
	return &d
}

// stall panics, with every goroutine's stack, unless the returned stop is
// called within d: the SFU calls pion from a connection's run loop, where
// a call that blocks freezes the connection.
func stall(what string, d time.Duration) (stop func()) {
	t := time.AfterFunc(d, func() {
		buf := make([]byte, 4<<20)
		n := runtime.Stack(buf, true)
		panic(fmt.Sprintf("%s blocked for %v:\n%s", what, d, buf[:n]))
	})
	return func() { t.Stop() }
}

var fuzzAPI = sync.OnceValues(func() (*webrtc.API, error) {
	api, _, err := newAPI(Config{LoopbackCandidates: true, Logger: slog.New(slog.DiscardHandler)}, nil)
	return api, err
})

// sfuPeer makes a peer connection as startMedia does (microphone, camera
// and screen received) with its first offer in flight. With renegotiated,
// Chromium's first answer is applied and the second offer, which adds
// another participant's microphone and camera (syncSubscriptions), is in
// flight instead.
func sfuPeer(tb testing.TB, renegotiated bool) (*webrtc.PeerConnection, *sdp.SessionDescription) {
	tb.Helper()
	api, err := fuzzAPI()
	if err != nil {
		tb.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	offer := func() *sdp.SessionDescription {
		o, err := pc.CreateOffer(nil)
		if err == nil {
			err = pc.SetLocalDescription(o)
		}
		if err != nil {
			pc.Close()
			tb.Fatal(err)
		}
		// What the page gets: the camera offered in simulcast layers.
		d := parseSDP(tb, o.SDP)
		offerSimulcast(d, pc.GetTransceivers()[1].Mid())
		return d
	}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			tb.Fatal(err)
		}
	}
	o := offer()
	if !renegotiated {
		return pc, o
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: chromium(tb, "first-answer.sdp")}); err != nil {
		pc.Close()
		tb.Fatal(err)
	}
	for _, c := range []webrtc.RTPCodecCapability{{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}} {
		tr, err := webrtc.NewTrackLocalStaticRTP(c, "t-"+c.MimeType, "u_peer-media")
		if err == nil {
			_, err = pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		}
		if err != nil {
			pc.Close()
			tb.Fatal(err)
		}
	}
	return pc, offer()
}

// answerDirections is RFC 3264 section 6.1: the directions an answer may
// take for each offered one (the empty offer direction is sendrecv).
var answerDirections = map[string][]string{
	"sendonly": {"recvonly", "inactive"},
	"recvonly": {"sendonly", "inactive"},
	"inactive": {"inactive"},
	"sendrecv": {"sendrecv", "sendonly", "recvonly", "inactive"},
}

// mediaDirection is the direction attribute a section carries first
// (pion reads the first), sendrecv without one (RFC 4566).
func mediaDirection(m *sdp.MediaDescription) string {
	for _, a := range m.Attributes {
		if _, ok := answerDirections[a.Key]; ok {
			return a.Key
		}
	}
	return "sendrecv"
}

// FuzzCheckAnswer: checkAnswer never panics; an answer it accepts has the
// offer's sections (number, order, kind, mid) and in each section it does
// not reject (port 0) a direction RFC 3264 allows for the offered one;
// its verdict depends only on the offer's shape, not on one session's
// keys; and pion applies an accepted answer without panicking and without
// changing the transceivers the SFU made.
func FuzzCheckAnswer(f *testing.F) {
	first, second := chromium(f, "first-answer.sdp"), chromium(f, "second-answer.sdp")
	f.Add(first, false)
	f.Add(second, true)
	f.Add(strings.Replace(second, "a=recvonly", "a=sendrecv", 1), true)
	f.Add(strings.Replace(first, "a=sendonly", "a=inactive", 1), false)
	f.Add(strings.Replace(first, "m=video 9 ", "m=video 0 ", 1), false)
	f.Add(strings.Replace(second, "a=mid:4", "a=mid:0", 1), true)
	f.Add(strings.Replace(first, "a=sendonly", "a=sendonly\r\na=recvonly", 1), false)
	f.Add(strings.Replace(second, "a=ssrc:", "a=ssrc-group:FID 1\r\na=rid:h send\r\na=simulcast:send h\r\na=ssrc:", 1), true)
	f.Add(first[:len(first)/2], false)
	f.Add("v=0\r\n", true)
	templates := map[bool]*sdp.SessionDescription{
		false: parseSDP(f, chromium(f, "first-offer.sdp")), true: parseSDP(f, chromium(f, "second-offer.sdp")),
	}
	f.Fuzz(func(t *testing.T, answer string, renegotiated bool) {
		offer := templates[renegotiated]
		err := checkAnswer(offer, answer)
		if err != nil {
			if msg := err.Error(); msg == "" || len(msg) > 160 {
				t.Fatalf("refusal message %q", msg)
			}
			return
		}
		a := parseSDP(t, answer)
		if len(a.MediaDescriptions) != len(offer.MediaDescriptions) {
			t.Fatalf("accepted %d sections for %d", len(a.MediaDescriptions), len(offer.MediaDescriptions))
		}
		for i, om := range offer.MediaDescriptions {
			am := a.MediaDescriptions[i]
			omid, _ := om.Attribute("mid")
			amid, _ := am.Attribute("mid")
			if am.MediaName.Media != om.MediaName.Media || amid != omid {
				t.Fatalf("section %d: accepted %s mid %q for %s mid %q", i, am.MediaName.Media, amid, om.MediaName.Media, omid)
			}
			od, ad := mediaDirection(om), mediaDirection(am)
			if am.MediaName.Port.Value != 0 && !slices.Contains(answerDirections[od], ad) {
				t.Fatalf("section %d: accepted %s for an offered %s", i, ad, od)
			}
		}

		defer stall("making a peer connection, applying the answer and closing", 15*time.Second)()
		pc, live := sfuPeer(t, renegotiated)
		defer pc.Close()
		if err := checkAnswer(live, answer); err != nil {
			t.Fatalf("accepted for the recorded offer, refused for a live one of the same shape: %v", err)
		}
		type tr struct {
			kind webrtc.RTPCodecType
			mid  string
			dir  webrtc.RTPTransceiverDirection
		}
		list := func() (out []tr) {
			for _, x := range pc.GetTransceivers() {
				out = append(out, tr{x.Kind(), x.Mid(), x.Direction()})
			}
			return out
		}
		before := list()
		if pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}) != nil {
			return
		}
		if after := list(); !slices.Equal(before, after) {
			t.Fatalf("the answer changed the transceivers: %v became %v", before, after)
		}
	})
}

// candidatePeer is a peer connection that has applied Chromium's first
// answer, shared by the inputs of one fuzz process and made again after
// a few dozen candidates or a few seconds (a real one takes at most
// maxCandidates).
var candidatePeer struct {
	pc    *webrtc.PeerConnection
	added int
	made  time.Time
}

func candidatePC(tb testing.TB) *webrtc.PeerConnection {
	p := &candidatePeer
	if p.pc != nil && (p.added >= maxCandidates || time.Since(p.made) > 5*time.Second) {
		p.pc.Close()
		p.pc = nil
	}
	if p.pc == nil {
		pc, _ := sfuPeer(tb, false)
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: chromium(tb, "first-answer.sdp")}); err != nil {
			pc.Close()
			tb.Fatal(err)
		}
		p.pc, p.added, p.made = pc, 0, time.Now()
	}
	return p.pc
}

// FuzzCandidate sends a page's candidate message, as call.js sends it,
// through the SFU's reader (decodeMessage) and handler (conn.handle) to
// a real peer connection, before or after the first answer. Nothing
// panics; an accepted candidate is the one sent and a single line within
// the limits; it is kept until the answer or given to pion, and costs one
// of the connection's candidates; a refused one gets one error and
// changes nothing; the page is never answered for a good one.
func FuzzCandidate(f *testing.F) {
	var cands []map[string]any
	if err := json.Unmarshal([]byte(chromium(f, "candidates.json")), &cands); err != nil {
		f.Fatal(err)
	}
	const hasMid, hasIndex, hasUfrag, afterAnswer = 1, 2, 4, 8
	for _, c := range cands {
		line := c["candidate"].(string)
		f.Add(line, c["sdpMid"].(string), uint16(c["sdpMLineIndex"].(float64)), "", uint8(hasMid|hasIndex|afterAnswer))
		f.Add(line, c["sdpMid"].(string), uint16(0), "", uint8(hasMid))
		f.Add(strings.Replace(line, "ufrag heK1", "ufrag XXXX", 1), "0", uint16(0), "XXXX", uint8(hasMid|hasUfrag|afterAnswer))
	}
	for _, line := range []string{
		"candidate:1 1 udp 2122260223 3f2a9c0e-5b7d-4e18-a6c1-f09d2b3e4a5c.local 50629 typ host generation 0 ufrag heK1",
		"candidate:842163049 1 udp 1677729535 203.0.113.7 61234 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag heK1 network-cost 999",
		"candidate:3 1 udp 41885439 127.0.0.1 3478 typ relay raddr 127.0.0.1 rport 50629 generation 0",
		"candidate:4 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0",
		"candidate:5 1 udp 2122262783 ::1 50630 typ host generation 0",
		"1 1 UDP 2122260223 127.0.0.1 50629 typ host",
		"candidate:6 1 udp 1 127.0.0.1 70000 typ host",
		"candidate:7 1 udp 1 127.0.0.1 1 typ prflx raddr x rport y",
		"candidate:8 1 udp",
	} {
		f.Add(line, "0", uint16(0), "heK1", uint8(hasMid|hasIndex|afterAnswer))
	}
	f.Add("", "", uint16(0), "", uint8(afterAnswer))
	f.Add("a\r\na=candidate:9 1 udp 1 127.0.0.1 2 typ host", "0", uint16(0), "", uint8(afterAnswer))
	f.Add("candidate:1 1 udp 1 127.0.0.1 2 typ host", "0 1", uint16(65535), strings.Repeat("u", 257), uint8(15))

	f.Cleanup(func() {
		if candidatePeer.pc != nil {
			candidatePeer.pc.Close()
			candidatePeer.pc = nil
		}
	})
	f.Fuzz(func(t *testing.T, line, mid string, index uint16, ufrag string, flags uint8) {
		// JSON carries text: what is not UTF-8 is sent as U+FFFD, byte by
		// byte (as []rune converts it).
		line, mid, ufrag = string([]rune(line)), string([]rune(mid)), string([]rune(ufrag))
		inner := map[string]any{"candidate": line}
		if flags&hasMid != 0 {
			inner["sdpMid"] = mid
		}
		if flags&hasIndex != 0 {
			inner["sdpMLineIndex"] = index
		}
		if flags&hasUfrag != 0 {
			inner["usernameFragment"] = ufrag
		}
		b, err := json.Marshal(map[string]any{"type": typeCandidate, "candidate": inner})
		if err != nil {
			t.Fatal(err)
		}
		defer stall("handling a candidate", 15*time.Second)()
		c := &conn{adm: &teleconsult.Admission{}, remoteSet: flags&afterAnswer != 0,
			out: make(chan []byte, outQueue), closing: make(chan struct{}), log: slog.New(slog.DiscardHandler)}
		if c.remoteSet {
			c.pc = candidatePC(t)
		}
		m, err := decodeMessage(b)
		c.handle(inEvent{msg: m, err: err})
		if err != nil {
			if !errors.Is(err, ErrBadField) && !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("refused with %v", err)
			}
			if len(c.out) != 1 || c.bad != 1 || c.candidates != 0 || len(c.pendingCands) != 0 {
				t.Fatalf("refusal: %d messages, %d bad, %d candidates", len(c.out), c.bad, c.candidates)
			}
			return
		}
		if len(c.out) != 0 || c.bad != 0 {
			t.Fatalf("an accepted candidate was answered: %d messages", len(c.out))
		}
		got := m.Candidate
		if got == nil {
			t.Fatal("candidate object decoded as null")
		}
		same := func(p *string, set bool, v string) bool { return (p != nil) == set && (p == nil || *p == v) }
		if got.Candidate != line || !same(got.SDPMid, flags&hasMid != 0, mid) ||
			!same(got.UsernameFragment, flags&hasUfrag != 0, ufrag) ||
			(got.SDPMLineIndex != nil) != (flags&hasIndex != 0) || got.SDPMLineIndex != nil && *got.SDPMLineIndex != index {
			t.Fatalf("decoded %+v from %s", got, b)
		}
		if len(line) > 1024 || strings.ContainsAny(line, "\r\n\x00") ||
			got.SDPMid != nil && (len(mid) > 32 || strings.ContainsAny(mid, "\r\n\x00 ")) || len(ufrag) > 256 && got.UsernameFragment != nil {
			t.Fatalf("accepted an ill-formed candidate %s", b)
		}
		if line == "" {
			if c.candidates != 0 || len(c.pendingCands) != 0 {
				t.Fatal("end of candidates counted as one")
			}
			return
		}
		if c.candidates != 1 {
			t.Fatalf("%d candidates counted", c.candidates)
		}
		if c.remoteSet {
			candidatePeer.added++
			if len(c.pendingCands) != 0 {
				t.Fatal("held a candidate after the answer")
			}
			return
		}
		want := webrtc.ICECandidateInit{Candidate: line, SDPMid: got.SDPMid, SDPMLineIndex: got.SDPMLineIndex, UsernameFragment: got.UsernameFragment}
		if len(c.pendingCands) != 1 || fmt.Sprint(c.pendingCands[0]) != fmt.Sprint(want) {
			t.Fatalf("held %v, want %v", c.pendingCands, want)
		}
	})
}
