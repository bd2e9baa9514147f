package sfu

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
)

// The SFU's Prometheus metrics. Gauges (calls, participants, tracks) are
// read from the rooms at scrape time; RTP is counted per stream by an
// interceptor (countingFactory) at the bottom of pion's chain, so that
// NACK retransmissions and the interceptors' own RTCP are counted as they
// go on the wire. Labels are bounded sets: directions, kinds, reasons.
// Nothing names a room, a teleconsultation or a participant.

// Directions and kinds of media, the values of the direction and kind
// labels.
const (
	dirIn  = 0 // from publishers to the SFU
	dirOut = 1 // from the SFU to subscribers
)

var (
	dirNames  = [2]string{"in", "out"}
	kindNames = [2]string{"audio", "video"}
)

// endReasons are the values of the reason label of refusals, disconnects
// and ejections: every end reason (docs/signalling.md; [endCodes]: the
// protocol's own and the domain's refusals), and "dropped" for a socket
// that failed or closed without an end. Each gets a series from the
// start, so that rate() sees the first increase.
func endReasons() []string {
	out := slices.Sorted(maps.Keys(endCodes))
	return append(out, "dropped")
}

// Kinds of reconnection (label kind of teleconsult_sfu_reconnects_total).
const (
	reconnectResumed  = "resumed"  // back within the grace period after a drop
	reconnectReplaced = "replaced" // a new connection took over a live one
)

// connectionBuckets are the buckets of the connection-duration histogram:
// from a second to four hours.
var connectionBuckets = []float64{1, 5, 15, 30, 60, 300, 600, 900, 1800, 2700, 3600, 7200, 14400}

// rtpCount counts the RTP of one stream (one SSRC of one peer connection)
// in one direction. Only its own stream's goroutines touch it on the hot
// path.
type rtpCount struct {
	dir, kind      int
	packets, bytes atomic.Uint64
}

// metrics are the provider's metrics; it is the [prometheus.Collector]
// returned by [Provider.Collector].
type metrics struct {
	p *Provider

	mu sync.Mutex
	// streams are the live streams' counts; retired holds the totals of
	// the streams that ended: [direction][kind]{packets, bytes}.
	streams map[*rtpCount]struct{}
	retired [2][2][2]uint64

	lost        *prometheus.CounterVec
	feedback    *prometheus.CounterVec
	refused     *prometheus.CounterVec
	disconnects *prometheus.CounterVec
	ejections   *prometheus.CounterVec
	reconnects  *prometheus.CounterVec
	duration    prometheus.Histogram

	lostBy            [2][2]prometheus.Counter // [direction][kind]
	nack, pli, fir    [2]prometheus.Counter    // [direction]
	remb              [2]prometheus.Counter    // [direction]
	calls, tracks     *prometheus.Desc
	participants      *prometheus.Desc
	forwarded, conns  *prometheus.Desc
	rtpPkts, rtpBytes *prometheus.Desc
}

