package sfu

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// chromiumRTP is an RTP packet as Chromium sends a camera's VP8 under the
// extensions of testdata/chromium/second-answer.sdp (1 sdes:mid, 4
// transport-wide-cc, one-byte form), with padding when pad > 0.
func chromiumRTP(tb testing.TB, seq uint16, pad byte, csrc ...uint32) []byte {
	tb.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: 90000 + uint32(seq)*3000,
		SSRC: 585466891, Marker: seq%3 == 0, CSRC: csrc}, Payload: []byte{0x90, 0xe0, 0x80, 0x01, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}}
	if err := p.Header.SetExtension(1, []byte("1")); err != nil {
		tb.Fatal(err)
	}
	if err := p.Header.SetExtension(4, []byte{0x00, byte(seq & 0xff)}); err != nil {
		tb.Fatal(err)
	}
	if pad > 0 {
		p.Padding, p.PaddingSize = true, pad
	}
	b, err := p.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzForwardRTP feeds two packets through one reused rtp.Packet, as
// pubTrack.forward reads a publisher's track. What is forwarded decodes
// again, carries no header extension, keeps the publisher's header and
// payload, is no larger than what came, and does not depend on the packet
// before it.
func FuzzForwardRTP(f *testing.F) {
	f.Add(chromiumRTP(f, 1, 0), chromiumRTP(f, 2, 0))
	f.Add(chromiumRTP(f, 7, 4, 0x01020304), chromiumRTP(f, 8, 0))
	f.Add(chromiumRTP(f, 9, 0, 1, 2, 3), []byte{0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1})
	two, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 3, SSRC: 416464511,
		Extension: true, ExtensionProfile: rtp.ExtensionProfileTwoByte,
		Extensions: []rtp.Extension{}}, Payload: []byte{0xfc, 0xff, 0xfe}}).Marshal()
	f.Add(two, []byte{})
	f.Add([]byte{0xa0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0}, []byte{0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 9})
	f.Fuzz(func(t *testing.T, first, second []byte) {
		var reused rtp.Packet
		for _, in := range [][]byte{first, second} {
			orig := slices.Clone(in)
			ok := forwardable(&reused, in)
			var fresh rtp.Packet
			if ok != forwardable(&fresh, in) {
				t.Fatalf("reused packet accepts %v, a fresh one %v", ok, !ok)
			}
			if !bytes.Equal(in, orig) {
				t.Fatal("forwardable changed its input")
			}
			if !ok {
				continue
			}
			out, err := reused.Marshal()
			if err != nil {
				t.Fatalf("accepted packet does not marshal: %v", err)
			}
			if len(out) > len(in) {
				t.Fatalf("forwarded %d bytes for %d", len(out), len(in))
			}
			var got, want rtp.Packet
			if err := got.Unmarshal(out); err != nil {
				t.Fatalf("forwarded packet does not decode: %v", err)
			}
			if err := want.Unmarshal(in); err != nil {
				t.Fatal(err)
			}
			if got.Extension || len(got.Extensions) != 0 {
				t.Fatalf("forwarded packet has extensions: %+v", got.Header)
			}
			if got.Version != want.Version || got.Marker != want.Marker || got.PayloadType != want.PayloadType ||
				got.SequenceNumber != want.SequenceNumber || got.Timestamp != want.Timestamp || got.SSRC != want.SSRC ||
				!slices.Equal(got.CSRC, want.CSRC) || got.PaddingSize != want.PaddingSize || !bytes.Equal(got.Payload, want.Payload) {
				t.Fatalf("forwarded %+v, received %+v", got.Header, want.Header)
			}
		}
	})
}

// rtcpHeaders walks a compound RTCP packet by its common headers (RFC 3550
// section 6.4.1) and returns each packet's type and count/format field;
// ok is false unless every header has version 2 and the lengths add up to
// exactly len(b).
func rtcpHeaders(b []byte) (types [][2]uint8, ok bool) {
	for len(b) > 0 {
		if len(b) < 4 || b[0]>>6 != 2 {
			return nil, false
		}
		n := 4 * (int(binary.BigEndian.Uint16(b[2:])) + 1)
		if n > len(b) {
			return nil, false
		}
		types = append(types, [2]uint8{b[1], b[0] & 0x1f})
		b = b[n:]
	}
	return types, len(types) > 0
}

