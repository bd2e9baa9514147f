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
	kf  keyframer
	// sim holds the layers of a simulcast track (simulcast.go); nil for
	// one encoding, forwarded to every subscriber through local.
	sim *simulcast

	vmu     sync.Mutex
	viewers atomic.Pointer[[]*viewer] // subscribers; copied on change
	rembAt  time.Time                 // forward only: the last REMB sent (bwe.go)
}

// keyframer sends keyframe requests for one RTP stream of a publisher.
type keyframer struct {
	pc   *webrtc.PeerConnection // the publisher's
	ssrc uint32

	mu           sync.Mutex
	pending      bool      // a request waits for the interval to pass
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
		if t.kind == webrtc.RTPCodecTypeVideo {
			t.limitPublisher(time.Now())
		}
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

// requestKeyframe asks the publisher for a keyframe (of every layer of a
// simulcast track).
func (t *pubTrack) requestKeyframe(fir bool) {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	if t.sim != nil {
		t.sim.requestKeyframe(fir)
		return
	}
	t.kf.request(fir)
}

// request asks the publisher for a keyframe: PLI (RFC 4585
// section 6.3.1), or FIR (RFC 5104 section 4.3.1) when a subscriber asked
// with one. Requests are at least minKeyframeInterval apart: one arriving
// sooner is sent when the interval is over, merged with any other.
func (k *keyframer) request(fir bool) {
	if fir {
		k.wantFIR.Store(true)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pending {
		return
	}
	wait := minKeyframeInterval - time.Since(k.lastKeyframe)
	if wait <= 0 {
		k.send()
		return
	}
	k.pending = true
	time.AfterFunc(wait, func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.pending = false
		k.send()
	})
}

// send sends a PLI or FIR now; k.mu is held.
func (k *keyframer) send() {
	k.lastKeyframe = time.Now()
	var pkt rtcp.Packet = &rtcp.PictureLossIndication{MediaSSRC: k.ssrc}
	if k.wantFIR.Swap(false) {
		k.firSeq++
		pkt = &rtcp.FullIntraRequest{MediaSSRC: k.ssrc, FIR: []rtcp.FIREntry{{SSRC: k.ssrc, SequenceNumber: k.firSeq}}}
	}
	_ = k.pc.WriteRTCP([]rtcp.Packet{pkt})
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
	viewer      *viewer
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
		fb := readFeedback(buf[:n])
		if fb.remb {
			s.viewer.conn.bwe.set(fb.bitrate)
		}
		if fb.keyframe {
			if s.track.sim != nil {
				s.viewer.requestKeyframe(fb.fir)
			} else {
				s.track.requestKeyframe(fb.fir)
			}
		}
	}
}

// feedback is what a subscriber's compound RTCP packet asks of the SFU.
type feedback struct {
	keyframe bool    // a PLI or a FIR
	fir      bool    // a FIR
	remb     bool    // a REMB, with bitrate
	bitrate  float32 // bit/s, as the REMB says (draft-alvestrand-rmcat-remb-03)
}

// readFeedback decodes the compound RTCP packet b: whether it asks for a
// keyframe (a PLI or a FIR), whether with a FIR, and the last REMB
// estimate in it. A packet that does not decode asks nothing.
func readFeedback(b []byte) (fb feedback) {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return feedback{}
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication:
			fb.keyframe = true
		case *rtcp.FullIntraRequest:
			fb.keyframe, fb.fir = true, true
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			fb.remb, fb.bitrate = true, p.Bitrate
		}
	}
	return fb
}