func newMetrics(p *Provider) *metrics {
	m := &metrics{
		p:       p,
		streams: map[*rtpCount]struct{}{},
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teleconsult_sfu_rtp_packets_lost_total",
			Help: "RTP packets lost, from RTCP receiver reports: direction in is publishers to the SFU (the SFU's reports), out is the SFU to subscribers (theirs).",
		}, []string{"direction", "kind"}),
		feedback: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teleconsult_sfu_rtcp_feedback_total",
			Help: "RTCP feedback messages: NACK, PLI, FIR and REMB received from subscribers (in) and sent to publishers (out).",
		}, []string{"type", "direction"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teleconsult_sfu_connections_refused_total",
			Help: "Signalling connections refused before joining a call, by end reason.",
		}, []string{"reason"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teleconsult_sfu_disconnects_total",
			Help: "Connections of participants that had joined a call and ended, by end reason (dropped: the socket failed).",
		}, []string{"reason"}),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teleconsult_sfu_ejections_total",
			Help: "Participants ejected from a call by the server (revocation, cancellation, end of the window, the LIVE rule, shutdown), by reason.",
		}, []string{"reason"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teleconsult_sfu_reconnects_total",
			Help: "Participants who joined again while still in the call: resumed within the grace period after a drop, or replaced their own live connection.",
		}, []string{"kind"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "teleconsult_sfu_connection_duration_seconds",
			Help:    "How long the signalling connections of participants who joined a call lasted.",
			Buckets: connectionBuckets,
		}),
		calls: prometheus.NewDesc("teleconsult_sfu_calls",
			"Calls in progress on this instance (rooms with a running call).", nil, nil),
		participants: prometheus.NewDesc("teleconsult_sfu_participants",
			"Participants in calls on this instance: connected, or reconnecting (dropped, within the grace period).", []string{"state"}, nil),
		tracks: prometheus.NewDesc("teleconsult_sfu_tracks",
			"Tracks published by participants and forwarded by the SFU, by kind.", []string{"kind"}, nil),
		forwarded: prometheus.NewDesc("teleconsult_sfu_forwarded_tracks",
			"Copies of published tracks sent to subscribers (one per track per other connected participant), by kind.", []string{"kind"}, nil),
		conns: prometheus.NewDesc("teleconsult_sfu_connections",
			"Open signalling WebSockets, joined or not.", nil, nil),
		rtpPkts: prometheus.NewDesc("teleconsult_sfu_rtp_packets_total",
			"RTP packets received from publishers (in) and sent to subscribers (out, retransmissions included), by kind.", []string{"direction", "kind"}, nil),
		rtpBytes: prometheus.NewDesc("teleconsult_sfu_rtp_bytes_total",
			"RTP bytes (headers and payload) received from publishers (in) and sent to subscribers (out), by kind.", []string{"direction", "kind"}, nil),
	}
	for d := range dirNames {
		for k := range kindNames {
			m.lostBy[d][k] = m.lost.WithLabelValues(dirNames[d], kindNames[k])
		}
		m.nack[d] = m.feedback.WithLabelValues("nack", dirNames[d])
		m.pli[d] = m.feedback.WithLabelValues("pli", dirNames[d])
		m.fir[d] = m.feedback.WithLabelValues("fir", dirNames[d])
		m.remb[d] = m.feedback.WithLabelValues("remb", dirNames[d])
	}
	for _, r := range endReasons() {
		m.refused.WithLabelValues(r)
		m.disconnects.WithLabelValues(r)
		if r != "dropped" {
			m.ejections.WithLabelValues(r)
		}
	}
	m.reconnects.WithLabelValues(reconnectResumed)
	m.reconnects.WithLabelValues(reconnectReplaced)
	return m
}

// Collector returns the provider's metrics, to be registered once (in the
// registry that serves /metrics): calls, participants and tracks at scrape
// time, RTP packets and bytes in and out, losses, NACK/PLI/FIR, refusals,
// disconnects, ejections and reconnects by reason, and the duration of the
// participants' connections. README.md lists them.
func (p *Provider) Collector() prometheus.Collector { return p.metrics }

func (m *metrics) vecs() []prometheus.Collector {
	return []prometheus.Collector{m.lost, m.feedback, m.refused, m.disconnects, m.ejections, m.reconnects, m.duration}
}

// Describe implements [prometheus.Collector].
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.vecs() {
		c.Describe(ch)
	}
	for _, d := range []*prometheus.Desc{m.calls, m.participants, m.tracks, m.forwarded, m.conns, m.rtpPkts, m.rtpBytes} {
		ch <- d
	}
}

