package sfu

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// simulcastRIDs are the RTP stream ids (RFC 8851) offered for the camera,
// from the smallest encoding to the full one: the page scales them down
// by 4, 2 and 1 (docs/signalling.md, "Simulcast").
var simulcastRIDs = []string{"q", "h", "f"}

// Layer selection (see chooseLayer).
const (
	// layerIdle: a layer with no packet for this long is not chosen (the
	// browser stopped sending it, as it does when its uplink shrinks).
	layerIdle = time.Second
	// rateWindow is the period over which a layer's bitrate is measured.
	rateWindow = 500 * time.Millisecond
	// chooseEvery is how often a subscriber's layer is chosen again.
	chooseEvery = 250 * time.Millisecond
	// upHold is how long a subscriber stays on a layer before going up
	// (or pausing again after a probe): going down is immediate.
	upHold = 2 * time.Second
	// pauseProbe: video paused for this long resumes on the smallest
	// layer, so that the estimate has something to grow on.
	pauseProbe = 5 * time.Second
	// trialEvery is the first wait between two tries of the next layer up
	// when the estimate covers the current layer and no more (see
	// choose); it doubles after each try, up to maxTrialEvery. A try lasts
	// trialFor.
	trialEvery    = 8 * time.Second
	maxTrialEvery = 64 * time.Second
	trialFor      = 3 * time.Second
	// audioReserve is kept from a subscriber's estimate for the audio it
	// receives: video is paused before audio suffers.
	audioReserve = 64_000
)

// offerSimulcast adds to the media section of the camera's receiving
// transceiver (mid) the RTP stream ids it takes (RFC 8851) and
// a=simulcast:recv (RFC 8853), unless it has them (pion repeats them in
// later offers once the answer named them). It reports whether it changed
// d.
func offerSimulcast(d *sdp.SessionDescription, mid string) bool {
	for _, m := range d.MediaDescriptions {
		if v, _ := m.Attribute("mid"); v != mid || m.MediaName.Media != "video" {
			continue
		}
		if _, ok := m.Attribute("simulcast"); ok {
			return false
		}
		for _, rid := range simulcastRIDs {
			m.WithValueAttribute("rid", rid+" recv")
		}
		m.WithValueAttribute("simulcast", "recv "+strings.Join(simulcastRIDs, ";"))
		return true
	}
	return false
}

// onLayer publishes the encodings (layers) of a simulcast track, each
// arriving as a remote track with its RTP stream id, as one track: the
// first to arrive publishes it, the others join it.
func (c *conn) onLayer(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver, source string) {
	l := &layer{rid: remote.RID(), remote: remote, kf: keyframer{pc: c.pc, ssrc: uint32(remote.SSRC())}}
	c.mu.Lock()
	if c.cleaningUp {
		c.mu.Unlock()
		return
	}
	var t *pubTrack
	for _, p := range c.published {
		if p.sim != nil && p.sim.receiver == receiver {
			t = p
			break
		}
	}
	first := t == nil
	if first {
		t = c.newPubTrack(remote, source)
		t.sim = &simulcast{receiver: receiver, codec: remote.Codec().MimeType}
		c.published = append(c.published, t)
	}
	t.sim.addLayer(l)
	c.mu.Unlock()
	if first && !c.room.publish(t) {
		c.goMedia(func() { drain(remote) })
		return
	}
	if first {
		c.log.Info("track published", "source", source, "codec", remote.Codec().MimeType, "simulcast", true)
	}
	c.log.Debug("simulcast layer", "source", source, "rid", l.rid)
	c.goMedia(func() {
		t.forwardLayer(l)
		if first {
			c.room.unpublish(t)
		}
	})
	c.goMedia(func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := receiver.ReadSimulcast(buf, l.rid); err != nil {
				return
			}
		}
	})
}

// checkRIDs refuses RTP stream ids (RFC 8851) in the answer's media
// section am where the offer's om offered none, ones it did not offer,
// and ones the page would not send: each is a stream the SFU would read.
func checkRIDs(om, am *sdp.MediaDescription) error {
	_, offered := om.Attribute("simulcast")
	n := 0
	for _, a := range am.Attributes {
		if a.Key != "rid" {
			continue
		}
		n++
		id, dir, _ := strings.Cut(a.Value, " ")
		if dir, _, _ = strings.Cut(dir, " "); dir != "send" {
			return fmt.Errorf("the answer's stream id %s is not sent", teleconsult.Quote(id))
		}
		if !offered || !slices.Contains(simulcastRIDs, id) || n > len(simulcastRIDs) {
			return fmt.Errorf("the answer's stream id %s was not offered", teleconsult.Quote(id))
		}
	}
	return nil
}

// simulcast is the set of encodings (layers) of one published track, each
// its own remote track read by its own goroutine, and the subscribers,
// each written on its own local track with the layer chosen for it.
type simulcast struct {
	receiver *webrtc.RTPReceiver
	codec    string // MIME type, for keyframe detection

	mu     sync.Mutex
	layers atomic.Pointer[[]*layer] // copied on change
}

