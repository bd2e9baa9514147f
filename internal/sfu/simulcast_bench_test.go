package sfu

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// BenchmarkSimulcastFanout measures what choosing a layer per subscriber
// adds per packet: one video packet of a simulcast layer through
// pubTrack.fanout to n subscribers who receive that layer (each a viewer
// with its own local track, not bound to a connection, so that the
// transport's cost is left out), against the same packet written to one
// local track, as a track without simulcast is.
//
//	go test ./internal/sfu -run '^$' -bench SimulcastFanout -count 5
func BenchmarkSimulcastFanout(b *testing.B) {
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1, Timestamp: 3000, SSRC: 1}, Payload: make([]byte, 1100)}
	b.Run("single-track", func(b *testing.B) {
		local, err := webrtc.NewTrackLocalStaticRTP(vp8, "cam", "s")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			pkt.SequenceNumber++
			_ = local.WriteRTP(&pkt)
		}
	})
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("simulcast-%d", n), func(b *testing.B) {
			t := &pubTrack{sim: &simulcast{codec: webrtc.MimeTypeVP8}}
			l := &layer{rid: "f"}
			t.sim.addLayer(l)
			now := time.Now()
			l.last.Store(now.UnixNano())
			l.rate.Store(1_300_000)
			for range n {
				local, err := webrtc.NewTrackLocalStaticRTP(vp8, "cam", "s")
				if err != nil {
					b.Fatal(err)
				}
				t.addViewer(&viewer{conn: &conn{}, local: local})
			}
			for _, v := range *t.viewers.Load() {
				v.target, v.cur, v.nextPick = l, l, now.Add(time.Hour)
			}
			b.ReportAllocs()
			for b.Loop() {
				pkt.SequenceNumber++
				t.fanout(l, &pkt, now)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/viewer")
		})
	}
}