// Collect implements [prometheus.Collector].
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.vecs() {
		c.Collect(ch)
	}
	m.mu.Lock()
	totals := m.retired
	for c := range m.streams {
		totals[c.dir][c.kind][0] += c.packets.Load()
		totals[c.dir][c.kind][1] += c.bytes.Load()
	}
	m.mu.Unlock()
	for d := range dirNames {
		for k := range kindNames {
			ch <- prometheus.MustNewConstMetric(m.rtpPkts, prometheus.CounterValue, float64(totals[d][k][0]), dirNames[d], kindNames[k])
			ch <- prometheus.MustNewConstMetric(m.rtpBytes, prometheus.CounterValue, float64(totals[d][k][1]), dirNames[d], kindNames[k])
		}
	}

	p := m.p
	p.mu.Lock()
	rooms := make([]*room, 0, len(p.rooms))
	for _, r := range p.rooms {
		rooms = append(rooms, r)
	}
	conns := len(p.conns)
	p.mu.Unlock()
	var calls, connected, reconnecting int
	var tracks, forwarded [2]int
	for _, r := range rooms {
		r.mu.Lock()
		if r.dead {
			r.mu.Unlock()
			continue
		}
		if r.callRunning {
			calls++
		}
		present := 0
		for _, mb := range r.members {
			if mb.conn != nil {
				present++
			} else {
				reconnecting++
			}
		}
		connected += present
		for _, t := range r.tracks {
			k := kindOf(t.kind.String())
			tracks[k]++
			subscribers := present
			if owner := r.members[t.pid]; owner != nil && owner.conn != nil {
				subscribers--
			}
			forwarded[k] += subscribers
		}
		r.mu.Unlock()
	}
	ch <- prometheus.MustNewConstMetric(m.calls, prometheus.GaugeValue, float64(calls))
	ch <- prometheus.MustNewConstMetric(m.conns, prometheus.GaugeValue, float64(conns))
	ch <- prometheus.MustNewConstMetric(m.participants, prometheus.GaugeValue, float64(connected), "connected")
	ch <- prometheus.MustNewConstMetric(m.participants, prometheus.GaugeValue, float64(reconnecting), "reconnecting")
	for k := range kindNames {
		ch <- prometheus.MustNewConstMetric(m.tracks, prometheus.GaugeValue, float64(tracks[k]), kindNames[k])
		ch <- prometheus.MustNewConstMetric(m.forwarded, prometheus.GaugeValue, float64(forwarded[k]), kindNames[k])
	}
}

// kindOf maps "audio…" (a kind or a MIME type) to the audio index and
// anything else to video.
func kindOf(s string) int {
	if strings.HasPrefix(s, "audio") {
		return 0
	}
	return 1
}

// connectionEnded records a connection's end: a refusal when it never
// joined, else a disconnect with its reason and its duration.
func (m *metrics) connectionEnded(joined bool, reason string, lasted time.Duration) {
	if reason == "" {
		reason = "dropped"
	}
	if !joined {
		m.refused.WithLabelValues(reason).Inc()
		return
	}
	m.disconnects.WithLabelValues(reason).Inc()
	m.duration.Observe(lasted.Seconds())
}

func (m *metrics) ejected(reason string) { m.ejections.WithLabelValues(reason).Inc() }

func (m *metrics) reconnected(kind string) { m.reconnects.WithLabelValues(kind).Inc() }

func (m *metrics) addStream(c *rtpCount) {
	m.mu.Lock()
	m.streams[c] = struct{}{}
	m.mu.Unlock()
}

// retireStream moves an ended stream's counts into the totals, in one step
// for the collector: a counter never goes down.
func (m *metrics) retireStream(c *rtpCount) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.streams[c]; !ok {
		return
	}
	delete(m.streams, c)
	m.retired[c.dir][c.kind][0] += c.packets.Load()
	m.retired[c.dir][c.kind][1] += c.bytes.Load()
}

// countingFactory makes one countingInterceptor per peer connection. It
// is registered first, so that it sits next to the transport: it sees
// every RTP packet written (NACK retransmissions included) and every RTCP
// packet the other interceptors write (NACKs, receiver reports).
type countingFactory struct{ m *metrics }

func (f countingFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &countingInterceptor{m: f.m, local: map[uint32]*rtpCount{}, remote: map[uint32]*rtpCount{},
		lost: map[lossKey]uint32{}}, nil
}

// countingInterceptor counts one peer connection's RTP and RTCP.
type countingInterceptor struct {
	interceptor.NoOp
	m *metrics

	mu            sync.Mutex
	local, remote map[uint32]*rtpCount // by SSRC
	// lost is the cumulative loss last reported per stream: reports are
	// cumulative, and one report may be read more than once (pion hands
	// a receiver report to every stream it names).
	lost map[lossKey]uint32
}

type lossKey struct {
	dir  int
	ssrc uint32
}

func (i *countingInterceptor) bind(streams map[uint32]*rtpCount, info *interceptor.StreamInfo, dir int) *rtpCount {
	c := &rtpCount{dir: dir, kind: kindOf(info.MimeType)}
	i.mu.Lock()
	if old := streams[info.SSRC]; old != nil {
		i.m.retireStream(old)
	}
	streams[info.SSRC] = c
	i.mu.Unlock()
	i.m.addStream(c)
	return c
}

func (i *countingInterceptor) unbind(streams map[uint32]*rtpCount, info *interceptor.StreamInfo, dir int) {
	i.mu.Lock()
	c := streams[info.SSRC]
	delete(streams, info.SSRC)
	delete(i.lost, lossKey{dir, info.SSRC})
	i.mu.Unlock()
	if c != nil {
		i.m.retireStream(c)
	}
}

