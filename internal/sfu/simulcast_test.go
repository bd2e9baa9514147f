package sfu

import (
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// testLayers are the simulcast layers a test client sends: packets of
// each 30 fps frame and their size (about 70 kbit/s, 460 kbit/s and
// 1.3 Mbit/s). The third payload byte names the layer.
var testLayers = []struct {
	rid     string
	packets int
	size    int
}{{"q", 1, 260}, {"h", 2, 940}, {"f", 5, 1060}}

// answerRecvRIDs matches what pion, as an answerer, repeats of the offer's
// simulcast (a=rid:… recv, a=simulcast:recv) in a section it sends on: a
// browser does not, and pion's own parser then sees every id twice.
var answerRecvRIDs = regexp.MustCompile(`(?m)^a=(rid:\S+ recv|simulcast:recv \S+)\r\n`)

// startSimulcast adds the microphone and a camera sent in testLayers, each
// layer with its own RTP stream id, and starts sending: a layer sends a
// keyframe first and after each PLI for its SSRC.
func (c *client) startSimulcast(pc *webrtc.PeerConnection, audio *webrtc.TrackLocalStaticSample) error {
	if _, err := pc.AddTransceiverFromTrack(audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		return err
	}
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	tracks := make([]*webrtc.TrackLocalStaticRTP, len(testLayers))
	var sender *webrtc.RTPSender
	for i, l := range testLayers {
		t, err := webrtc.NewTrackLocalStaticRTP(vp8, "cam", "local", webrtc.WithRTPStreamID(l.rid))
		if err != nil {
			return err
		}
		tracks[i] = t
		if i == 0 {
			tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
			if err != nil {
				return err
			}
			sender = tr.Sender()
			continue
		}
		if err := sender.AddEncoding(t); err != nil {
			return err
		}
	}
	keys := make([]atomic.Bool, len(testLayers))
	for i, l := range testLayers {
		keys[i].Store(true)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for {
				pkts, _, err := sender.ReadSimulcastRTCP(l.rid)
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); ok {
						c.plis.Add(1)
						keys[i].Store(true)
					}
				}
			}
		}()
	}
	if c.opts.noMedia {
		return nil
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		opus := make([]byte, 60)
		var seq [3]uint16
		for n := 0; ; n++ {
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
			_ = audio.WriteSample(media.Sample{Data: opus, Duration: 20 * time.Millisecond})
			if n%3 == 2 {
				continue // video at about 33 frames a second
			}
			ts := uint32(n) * 1800
			// The MID and RTP stream id header extensions (RFC 8843,
			// RFC 8852), as browsers send them: pion needs them to map an
			// SSRC to its layer.
			var midID, ridID int
			for _, x := range sender.GetParameters().HeaderExtensions {
				switch x.URI {
				case sdp.SDESMidURI:
					midID = x.ID
				case sdp.SDESRTPStreamIDURI:
					ridID = x.ID
				}
			}
			mid := ""
			for _, tr := range pc.GetTransceivers() {
				if tr.Sender() == sender {
					mid = tr.Mid()
				}
			}
			if midID == 0 || ridID == 0 || mid == "" {
				continue // not negotiated yet
			}
			for i, l := range testLayers {
				key := keys[i].Swap(false)
				for k := range l.packets {
					p := make([]byte, l.size)
					p[2] = l.rid[0]
					if k == 0 {
						p[0] = 0x10 // S, partition 0
						if !key {
							p[1] = 0x01 // P: an interframe
						}
					}
					seq[i]++
					h := rtp.Header{Version: 2, SequenceNumber: seq[i], Timestamp: ts, Marker: k == l.packets-1}
					_ = h.SetExtension(uint8(midID), []byte(mid))
					_ = h.SetExtension(uint8(ridID), []byte(l.rid))
					_ = tracks[i].WriteRTP(&rtp.Packet{Header: h, Payload: p})
				}
			}
		}
	}()
	return nil
}

// layerMarks follows which simulcast layer a received video track
// carries, by the third payload byte of test layers.
type layerMarks struct {
	mu       sync.Mutex
	cur      byte
	seq      uint16
	switches int
	bad      []string // switches not on a keyframe, or breaking the sequence
	last     time.Time
}

