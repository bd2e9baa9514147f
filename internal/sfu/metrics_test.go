package sfu

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// dropFactory makes a test peer lossy: it drops every video RTP packet
// whose sequence number is a multiple of every, both ways. Registered
// first, it sits next to the transport, so retransmissions of a dropped
// packet are dropped too and the loss is permanent.
type dropFactory struct{ every uint16 }

func (f dropFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &dropInterceptor{every: f.every}, nil
}

type dropInterceptor struct {
	interceptor.NoOp
	every uint16
}

func (d *dropInterceptor) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if !strings.HasPrefix(info.MimeType, "video/") {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SequenceNumber%d.every == 0 {
			return h.MarshalSize() + len(payload), nil
		}
		return w.Write(h, payload, a)
	})
}

func (d *dropInterceptor) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	if !strings.HasPrefix(info.MimeType, "video/") {
		return r
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, a, err := r.Read(b, a)
			if err != nil || n < 4 || (uint16(b[2])<<8|uint16(b[3]))%d.every != 0 {
				return n, a, err
			}
		}
	})
}

// scrape gathers the provider's metrics through a pedantic registry (which
// checks that Describe and Collect agree) and returns every sample by
// `name{label="value",…}`, labels sorted; a histogram gives _count and
// _sum.
func scrape(t testing.TB, p *Provider) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(p.Collector()); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			key := f.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
				out[key+"_sum"] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

