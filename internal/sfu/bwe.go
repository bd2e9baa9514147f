package sfu

import (
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Downlink estimates.
const (
	// maxEstimate caps what a subscriber may claim (REMB encodes up to
	// about 2^81 bit/s).
	maxEstimate = 100_000_000
	// estimateTTL: an estimate not renewed for this long is forgotten
	// (the subscriber is treated as one that sends none).
	estimateTTL = 10 * time.Second
	// rembEvery is how often a publisher without simulcast is told the
	// smallest estimate of its subscribers.
	rembEvery = time.Second
)

// bwe is a subscriber's downlink estimate, from the REMB
// (draft-alvestrand-rmcat-remb-03) its browser sends for the tracks it
// receives. The zero value knows nothing.
type bwe struct {
	bits atomic.Int64 // bit/s, at least 1 once set
	at   atomic.Int64 // unix nanoseconds of the last update
}

// set records an estimate of b bit/s, clamped to [1, maxEstimate]: 0
// (or anything below 1) means "stop sending", which pauses video.
func (e *bwe) set(b float32) {
	v := int64(maxEstimate)
	if f := float64(b); f < maxEstimate && !math.IsNaN(f) {
		v = max(1, int64(f))
	}
	e.bits.Store(v)
	e.at.Store(time.Now().UnixNano())
}

// estimate returns the estimate in bit/s, 0 when there is none (never
// set, or not renewed for estimateTTL).
func (e *bwe) estimate() int64 {
	if time.Since(time.Unix(0, e.at.Load())) > estimateTTL {
		return 0
	}
	return e.bits.Load()
}

// subscribe adds subscriber c and returns its viewer and the local track
// its sender carries: the track's own, shared by every subscriber, or, for
// a simulcast track, one of its own.
func (t *pubTrack) subscribe(c *conn) (*viewer, webrtc.TrackLocal, error) {
	v := &viewer{conn: c}
	var local webrtc.TrackLocal = t.local
	if t.sim != nil {
		l, err := webrtc.NewTrackLocalStaticRTP(t.remote.Codec().RTPCodecCapability, t.trackID, t.streamID)
		if err != nil {
			return nil, nil, err
		}
		v.local, local = l, l
	}
	t.addViewer(v)
	return v, local, nil
}

// addViewer adds v to the track's subscribers.
func (t *pubTrack) addViewer(v *viewer) {
	t.vmu.Lock()
	defer t.vmu.Unlock()
	var old []*viewer
	if p := t.viewers.Load(); p != nil {
		old = *p
	}
	list := append(slices.Clip(old), v)
	t.viewers.Store(&list)
}

// unsubscribe removes v.
func (t *pubTrack) unsubscribe(v *viewer) {
	t.vmu.Lock()
	defer t.vmu.Unlock()
	p := t.viewers.Load()
	if p == nil {
		return
	}
	list := slices.DeleteFunc(slices.Clone(*p), func(x *viewer) bool { return x == v })
	t.viewers.Store(&list)
}

// limitPublisher tells the publisher of a video track without simulcast,
// every rembEvery, the smallest estimate of its subscribers, in a REMB
// for the track's SSRC: its browser lowers its bitrate to what the
// slowest subscriber can take. Subscribers without an estimate do not
// count; with none, nothing is sent. Called by forward only.
func (t *pubTrack) limitPublisher(now time.Time) {
	if now.Sub(t.rembAt) < rembEvery {
		return
	}
	t.rembAt = now
	p := t.viewers.Load()
	if p == nil {
		return
	}
	var low int64
	for _, v := range *p {
		if e := v.conn.bwe.estimate(); e > 0 && (low == 0 || e < low) {
			low = e
		}
	}
	if low == 0 {
		return
	}
	_ = t.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(low), SSRCs: []uint32{t.ssrc}}})
}