func (m *layerMarks) see(p *rtp.Packet) {
	if len(p.Payload) < 3 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if mark := p.Payload[2]; mark != m.cur {
		if m.cur != 0 {
			m.switches++
			if !vp8Keyframe(p.Payload) {
				m.bad = append(m.bad, string(m.cur)+"→"+string(mark)+" not on a keyframe")
			}
			if p.SequenceNumber != m.seq+1 {
				m.bad = append(m.bad, string(m.cur)+"→"+string(mark)+" broke the sequence")
			}
		}
		m.cur = mark
	}
	m.seq, m.last = p.SequenceNumber, time.Now()
}

// layerFrom returns the layer (its rid's letter) of the latest camera
// packet c received from other, and the tracks' marks.
func (c *client) layerFrom(other *client) (byte, *layerMarks) {
	id := c.trackOf(other.pid(), sourceCamera)
	c.mu.Lock()
	m := c.layers[id]
	c.mu.Unlock()
	if m == nil {
		return 0, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur, m
}

// sendREMB sends, every 100 ms until the client closes, a REMB of the
// bitrate in *bits (none while it is negative) for the camera of other.
func (c *client) sendREMB(other *client, bits *atomic.Int64) {
	c.tb.Helper()
	id := c.trackOf(other.pid(), sourceCamera)
	c.mu.Lock()
	ssrc := c.ssrcs[id]
	c.mu.Unlock()
	if ssrc == 0 {
		c.tb.Fatal("no SSRC for the camera")
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
			}
			if b := bits.Load(); b >= 0 {
				_ = c.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(b), SSRCs: []uint32{ssrc}}})
			}
		}
	}()
}

// A camera published in three layers reaches a subscriber as one track:
// the largest layer while it sends no estimate; the smallest when its
// REMB says 300 kbit/s; the largest again when it says 3 Mbit/s; video
// paused, audio going on, when it says 40 kbit/s. Each switch is on a
// keyframe and keeps the sequence numbers continuous.
func TestSimulcastFollowsEstimate(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{simulcast: true})
	pat := e.join(id, tokens[1], clientOptions{})
	pat.waitMedia(doc)
	doc.waitMedia(pat)
	if n := len(pat.seen("tracks")[len(pat.seen("tracks"))-1].m["tracks"].([]any)); n != 2 {
		t.Fatalf("the patient receives %d tracks, want 2 (microphone and one camera)", n)
	}
	layerIs := func(what string, want byte) {
		t.Helper()
		start := time.Now()
		waitUntil(t, what, func() bool { l, _ := pat.layerFrom(doc); return l == want })
		t.Logf("%s: after %v", what, time.Since(start).Round(time.Millisecond))
	}
	layerIs("the full layer without an estimate", 'f')

	var bits atomic.Int64
	bits.Store(300_000)
	pat.sendREMB(doc, &bits)
	layerIs("the small layer at 300 kbit/s", 'q')
	bits.Store(3_000_000)
	layerIs("the full layer at 3 Mbit/s", 'f')

	bits.Store(40_000)
	start := time.Now()
	waitUntil(t, "video paused at 40 kbit/s", func() bool {
		_, m := pat.layerFrom(doc)
		m.mu.Lock()
		defer m.mu.Unlock()
		return time.Since(m.last) > 500*time.Millisecond
	})
	t.Logf("video paused at 40 kbit/s: no packet for 500 ms after %v", time.Since(start).Round(time.Millisecond))
	audio := pat.packetsFrom(doc.pid(), sourceMicrophone)
	time.Sleep(300 * time.Millisecond)
	if pat.packetsFrom(doc.pid(), sourceMicrophone) <= audio {
		t.Error("audio stopped with the video")
	}
	bits.Store(3_000_000)
	waitUntil(t, "video back at 3 Mbit/s", func() bool {
		_, m := pat.layerFrom(doc)
		m.mu.Lock()
		defer m.mu.Unlock()
		return time.Since(m.last) < 100*time.Millisecond
	})

	_, m := pat.layerFrom(doc)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.switches < 2 || len(m.bad) > 0 {
		t.Errorf("%d switches, bad ones %q", m.switches, m.bad)
	}
}

// nackFlood is a compound RTCP packet of NACKs asking for every packet of
// 64 sequence numbers from ssrc, ten times over.
func nackFlood(ssrc uint32, from uint16) []rtcp.Packet {
	var out []rtcp.Packet
	for range 10 {
		nack := &rtcp.TransportLayerNack{MediaSSRC: ssrc}
		for i := range uint16(4) {
			nack.Nacks = append(nack.Nacks, rtcp.NackPair{PacketID: from + 17*i, LostPackets: 0xffff})
		}
		out = append(out, nack)
	}
	return out
}

