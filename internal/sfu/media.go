package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Sources of published tracks (tracks[].source).
const (
	sourceMicrophone = "microphone"
	sourceCamera     = "camera"
	sourceScreen     = "screen"
)

// minKeyframeInterval throttles keyframe requests to one publisher track:
// requests from many subscribers within it are answered by one keyframe.
const minKeyframeInterval = 200 * time.Millisecond

// pubTrack is a track a participant publishes, forwarded to the others: one
// remote track read once, written to one local track bound to every
// subscriber's sender.
type pubTrack struct {
	owner    *conn
	pid      string
	name     string
	source   string
	kind     webrtc.RTPCodecType
	streamID string
	trackID  string
	remote   *webrtc.TrackRemote
	local    *webrtc.TrackLocalStaticRTP
	pc       *webrtc.PeerConnection // the publisher's
	ssrc     uint32
	// mod is what moderation holds back of the owner (set by
	// room.publish before forwarding starts).
	mod *modState

	kfMu         sync.Mutex
	kfPending    bool      // a request waits for the interval to pass
	lastKeyframe time.Time // when the last request was sent
	firSeq       uint8
	wantFIR      atomic.Bool
}

// forward reads the publisher's RTP and writes it to every subscriber.
// Header extensions are dropped: their ids and values (MID, transport-wide
// sequence numbers) belong to the publisher's connection and would
// mislead the subscriber's (a MID extension would make it route the
// packets to the wrong transceiver).
func (t *pubTrack) forward() {
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := t.remote.Read(buf)
		if err != nil {
			return
		}
		if t.held() || !forwardable(&pkt, buf[:n]) {
			continue
		}
		// Errors name a subscriber whose sender closed: the others
		// received the packet.
		_ = t.local.WriteRTP(&pkt)
	}
}

// forwardable decodes the RTP packet b into pkt, reused from the previous
// packet, without its header extensions, and reports whether b is one.
func forwardable(pkt *rtp.Packet, b []byte) bool {
	if pkt.Unmarshal(b) != nil {
		return false
	}
	pkt.Header.Extension = false
	pkt.Header.Extensions = pkt.Header.Extensions[:0]
	return true
}

// requestKeyframe asks the publisher for a keyframe: PLI (RFC 4585
// section 6.3.1), or FIR (RFC 5104 section 4.3.1) when a subscriber asked
// with one. Requests are at least minKeyframeInterval apart: one arriving
// sooner is sent when the interval is over, merged with any other.
func (t *pubTrack) requestKeyframe(fir bool) {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	if fir {
		t.wantFIR.Store(true)
	}
	t.kfMu.Lock()
	defer t.kfMu.Unlock()
	if t.kfPending {
		return
	}
	wait := minKeyframeInterval - time.Since(t.lastKeyframe)
	if wait <= 0 {
		t.sendKeyframeRequest()
		return
	}
	t.kfPending = true
	time.AfterFunc(wait, func() {
		t.kfMu.Lock()
		defer t.kfMu.Unlock()
		t.kfPending = false
		t.sendKeyframeRequest()
	})
}

// sendKeyframeRequest sends a PLI or FIR now; t.kfMu is held.
func (t *pubTrack) sendKeyframeRequest() {
	t.lastKeyframe = time.Now()
	var pkt rtcp.Packet = &rtcp.PictureLossIndication{MediaSSRC: t.ssrc}
	if t.wantFIR.Swap(false) {
		t.firSeq++
		pkt = &rtcp.FullIntraRequest{MediaSSRC: t.ssrc, FIR: []rtcp.FIREntry{{SSRC: t.ssrc, SequenceNumber: t.firSeq}}}
	}
	_ = t.pc.WriteRTCP([]rtcp.Packet{pkt})
}

// drainRTCP reads the publisher's RTCP for a receiver, so that the
// interceptors see its sender reports and the buffer never fills.
func drainRTCP(r *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := r.Read(buf); err != nil {
			return
		}
	}
}

// subscription is one forwarded track on one subscriber's connection.
type subscription struct {
	track       *pubTrack
	transceiver *webrtc.RTPTransceiver
	sender      *webrtc.RTPSender
	// fresh is true until the subscriber's connection has been asked a
	// keyframe for it.
	fresh bool
}

// readRTCP reads the subscriber's RTCP for this track: the NACK responder
// (an interceptor) answers NACKs as they pass; PLI and FIR are forwarded to
// the publisher.
func (s *subscription) readRTCP() {
	buf := make([]byte, 1500)
	for {
		n, _, err := s.sender.Read(buf)
		if err != nil {
			return
		}
		if want, fir := keyframeRequest(buf[:n]); want {
			s.track.requestKeyframe(fir)
		}
	}
}

// keyframeRequest reports whether the compound RTCP packet b asks for a
// keyframe (a PLI or a FIR), and whether with a FIR. A packet that does
// not decode asks nothing.
func keyframeRequest(b []byte) (want, fir bool) {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return false, false
	}
	for _, p := range pkts {
		switch p.(type) {
		case *rtcp.PictureLossIndication:
			want = true
		case *rtcp.FullIntraRequest:
			want, fir = true, true
		}
	}
	return want, fir
}