// FuzzKeyframeRequest feeds what a subscriber sends on a forwarded track's
// RTCP. A keyframe is requested only for a well-formed compound packet
// that holds a PLI (payload-specific feedback 206, format 1) or a FIR
// (format 4), a FIR only when one is there, and re-encoding the decoded
// packets asks the same.
func FuzzKeyframeRequest(f *testing.F) {
	const sender, media = 416464511, 585466891
	seeds := [][]rtcp.Packet{
		{&rtcp.ReceiverReport{SSRC: sender, Reports: []rtcp.ReceptionReport{{SSRC: media, LastSequenceNumber: 7}}},
			&rtcp.PictureLossIndication{SenderSSRC: sender, MediaSSRC: media}},
		{&rtcp.FullIntraRequest{SenderSSRC: sender, MediaSSRC: media, FIR: []rtcp.FIREntry{{SSRC: media, SequenceNumber: 3}}}},
		{&rtcp.TransportLayerNack{SenderSSRC: sender, MediaSSRC: media, Nacks: []rtcp.NackPair{{PacketID: 12, LostPackets: 3}}}},
		{&rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: sender, Bitrate: 1.5e6, SSRCs: []uint32{media}}},
		{&rtcp.TransportLayerCC{SenderSSRC: sender, MediaSSRC: media, BaseSequenceNumber: 1, PacketStatusCount: 1,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: 1, RunLength: 1}},
			RecvDeltas:   []*rtcp.RecvDelta{{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 250}}}},
	}
	for _, s := range seeds {
		b, err := rtcp.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x81, 0xce, 0x00, 0x01, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := slices.Clone(b)
		want, fir := keyframeRequestOf(b)
		if !bytes.Equal(b, orig) {
			t.Fatal("keyframeRequest changed its input")
		}
		if fir && !want {
			t.Fatal("FIR without a request")
		}
		if !want {
			return
		}
		types, ok := rtcpHeaders(b)
		if !ok {
			t.Fatalf("keyframe requested by a malformed compound packet % x", b)
		}
		var pli, hasFIR bool
		for _, ty := range types {
			pli = pli || ty == [2]uint8{uint8(rtcp.TypePayloadSpecificFeedback), rtcp.FormatPLI}
			hasFIR = hasFIR || ty == [2]uint8{uint8(rtcp.TypePayloadSpecificFeedback), rtcp.FormatFIR}
		}
		if !pli && !hasFIR || fir && !hasFIR || !fir && !pli {
			t.Fatalf("request (fir %v) from packets %v", fir, types)
		}
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		again, err := rtcp.Marshal(pkts)
		if err != nil {
			return // pion decodes some packets it cannot encode; they asked already
		}
		if w, f := keyframeRequestOf(again); w != want || f != fir {
			t.Fatalf("re-encoded packet asks (%v, %v), the original (%v, %v)", w, f, want, fir)
		}
	})
}

func TestKeyframeRequest(t *testing.T) {
	const sender, media = 416464511, 585466891
	pli := &rtcp.PictureLossIndication{SenderSSRC: sender, MediaSSRC: media}
	fir := &rtcp.FullIntraRequest{SenderSSRC: sender, MediaSSRC: media, FIR: []rtcp.FIREntry{{SSRC: media, SequenceNumber: 1}}}
	rr := &rtcp.ReceiverReport{SSRC: sender}
	nack := &rtcp.TransportLayerNack{SenderSSRC: sender, MediaSSRC: media, Nacks: []rtcp.NackPair{{PacketID: 5}}}
	for _, tc := range []struct {
		name      string
		pkts      []rtcp.Packet
		want, fir bool
	}{
		{"PLI", []rtcp.Packet{pli}, true, false},
		{"FIR", []rtcp.Packet{fir}, true, true},
		{"report then PLI", []rtcp.Packet{rr, pli}, true, false},
		{"PLI and FIR", []rtcp.Packet{pli, fir}, true, true},
		{"NACK", []rtcp.Packet{rr, nack}, false, false},
		{"report", []rtcp.Packet{rr}, false, false},
	} {
		b, err := rtcp.Marshal(tc.pkts)
		if err != nil {
			t.Fatal(err)
		}
		if w, f := keyframeRequestOf(b); w != tc.want || f != tc.fir {
			t.Errorf("%s: (%v, %v), want (%v, %v)", tc.name, w, f, tc.want, tc.fir)
		}
		if len(b) > 8 {
			if w, _ := keyframeRequestOf(b[:len(b)-4]); w {
				t.Errorf("%s: a truncated packet asks for a keyframe", tc.name)
			}
		}
	}
}

// keyframeRequestOf is readFeedback's keyframe request.
func keyframeRequestOf(b []byte) (want, fir bool) {
	fb := readFeedback(b)
	return fb.keyframe, fb.fir
}