// The NACK limit lets through what a lossy subscriber asks, and past
// nackRate requested packets a second hides the NACKs from the responder.
func TestNACKLimit(t *testing.T) {
	var next []byte
	src := interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, next), a, nil
	})
	l, _ := nackLimitFactory{}.NewInterceptor("")
	r := l.BindRTCPReader(src)
	passed := func(pkts []rtcp.Packet) (n int) {
		next, _ = rtcp.Marshal(pkts)
		buf := make([]byte, 1500)
		_, attr, err := r.Read(buf, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := attr.GetRTCPPackets(nil) // cached by the limit
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range got {
			if nack, ok := p.(*rtcp.TransportLayerNack); ok {
				n += requested(nack)
			}
		}
		return n
	}
	// A lossy subscriber: a NACK of 3 packets every 50 ms.
	for i := range 20 {
		if n := passed([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: 7, Nacks: []rtcp.NackPair{{PacketID: uint16(i * 10), LostPackets: 0b11}}}}); n != 3 {
			t.Fatalf("NACK %d: %d packets asked past the limit, want 3", i, n)
		}
	}
	// A flood: 680 packets asked per read.
	total := 0
	start := time.Now()
	for i := range 50 {
		total += passed(nackFlood(7, uint16(i)))
	}
	if limit := nackBurst + int(time.Since(start).Seconds()*nackRate) + 1; total > limit {
		t.Errorf("a flood of %d packets asked: %d passed, limit %d", 50*680, total, limit)
	}
	if total == 0 {
		t.Error("nothing of the flood passed: the burst should")
	}
}

// A subscriber that floods NACKs and sends absurd estimates (2^80 bit/s,
// 0, alternately) gets bounded retransmissions and no effect on the other
// subscriber, who keeps the full layer; the flooder's video pauses and
// resumes on its own, its audio flowing.
func TestSimulcastBadSubscriber(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(3)
	doc := e.join(id, tokens[0], clientOptions{simulcast: true})
	bad := e.join(id, tokens[1], clientOptions{})
	good := e.join(id, tokens[2], clientOptions{})
	bad.waitMedia(doc)
	good.waitMedia(doc)
	waitUntil(t, "the full layer for the good subscriber", func() bool { l, _ := good.layerFrom(doc); return l == 'f' })

	track := bad.trackOf(doc.pid(), sourceCamera)
	bad.mu.Lock()
	ssrc := bad.ssrcs[track]
	bad.mu.Unlock()
	const videoOut = `teleconsult_sfu_rtp_packets_total{direction="out",kind="video"}`
	// What the SFU sends in 2 s without the flood, then with it.
	base, goodBase := scrape(t, e.prov)[videoOut], good.packetsFrom(doc.pid(), sourceCamera)
	time.Sleep(2 * time.Second)
	base, goodBase = scrape(t, e.prov)[videoOut]-base, good.packetsFrom(doc.pid(), sourceCamera)-goodBase
	before := scrape(t, e.prov)[videoOut]
	goodBefore := good.packetsFrom(doc.pid(), sourceCamera)
	_, marks := bad.layerFrom(doc)
	start := time.Now()
	for i := 0; time.Since(start) < 2*time.Second; i++ {
		// The last 64 packets sent, which the SFU keeps to resend.
		marks.mu.Lock()
		from := marks.seq - 60
		marks.mu.Unlock()
		if err := bad.pc.WriteRTCP(nackFlood(ssrc, from)); err != nil {
			t.Fatal(err)
		}
		b := float32(1 << 80)
		if i%2 == 1 {
			b = 0
		}
		if err := bad.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: b, SSRCs: []uint32{ssrc}}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start).Seconds()
	extra := scrape(t, e.prov)[videoOut] - before - base*elapsed/2
	goodGot := good.packetsFrom(doc.pid(), sourceCamera) - goodBefore
	t.Logf("in %.1f s of flood: %.0f video packets sent beyond the usual (%.0f in 2 s), the other subscriber received %d (%d in 2 s before)",
		elapsed, extra, base, goodGot, goodBase)
	// Retransmissions at most the limit's, with a margin for the rate's
	// own variation (a tenth of the usual).
	if limit := elapsed*nackRate + nackBurst + base/10; extra > limit {
		t.Errorf("%.0f video packets sent beyond the usual in %.1f s, limit %.0f", extra, elapsed, limit)
	}
	if extra < nackBurst/2 {
		t.Errorf("%.0f retransmissions: the flood did not reach the responder", extra)
	}
	// The other subscriber gets what it got before the flood (a machine
	// this busy varies by a tenth; without the limit it got a quarter).
	if low := float64(goodBase) * elapsed / 2 * 0.8; float64(goodGot) < low {
		t.Errorf("the other subscriber received %d video packets in %.1f s of flood, %d in 2 s before", goodGot, elapsed, goodBase)
	}
	if l, _ := good.layerFrom(doc); l != 'f' {
		t.Errorf("the other subscriber's layer %q, want f", l)
	}
	_, m := good.layerFrom(doc)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.bad) > 0 {
		t.Errorf("the other subscriber's bad switches %q", m.bad)
	}
}