// layer is one encoding of a simulcast track.
type layer struct {
	rid    string
	remote *webrtc.TrackRemote
	kf     keyframer

	last  atomic.Int64 // unix nanoseconds of the last packet
	rate  atomic.Int64 // bit/s over the last rateWindow
	bytes int64        // forwarding goroutine only: since winAt
	winAt time.Time    // forwarding goroutine only
}

// viewer is one subscriber of a track. The rest is for a simulcast
// track, which it receives on its own local track.
type viewer struct {
	conn  *conn
	local *webrtc.TrackLocalStaticRTP

	mu       sync.Mutex
	cur      *layer // being forwarded; nil: none (paused or not started)
	target   *layer // chosen; nil: paused
	nextPick time.Time
	changed  time.Time // when cur last changed
	paused   time.Time // when the video was paused (zero: it is not)
	// probeUntil: resumed after a pause, the video is not paused again
	// before it.
	probeUntil time.Time
	// A try of the next layer up: until trialUntil, begun at an estimate
	// of trialEst; the next after nextTrial, backoff after the last.
	trialUntil, nextTrial time.Time
	trialEst              int64
	backoff               time.Duration
	started               bool
	seqOff                uint16
	tsOff                 uint32
	lastSeq               uint16
	lastTS                uint32
	lastAt                time.Time
}

func (s *simulcast) addLayer(l *layer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old []*layer
	if p := s.layers.Load(); p != nil {
		old = *p
	}
	list := append(slices.Clip(old), l)
	s.layers.Store(&list)
}

// requestKeyframe asks every layer for a keyframe.
func (s *simulcast) requestKeyframe(fir bool) {
	if p := s.layers.Load(); p != nil {
		for _, l := range *p {
			l.kf.request(fir)
		}
	}
}

// forwardLayer reads layer l and writes each packet to the subscribers
// that receive l, or switch to it on this packet (a keyframe's first).
// Header extensions are dropped, and what moderation holds back is not
// forwarded, as in pubTrack.forward.
func (t *pubTrack) forwardLayer(l *layer) {
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	l.winAt = time.Now()
	for {
		n, _, err := l.remote.Read(buf)
		if err != nil {
			return
		}
		if t.held() || !forwardable(&pkt, buf[:n]) {
			continue
		}
		now := time.Now()
		l.last.Store(now.UnixNano())
		l.bytes += int64(n)
		if d := now.Sub(l.winAt); d >= rateWindow {
			l.rate.Store(l.bytes * 8 * int64(time.Second) / int64(d))
			l.bytes, l.winAt = 0, now
		}
		t.fanout(l, &pkt, now)
	}
}

// fanout writes pkt, of layer l, to the subscribers that receive l, or
// switch to it on this packet (a keyframe's first).
func (t *pubTrack) fanout(l *layer, pkt *rtp.Packet, now time.Time) {
	p := t.viewers.Load()
	if p == nil {
		return
	}
	key := -1 // not decoded yet
	for _, v := range *p {
		v.mu.Lock()
		if !now.Before(v.nextPick) {
			v.choose(t.sim, now)
		}
		if v.target == l && v.cur != l {
			if key < 0 {
				key = 0
				if isKeyframe(t.sim.codec, pkt.Payload) {
					key = 1
				}
			}
			if key == 1 {
				v.switchTo(l, pkt, now)
			} else {
				l.kf.request(false)
			}
		}
		if v.cur == l {
			v.write(pkt, now)
		}
		v.mu.Unlock()
	}
}

// choose picks v's target layer by its connection's downlink estimate;
// v.mu is held. Without an estimate (a subscriber that sends none) it is
// the largest active layer. Otherwise it is the largest whose measured
// bitrate fits in the estimate less 10 % and less audioReserve: down at
// once, up only after upHold on the current layer. When none fits, the
// video pauses (audio goes on), and resumes on the smallest layer after
// pauseProbe for at least upHold, so that the estimate can grow.
//
// A browser's REMB grows only with what it receives (at most about 1.5
// times), so a subscriber sent a small layer would stay on it: when the
// estimate covers the current layer, the next one up is tried for
// trialFor (trialEvery after the last try, doubling), and kept if the
// estimate then fits it; the try ends at once if the estimate falls by
// 15 %.
func (v *viewer) choose(s *simulcast, now time.Time) {
	v.nextPick = now.Add(chooseEvery)
	var active []*layer
	if p := s.layers.Load(); p != nil {
		for _, l := range *p {
			if now.Sub(time.Unix(0, l.last.Load())) < layerIdle {
				active = append(active, l)
			}
		}
	}
	if len(active) == 0 {
		return
	}
	// Smallest first; layers not measured yet keep their arrival order.
	slices.SortStableFunc(active, func(a, b *layer) int { return cmp.Compare(a.rate.Load(), b.rate.Load()) })
	est := v.conn.bwe.estimate()
	if est == 0 {
		v.target, v.paused = active[len(active)-1], time.Time{}
		return
	}
	budget := est*9/10 - audioReserve
	var pick *layer
	for _, l := range active {
		if l.rate.Load() <= budget {
			pick = l
		}
	}
	switch {
	case pick == nil && v.target == nil: // paused
		if now.Sub(v.paused) >= pauseProbe {
			v.target, v.paused, v.probeUntil = active[0], time.Time{}, now.Add(upHold)
		}
	case pick == nil:
		if now.Before(v.probeUntil) {
			return
		}
		v.target, v.cur, v.paused = nil, nil, now
	case v.target == nil || v.cur == nil:
		v.target, v.paused = pick, time.Time{}
	case now.Before(v.trialUntil):
		if est < v.trialEst*85/100 {
			v.target, v.trialUntil = pick, time.Time{}
		}
	case pick.rate.Load() < v.cur.rate.Load():
		v.target = pick
	case now.Sub(v.changed) < upHold:
	case pick != v.cur:
		v.target, v.backoff = pick, 0
	case !now.Before(v.nextTrial) && est >= v.cur.rate.Load():
		if i := slices.Index(active, v.cur); i >= 0 && i+1 < len(active) {
			v.backoff = min(max(2*v.backoff, trialEvery), maxTrialEvery)
			v.target, v.trialUntil, v.trialEst, v.nextTrial = active[i+1], now.Add(trialFor), est, now.Add(v.backoff)
		}
	}
}

