package sfu

import (
	"math/bits"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// Retransmissions a connection may ask for (generic NACK, RFC 4585
// section 6.2.1): a subscriber losing 5 % of two 1.5 Mbps video tracks
// asks about 15 a second.
const (
	nackRate  = 400 // packets a second
	nackBurst = 400
)

// nackLimitFactory makes the interceptor that bounds the retransmissions a
// peer may ask for: NACKs past nackRate requested packets a second are
// dropped before pion's NACK responder sees them (it would resend up to
// 17 packets for each pair of a NACK, each NACK in a goroutine of its
// own). Registered before the responder, so that its reader runs first.
type nackLimitFactory struct{}

func (nackLimitFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &nackLimit{tokens: nackBurst, last: time.Now()}, nil
}

type nackLimit struct {
	interceptor.NoOp

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// BindRTCPReader decodes what the peer sends (pion's attributes cache the
// decoded packets for the interceptors after this one) and replaces the
// NACKs over the limit with an empty packet of no type the responder
// acts on.
func (l *nackLimit) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		if attr == nil {
			attr = make(interceptor.Attributes)
		}
		pkts, err := attr.GetRTCPPackets(b[:n])
		if err != nil {
			return n, attr, err
		}
		for i, p := range pkts {
			if nack, ok := p.(*rtcp.TransportLayerNack); ok && !l.allow(requested(nack)) {
				pkts[i] = &rtcp.RawPacket{}
			}
		}
		return n, attr, nil
	})
}

// allow takes n tokens, if there are.
func (l *nackLimit) allow(n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.tokens = min(nackBurst, l.tokens+now.Sub(l.last).Seconds()*nackRate)
	l.last = now
	if float64(n) > l.tokens {
		return false
	}
	l.tokens -= float64(n)
	return true
}

// requested is how many packets a NACK asks for: each pair names one and
// up to 16 more (its bitmask).
func requested(nack *rtcp.TransportLayerNack) int {
	n := 0
	for _, p := range nack.Nacks {
		n += 1 + bits.OnesCount16(uint16(p.LostPackets))
	}
	return n
}