// A publisher without simulcast is told, in a REMB for its camera, the
// smallest estimate of its subscribers (once a second); one that sends
// none does not count, and an absurd one is capped. Its camera is
// forwarded as before.
func TestREMBToPublisherWithoutSimulcast(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(3)
	doc := e.join(id, tokens[0], clientOptions{})
	slow := e.join(id, tokens[1], clientOptions{})
	silent := e.join(id, tokens[2], clientOptions{})
	slow.waitMedia(doc)
	silent.waitMedia(doc)
	if doc.remb.Load() != 0 {
		t.Fatalf("a REMB of %d bit/s before any subscriber sent an estimate", doc.remb.Load())
	}
	var bits atomic.Int64
	bits.Store(300_000)
	slow.sendREMB(doc, &bits)
	waitUntil(t, "the slow subscriber's estimate at the publisher", func() bool { return doc.remb.Load() == 300_000 })
	bits.Store(1 << 62)
	// REMB carries an 18-bit mantissa: the cap arrives within 0.1 %.
	waitUntil(t, "an absurd estimate capped", func() bool {
		b := doc.remb.Load()
		return b > maxEstimate*999/1000 && b <= maxEstimate
	})
	before := silent.packetsFrom(doc.pid(), sourceCamera)
	waitUntil(t, "the camera still forwarded", func() bool { return silent.packetsFrom(doc.pid(), sourceCamera) > before+20 })
}

// choose, step by step on a clock of its own, with layers of 70 kbit/s,
// 450 kbit/s and 1.3 Mbit/s that always send, and a subscriber whose
// estimate the test sets; the layer chosen is taken at once (as on a
// keyframe).
func TestChooseLayer(t *testing.T) {
	s := &simulcast{}
	rates := map[string]int64{"q": 70_000, "h": 450_000, "f": 1_300_000}
	for _, rid := range simulcastRIDs {
		l := &layer{rid: rid}
		l.rate.Store(rates[rid])
		s.addLayer(l)
	}
	v := &viewer{conn: &conn{}}
	now := time.Unix(1_000_000, 0)
	at := func(d time.Duration, est int64) string {
		t.Helper()
		now = now.Add(d)
		for _, l := range *s.layers.Load() {
			l.last.Store(now.UnixNano())
		}
		if est > 0 {
			v.conn.bwe.set(float32(est))
		}
		v.choose(s, now)
		if v.target != v.cur {
			v.cur, v.changed = v.target, now
		}
		if v.cur == nil {
			return "paused"
		}
		return v.cur.rid
	}
	steps := []struct {
		after time.Duration
		est   int64
		want  string
	}{
		{0, 0, "f"},                            // no estimate: the largest
		{time.Second, 300_000, "q"},            // down at once
		{time.Second, 0, "q"},                  // up held for upHold
		{time.Second, 0, "h"},                  // the estimate covers q: try h
		{2 * time.Second, 0, "h"},              // during the try
		{1500 * time.Millisecond, 0, "q"},      // it did not grow: back down
		{4 * time.Second, 0, "q"},              // the next try 8 s after the last
		{time.Second, 0, "h"},                  // tried again
		{time.Second, 200_000, "q"},            // fell by a third: the try ends at once
		{time.Second, 3_000_000, "q"},          // fits f, but up only after upHold
		{time.Second, 3_000_000, "f"},          // up
		{time.Second, 40_000, "paused"},        // nothing fits: video paused
		{4 * time.Second, 40_000, "paused"},    // for pauseProbe
		{1500 * time.Millisecond, 0, "q"},      // then the smallest again
		{time.Second, 40_000, "q"},             // for upHold at least
		{1500 * time.Millisecond, 0, "paused"}, // and paused again
	}
	for i, st := range steps {
		if got := at(st.after, st.est); got != st.want {
			t.Fatalf("step %d (after %v, estimate %d): %s, want %s", i, st.after, st.est, got, st.want)
		}
	}
}