// A real call, lossy on the doctor's side: the scrape shows the call, its
// participants and tracks, RTP in and out in plausible sizes, losses both
// ways, NACKs and PLIs both ways; then a drop and a resume, a refused
// connection, and the window's end ejecting both, after which the gauges
// are 0 and the RTP counters have not gone down.
func TestMetricsAfterCall(t *testing.T) {
	e := newEnv(t, func(s *teleconsult.Settings, _ *Config) { s.Unlimited = false })
	id, tokens := e.visit(2)
	before := scrape(t, e.prov)
	for _, k := range []string{`teleconsult_sfu_calls`, `teleconsult_sfu_participants{state="connected"}`,
		`teleconsult_sfu_rtp_packets_total{direction="in",kind="video"}`, `teleconsult_sfu_disconnects_total{reason="left"}`,
		`teleconsult_sfu_ejections_total{reason="expired"}`, `teleconsult_sfu_reconnects_total{kind="resumed"}`,
		`teleconsult_sfu_rtcp_feedback_total{direction="in",type="nack"}`, `teleconsult_sfu_rtp_packets_lost_total{direction="out",kind="video"}`} {
		if v, ok := before[k]; !ok || v != 0 {
			t.Errorf("before any call: %s = %v (present %v), want 0", k, v, ok)
		}
	}

	doc := e.join(id, tokens[0], clientOptions{drop: 10})
	pat := e.join(id, tokens[1], clientOptions{})
	doc.waitMedia(pat)
	pat.waitMedia(doc)

	// The patient asks for a keyframe of the doctor's camera.
	tr := pat.trackOf(doc.pid(), sourceCamera)
	pat.mu.Lock()
	ssrc := pat.ssrcs[tr]
	pat.mu.Unlock()
	if err := pat.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		t.Fatal(err)
	}

	var s map[string]float64
	wantAll := []string{
		`teleconsult_sfu_rtp_packets_lost_total{direction="in",kind="video"}`,
		`teleconsult_sfu_rtp_packets_lost_total{direction="out",kind="video"}`,
		`teleconsult_sfu_rtcp_feedback_total{direction="out",type="nack"}`,
		`teleconsult_sfu_rtcp_feedback_total{direction="in",type="nack"}`,
		`teleconsult_sfu_rtcp_feedback_total{direction="out",type="pli"}`,
		`teleconsult_sfu_rtcp_feedback_total{direction="in",type="pli"}`,
	}
	waitUntil(t, "losses, NACKs and PLIs both ways", func() bool {
		s = scrape(t, e.prov)
		for _, k := range wantAll {
			if s[k] <= 0 {
				return false
			}
		}
		return true
	})
	for k, want := range map[string]float64{
		`teleconsult_sfu_calls`:                              1,
		`teleconsult_sfu_connections`:                        2,
		`teleconsult_sfu_participants{state="connected"}`:    2,
		`teleconsult_sfu_participants{state="reconnecting"}`: 0,
		`teleconsult_sfu_tracks{kind="audio"}`:               2,
		`teleconsult_sfu_tracks{kind="video"}`:               2,
		`teleconsult_sfu_forwarded_tracks{kind="audio"}`:     2,
		`teleconsult_sfu_forwarded_tracks{kind="video"}`:     2,
	} {
		if s[k] != want {
			t.Errorf("%s = %v, want %v", k, s[k], want)
		}
	}
	for _, kind := range []string{"audio", "video"} {
		in := s[`teleconsult_sfu_rtp_packets_total{direction="in",kind="`+kind+`"}`]
		out := s[`teleconsult_sfu_rtp_packets_total{direction="out",kind="`+kind+`"}`]
		inB := s[`teleconsult_sfu_rtp_bytes_total{direction="in",kind="`+kind+`"}`]
		outB := s[`teleconsult_sfu_rtp_bytes_total{direction="out",kind="`+kind+`"}`]
		// Each packet in goes out to the one other participant.
		if in < 10 || out < in/2 || out > in*3/2 {
			t.Errorf("%s: %v packets in, %v out", kind, in, out)
		}
		// Opus frames are 60 bytes, VP8 frames 900 (plus headers).
		lo, hi := 60.0, 200.0
		if kind == "video" {
			lo, hi = 300, 1300
		}
		for dir, per := range map[string]float64{"in": inB / in, "out": outB / out} {
			if per < lo || per > hi {
				t.Errorf("%s %s: %.0f bytes per packet, want %v to %v", kind, dir, per, lo, hi)
			}
		}
	}
	// The doctor drops one video packet in ten; audio is not lost.
	videoIn := s[`teleconsult_sfu_rtp_packets_total{direction="in",kind="video"}`]
	if lost := s[`teleconsult_sfu_rtp_packets_lost_total{direction="in",kind="video"}`]; lost > videoIn/4 {
		t.Errorf("%v video packets lost of %v received", lost, videoIn)
	}
	if lost := s[`teleconsult_sfu_rtp_packets_lost_total{direction="in",kind="audio"}`]; lost != 0 {
		t.Errorf("%v audio packets lost", lost)
	}

	during := s
	// No label names a visit, a room or a participant.
	for k := range s {
		for _, secret := range []string{id, doc.pid(), pat.pid(), "Verdi", "Rossi"} {
			if strings.Contains(k, secret) {
				t.Errorf("series %s names %s", k, secret)
			}
		}
	}

	// A drop, then a resume within the grace period.
	pat.hangUp()
	e.waitDropped(id, pat.pid())
	waitUntil(t, "the drop counted", func() bool {
		s = scrape(t, e.prov)
		return s[`teleconsult_sfu_disconnects_total{reason="dropped"}`] == 1
	})
	if s[`teleconsult_sfu_participants{state="reconnecting"}`] != 1 || s[`teleconsult_sfu_disconnects_total{reason="dropped"}`] != 1 {
		t.Errorf("after the drop: reconnecting %v, dropped %v", s[`teleconsult_sfu_participants{state="reconnecting"}`],
			s[`teleconsult_sfu_disconnects_total{reason="dropped"}`])
	}
	pat = e.join(id, tokens[1], clientOptions{noMedia: true})
	// A forged token is refused.
	bad := e.dial(id, "eyJhbGciOiJIUzI1NiJ9.e30.forged", clientOptions{raw: true})
	bad.waitEnd()

	// The window ends: both are ejected.
	e.clock.Set(start.Add(30 * time.Minute))
	e.tick()
	doc.waitEnd()
	pat.waitEnd()
	waitUntil(t, "both connections counted as ended", func() bool {
		s = scrape(t, e.prov)
		return s[`teleconsult_sfu_disconnects_total{reason="expired"}`] == 2 && s[`teleconsult_sfu_connections`] == 0
	})
	for k, want := range map[string]float64{
		`teleconsult_sfu_calls`:                                            0,
		`teleconsult_sfu_participants{state="connected"}`:                  0,
		`teleconsult_sfu_participants{state="reconnecting"}`:               0,
		`teleconsult_sfu_tracks{kind="video"}`:                             0,
		`teleconsult_sfu_forwarded_tracks{kind="video"}`:                   0,
		`teleconsult_sfu_reconnects_total{kind="resumed"}`:                 1,
		`teleconsult_sfu_reconnects_total{kind="replaced"}`:                0,
		`teleconsult_sfu_ejections_total{reason="expired"}`:                2,
		`teleconsult_sfu_connections_refused_total{reason="unauthorized"}`: 1,
		`teleconsult_sfu_connection_duration_seconds_count`:                3,
	} {
		if s[k] != want {
			t.Errorf("after the end: %s = %v, want %v", k, s[k], want)
		}
	}
	if sum := s[`teleconsult_sfu_connection_duration_seconds_sum`]; sum <= 0 || sum > 60 {
		t.Errorf("connection durations add up to %v s", sum)
	}
	// Counters of streams that ended are kept.
	for _, k := range []string{`teleconsult_sfu_rtp_packets_total{direction="in",kind="video"}`,
		`teleconsult_sfu_rtp_packets_total{direction="out",kind="audio"}`, `teleconsult_sfu_rtp_bytes_total{direction="out",kind="video"}`} {
		if s[k] < during[k] {
			t.Errorf("%s went down from %v to %v", k, during[k], s[k])
		}
	}
}

