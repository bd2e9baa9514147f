package sfu

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	pioncodecs "github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
)

// FuzzVP8Keyframe compares vp8Keyframe with pion's VP8 depacketizer
// (RFC 7741), an independent reading of the payload descriptor: a
// keyframe's first packet has S set, partition index 0 and the payload
// header's P bit clear. It never changes its input.
func FuzzVP8Keyframe(f *testing.F) {
	f.Add([]byte{0x10, 0x00, 0x9d, 0x01, 0x2a})       // S, keyframe
	f.Add([]byte{0x10, 0x01, 0x00})                   // S, interframe
	f.Add([]byte{0x90, 0x80, 0x81, 0x23, 0x00})       // X, I, 15-bit picture id, keyframe
	f.Add([]byte{0x90, 0xe0, 0x12, 0x07, 0x40, 0x00}) // X, I, L, T: 7-bit id, TL0PICIDX, TID
	f.Add([]byte{0x00, 0x00})                         // not a frame's start
	f.Add([]byte{0x11, 0x00})                         // partition 1
	f.Add([]byte{0x90, 0x80})                         // truncated
	f.Add(chromiumRTP(f, 1, 0)[12:])                  // as Chromium sends
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := slices.Clone(b)
		got := vp8Keyframe(b)
		if !bytes.Equal(b, orig) {
			t.Fatal("vp8Keyframe changed its input")
		}
		var p pioncodecs.VP8Packet
		payload, err := p.Unmarshal(b)
		want := err == nil && p.S == 1 && p.PID == 0 && len(payload) > 0 && payload[0]&0x01 == 0
		if got != want {
			t.Fatalf("vp8Keyframe(% x) = %v, pion's depacketizer says %v (err %v)", b, got, want, err)
		}
		if got && !isKeyframe("video/vp8", b) {
			t.Fatal("isKeyframe disagrees")
		}
	})
}

// FuzzH264Keyframe: h264Keyframe never panics nor reads past its input,
// and finds an IDR slice or SPS (RFC 6184) where there is one: a single
// NAL unit, a STAP-A with one among well-formed units, an FU-A's start.
func FuzzH264Keyframe(f *testing.F) {
	f.Add([]byte{0x65, 0x88})                               // IDR
	f.Add([]byte{0x41, 0x9a})                               // non-IDR slice
	f.Add([]byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01}) // STAP-A: SPS
	f.Add([]byte{0x7c, 0x85, 0x88})                         // FU-A start of an IDR
	f.Add([]byte{0x7c, 0x05, 0x88})                         // FU-A middle
	f.Add([]byte{0x78, 0x00, 0x09, 0x67})                   // STAP-A, size past the end
	f.Fuzz(func(t *testing.T, b []byte) {
		got := h264Keyframe(b)
		if len(b) == 0 {
			if got {
				t.Fatal("an empty payload is a keyframe")
			}
			return
		}
		switch b[0] & 0x1f {
		case 5, 7:
			if !got {
				t.Fatalf("% x: an IDR or SPS unit not found", b)
			}
		case 24:
			// The well-formed units up to the first malformed one.
			want := false
			for i := 1; i+2 < len(b); {
				n := int(b[i])<<8 | int(b[i+1])
				i += 2
				if n == 0 || i+n > len(b) {
					break
				}
				if t := b[i] & 0x1f; t == 5 || t == 7 {
					want = true
					break
				}
				i += n
			}
			if got != want {
				t.Fatalf("STAP-A % x: %v, want %v", b, got, want)
			}
		case 28:
			want := len(b) > 1 && b[1]&0x80 != 0 && (b[1]&0x1f == 5 || b[1]&0x1f == 7)
			if got != want {
				t.Fatalf("FU-A % x: %v, want %v", b, got, want)
			}
		default:
			if got {
				t.Fatalf("% x: NAL unit type %d taken for a keyframe", b, b[0]&0x1f)
			}
		}
	})
}

// TestCheckRIDs: the answer may name, in the camera's section only, the
// stream ids offered, as sent.
func TestCheckRIDs(t *testing.T) {
	offer := parseSDP(t, chromium(t, "first-offer.sdp"))
	answer := chromium(t, "first-answer.sdp")
	if err := checkAnswer(offer, answer); err != nil {
		t.Fatalf("Chromium's simulcast answer refused: %v", err)
	}
	var plain sdp.SessionDescription
	if err := plain.UnmarshalString(chromium(t, "first-offer.sdp")); err != nil {
		t.Fatal(err)
	}
	for _, m := range plain.MediaDescriptions {
		m.Attributes = slices.DeleteFunc(m.Attributes, func(a sdp.Attribute) bool { return a.Key == "rid" || a.Key == "simulcast" })
	}
	for name, tc := range map[string]struct {
		offer  *sdp.SessionDescription
		answer string
	}{
		"not offered":     {&plain, answer},
		"unknown id":      {offer, strings.Replace(answer, "a=rid:h send", "a=rid:x send", 1)},
		"received":        {offer, strings.Replace(answer, "a=rid:h send", "a=rid:h recv", 1)},
		"too many":        {offer, strings.Replace(answer, "a=rid:h send", "a=rid:h send\r\na=rid:q send", 1)},
		"another section": {offer, strings.Replace(answer, "a=mid:2\r\n", "a=mid:2\r\na=rid:q send\r\n", 1)},
	} {
		if err := checkAnswer(tc.offer, tc.answer); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