// switchTo makes l the forwarded layer from pkt, the first packet of a
// keyframe: sequence numbers and timestamps continue from the last packet
// written (RFC 3550 section 5.1), the timestamp advanced by the time
// elapsed. v.mu is held.
func (v *viewer) switchTo(l *layer, pkt *rtp.Packet, now time.Time) {
	if v.started {
		v.seqOff = v.lastSeq + 1 - pkt.SequenceNumber
		// 90 kHz ticks (RFC 7741 section 4.1) since the last packet,
		// at least 1, at most a minute's.
		ticks := max(1, min(now.Sub(v.lastAt), time.Minute)*90/time.Millisecond)
		step := uint32(ticks) //nolint:gosec // G115: 1 ≤ ticks ≤ 5 400 000
		v.tsOff = v.lastTS + step - pkt.Timestamp
	}
	v.cur, v.changed = l, now
}

// write writes pkt to v with its sequence number and timestamp shifted;
// v.mu is held. The packet is restored for the next subscriber.
func (v *viewer) write(pkt *rtp.Packet, now time.Time) {
	seq, ts := pkt.SequenceNumber, pkt.Timestamp
	pkt.SequenceNumber += v.seqOff
	pkt.Timestamp += v.tsOff
	v.started, v.lastSeq, v.lastTS, v.lastAt = true, pkt.SequenceNumber, pkt.Timestamp, now
	// Errors name a subscriber whose sender closed.
	_ = v.local.WriteRTP(pkt)
	pkt.SequenceNumber, pkt.Timestamp = seq, ts
}

// requestKeyframe asks for a keyframe of the layer v receives (or is
// switching to).
func (v *viewer) requestKeyframe(fir bool) {
	v.mu.Lock()
	l := v.target
	if l == nil {
		l = v.cur
	}
	v.mu.Unlock()
	if l != nil {
		l.kf.request(fir)
	}
}

// isKeyframe reports whether payload is the first packet of a keyframe,
// for VP8 (RFC 7741 section 4) and H.264 (RFC 6184 section 5); other
// codecs never switch layers.
func isKeyframe(codec string, payload []byte) bool {
	switch {
	case strings.EqualFold(codec, webrtc.MimeTypeVP8):
		return vp8Keyframe(payload)
	case strings.EqualFold(codec, webrtc.MimeTypeH264):
		return h264Keyframe(payload)
	}
	return false
}

// vp8Keyframe reports whether p starts a VP8 keyframe: the payload
// descriptor (RFC 7741 section 4.2) has S set and partition index 0, and
// the payload header's P bit (section 4.3, inverse key frame flag) is 0.
func vp8Keyframe(p []byte) bool {
	if len(p) == 0 || p[0]&0x10 == 0 || p[0]&0x07 != 0 {
		return false
	}
	i := 1
	if p[0]&0x80 != 0 { // X: extended control bits
		if len(p) <= i {
			return false
		}
		ext := p[i]
		i++
		if ext&0x80 != 0 { // I: PictureID, 7 or 15 bits
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0
}

// h264Keyframe reports whether p carries or starts an IDR slice or a
// sequence parameter set (NAL unit types 5 and 7): as a single NAL unit,
// in a STAP-A (section 5.7.1) or at the start of an FU-A (section 5.8).
func h264Keyframe(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	key := func(t byte) bool { t &= 0x1f; return t == 5 || t == 7 }
	switch p[0] & 0x1f {
	case 5, 7:
		return true
	case 24: // STAP-A: 16-bit sizes, then the units
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			i += 2
			if size == 0 || i+size > len(p) {
				return false
			}
			if key(p[i]) {
				return true
			}
			i += size
		}
	case 28: // FU-A: the start bit and the unit's type in the FU header
		return len(p) > 1 && p[1]&0x80 != 0 && key(p[1])
	}
	return false
}