// A second connection of the same participant counts as a reconnection
// (replaced), and the first one's end as a disconnect of that reason.
func TestMetricsReplacedConnection(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	first := e.join(id, tokens[0], clientOptions{noMedia: true})
	e.join(id, tokens[0], clientOptions{noMedia: true})
	first.waitEnd()
	waitUntil(t, "the replaced connection counted", func() bool {
		s := scrape(t, e.prov)
		return s[`teleconsult_sfu_disconnects_total{reason="replaced"}`] == 1
	})
	s := scrape(t, e.prov)
	if s[`teleconsult_sfu_reconnects_total{kind="replaced"}`] != 1 || s[`teleconsult_sfu_participants{state="connected"}`] != 1 {
		t.Errorf("replaced %v, connected %v", s[`teleconsult_sfu_reconnects_total{kind="replaced"}`], s[`teleconsult_sfu_participants{state="connected"}`])
	}
}

// BenchmarkInterceptorChain is the per-packet cost of the interceptors on
// the forwarding path: one video RTP packet written to a subscriber and
// one read from a publisher, through the chain newAPI builds, without
// (before) and with (after) the counting interceptor; "none" is the
// ceiling: the writer and reader called directly, and "counting" the
// counting interceptor alone.
func BenchmarkInterceptorChain(b *testing.B) {
	for _, tc := range []struct {
		name            string
		defaults, count bool
	}{{"none", false, false}, {"counting", false, true}, {"defaults", true, false}, {"defaults+counting", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			m := &webrtc.MediaEngine{}
			for _, c := range codecs {
				if err := m.RegisterCodec(c.params, c.kind); err != nil {
					b.Fatal(err)
				}
			}
			reg := &interceptor.Registry{}
			if tc.count {
				reg.Add(countingFactory{newMetrics(&Provider{})})
			}
			if tc.defaults {
				if err := webrtc.RegisterDefaultInterceptorsWithOptions(m, reg,
					webrtc.WithNackResponderOptions(nack.ResponderSize(nackBufferPackets))); err != nil {
					b.Fatal(err)
				}
			}
			chain, err := reg.Build("bench")
			if err != nil {
				b.Fatal(err)
			}
			defer chain.Close()
			fb := []interceptor.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "transport-cc"}}
			local := &interceptor.StreamInfo{SSRC: 1111, MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, PayloadType: 96, RTCPFeedback: fb}
			remote := &interceptor.StreamInfo{SSRC: 2222, MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, PayloadType: 96, RTCPFeedback: fb}
			payload := make([]byte, 1100)
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 2222}, Payload: payload}
			raw, _ := pkt.Marshal()
			w := chain.BindLocalStream(local, interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
				return 12 + len(p), nil
			}))
			var seq uint16
			r := chain.BindRemoteStream(remote, interceptor.RTPReaderFunc(func(buf []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
				seq++
				binary.BigEndian.PutUint16(raw[2:4], seq)
				return copy(buf, raw), a, nil
			}))
			buf := make([]byte, 1500)
			h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 1111}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.SequenceNumber = uint16(i)
				h.Timestamp = uint32(i / 10 * 3000)
				if _, err := w.Write(&h, payload, nil); err != nil {
					b.Fatal(err)
				}
				if _, _, err := r.Read(buf, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