// BindLocalStream counts the RTP sent on a stream to the subscriber.
func (i *countingInterceptor) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	c := i.bind(i.local, info, dirOut)
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		n, err := w.Write(h, payload, a)
		if err == nil {
			c.packets.Add(1)
			c.bytes.Add(byteCount(h.MarshalSize() + len(payload)))
		}
		return n, err
	})
}

// UnbindLocalStream implements [interceptor.Interceptor].
func (i *countingInterceptor) UnbindLocalStream(info *interceptor.StreamInfo) {
	i.unbind(i.local, info, dirOut)
}

// BindRemoteStream counts the RTP received on a stream from the publisher.
func (i *countingInterceptor) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	c := i.bind(i.remote, info, dirIn)
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := r.Read(b, a)
		if err == nil {
			c.packets.Add(1)
			c.bytes.Add(byteCount(n))
		}
		return n, a, err
	})
}

// UnbindRemoteStream implements [interceptor.Interceptor].
func (i *countingInterceptor) UnbindRemoteStream(info *interceptor.StreamInfo) {
	i.unbind(i.remote, info, dirIn)
}

// BindRTCPReader counts the feedback and losses subscribers report.
func (i *countingInterceptor) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := r.Read(b, a)
		if err != nil {
			return n, a, err
		}
		if a == nil {
			a = interceptor.Attributes{}
		}
		if pkts, perr := a.GetRTCPPackets(b[:n]); perr == nil {
			i.rtcp(pkts, dirIn)
		}
		return n, a, err
	})
}

// BindRTCPWriter counts the feedback and losses the SFU reports to
// publishers.
func (i *countingInterceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		n, err := w.Write(pkts, a)
		if err == nil {
			i.rtcp(pkts, dirOut)
		}
		return n, err
	})
}

// rtcp counts feedback (labelled with its direction: in from subscribers,
// out to publishers) and the losses in reception reports. Reports read
// (from subscribers) are about the streams the SFU sends (loss direction
// out); reports written are about the streams it receives (loss in).
func (i *countingInterceptor) rtcp(pkts []rtcp.Packet, dir int) {
	lossDir, streams := dirOut, i.local
	if dir == dirOut {
		lossDir, streams = dirIn, i.remote
	}
	for _, p := range pkts {
		var reports []rtcp.ReceptionReport
		switch p := p.(type) {
		case *rtcp.TransportLayerNack:
			i.m.nack[dir].Inc()
		case *rtcp.PictureLossIndication:
			i.m.pli[dir].Inc()
		case *rtcp.FullIntraRequest:
			i.m.fir[dir].Inc()
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			i.m.remb[dir].Inc()
		case *rtcp.ReceiverReport:
			reports = p.Reports
		case *rtcp.SenderReport:
			reports = p.Reports
		}
		for _, rr := range reports {
			i.reportLoss(streams, lossDir, rr)
		}
	}
}

// reportLoss adds what a cumulative loss report adds to the last one.
func (i *countingInterceptor) reportLoss(streams map[uint32]*rtpCount, dir int, rr rtcp.ReceptionReport) {
	total := rr.TotalLost
	if total > 0x7fffff {
		return // negative (24-bit two's complement): duplicates, no loss
	}
	i.mu.Lock()
	c := streams[rr.SSRC]
	if c == nil {
		i.mu.Unlock()
		return
	}
	k := lossKey{dir, rr.SSRC}
	prev := i.lost[k]
	if total > prev {
		i.lost[k] = total
	}
	i.mu.Unlock()
	if total > prev {
		i.m.lostBy[dir][c.kind].Add(float64(total - prev))
	}
}

// Close retires the streams left when the peer connection closes.
func (i *countingInterceptor) Close() error {
	i.mu.Lock()
	var left []*rtpCount
	for _, c := range i.local {
		left = append(left, c)
	}
	for _, c := range i.remote {
		left = append(left, c)
	}
	clear(i.local)
	clear(i.remote)
	i.mu.Unlock()
	for _, c := range left {
		i.m.retireStream(c)
	}
	return nil
}

// byteCount converts a size to the counters' type. Sizes are never
// negative; a negative one counts as nothing rather than as 2^64-n.
func byteCount(n int) uint64 {
	if n < 0 {
		return 0
	}
	return uint64(n)
}
