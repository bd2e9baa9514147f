package sfu

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// nackBufferPackets is how many sent video packets each forwarded track
// keeps per subscriber to answer NACKs (RFC 4585 generic NACK): about
// 0.4 s of a 1.5 Mbps camera, enough for round trips up to about 300 ms.
// Each costs a 1.5 KB buffer: pion's default, 1024, would cost 1.5 MB
// per forwarded video track, here 96 KB.
const nackBufferPackets = 64

// videoFeedback is the feedback offered for video besides the interceptors'
// (NACK, PLI, transport-cc): FIR, and REMB (goog-remb), which a subscriber's
// browser sends as its downlink estimate for the tracks it receives (the
// SFU numbers no packets for transport-wide feedback).
var videoFeedback = []webrtc.RTCPFeedback{{Type: "ccm", Parameter: "fir"}, {Type: webrtc.TypeRTCPFBGoogREMB}}

// codecs are the codecs offered, in order of preference: browsers answer
// with the first they support, so every publisher sends VP8 (or H.264 on
// a browser without VP8) and every subscriber can take it as it is.
var codecs = []struct {
	kind   webrtc.RTPCodecType
	params webrtc.RTPCodecParameters
}{
	{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType: 111}},
	{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
			RTCPFeedback: videoFeedback},
		PayloadType: 96}},
	{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
			RTCPFeedback: videoFeedback},
		PayloadType: 102}},
}

// newAPI builds the pion API shared by every peer connection: the codecs,
// the interceptors (NACK generator and responder behind a limit, RTCP
// reports, TWCC feedback; see the package documentation) and the network settings.
// It returns the UDP mux to close, if one was opened. counters, when not
// nil, is registered first: next to the transport (see countingFactory).
func newAPI(cfg Config, counters interceptor.Factory) (*webrtc.API, io.Closer, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range codecs {
		if err := m.RegisterCodec(c.params, c.kind); err != nil {
			return nil, nil, err
		}
	}
	logs := &pionLogs{log: cfg.Logger}
	reg := &interceptor.Registry{}
	if counters != nil {
		reg.Add(counters)
	}
	// The NACK limit (nacklimit.go) sits before pion's responder.
	reg.Add(nackLimitFactory{})
	// pion's default interceptors but its stats interceptor: that one
	// decodes and records every packet of each stream (4-5 % of the CPU
	// at 50 calls, BENCHMARKS.md) for PeerConnection.GetStats, which the
	// SFU does not call (its metrics come from countingFactory).
	if err := webrtc.ConfigureNackWithOptions(m, reg,
		[]nack.GeneratorOption{nack.WithGeneratorLoggerFactory(logs)},
		nack.WithResponderLoggerFactory(logs), nack.ResponderSize(nackBufferPackets),
	); err != nil {
		return nil, nil, err
	}
	if err := webrtc.ConfigureRTCPReportsWithOptions(reg,
		[]report.ReceiverOption{report.WithReceiverLoggerFactory(logs)},
		report.WithSenderLoggerFactory(logs),
	); err != nil {
		return nil, nil, err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return nil, nil, err
	}
	if err := webrtc.ConfigureTWCCSenderWithOptions(m, reg, twcc.WithLoggerFactory(logs)); err != nil {
		return nil, nil, err
	}

	s := webrtc.SettingEngine{LoggerFactory: logs}
	// Remote .local candidates name hosts on the browser's own network:
	// unreachable from here, and each mDNS socket costs per connection.
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	var ifFilter func(string) bool
	var ipFilter func(net.IP) bool
	if cfg.LoopbackCandidates {
		s.SetIncludeLoopbackCandidate(true)
		loop := loopbackInterfaces()
		ifFilter = func(name string) bool { return loop[name] }
		ipFilter = func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil }
		networks = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
		s.SetInterfaceFilter(ifFilter)
		s.SetIPFilter(ipFilter)
	}
	s.SetNetworkTypes(networks)
	if cfg.PublicIP != "" {
		if err := s.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        []string{cfg.PublicIP},
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, nil, fmt.Errorf("%w: PublicIP: %w", ErrConfig, err)
		}
	}
	var closer io.Closer
	switch {
	case cfg.UDPPort != 0:
		opts := []ice.UDPMuxFromPortOption{ice.UDPMuxFromPortWithLogger(logs.NewLogger("udpmux"))}
		iceNets := []ice.NetworkType{ice.NetworkTypeUDP4, ice.NetworkTypeUDP6}
		if cfg.LoopbackCandidates {
			opts = append(opts, ice.UDPMuxFromPortWithLoopback(),
				ice.UDPMuxFromPortWithInterfaceFilter(ifFilter), ice.UDPMuxFromPortWithIPFilter(ipFilter))
			iceNets = []ice.NetworkType{ice.NetworkTypeUDP4}
		}
		opts = append(opts, ice.UDPMuxFromPortWithNetworks(iceNets...))
		mux, err := ice.NewMultiUDPMuxFromPort(cfg.UDPPort, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: UDPPort (RTC_UDP_PORT=%d): %w", ErrConfig, cfg.UDPPort, err)
		}
		s.SetICEUDPMux(mux)
		closer = mux
	case cfg.UDPPortMin != 0:
		if err := s.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return nil, nil, fmt.Errorf("%w: UDP port range: %w", ErrConfig, err)
		}
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s))
	return api, closer, nil
}

// loopbackInterfaces returns the names of the loopback interfaces.
func loopbackInterfaces() map[string]bool {
	out := map[string]bool{}
	ifs, err := net.Interfaces()
	if err != nil {
		return out
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			out[i.Name] = true
		}
	}
	return out
}

// pionLogs sends pion's errors to the logger at warning level and its
// warnings at debug level; the rest is dropped. pion logs addresses and
// protocol states, never names.
type pionLogs struct{ log *slog.Logger }

func (f *pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return &pionLogger{log: f.log.With("component", "pion", "scope", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l *pionLogger) Trace(string)          {}
func (l *pionLogger) Tracef(string, ...any) {}
func (l *pionLogger) Debug(string)          {}
func (l *pionLogger) Debugf(string, ...any) {}
func (l *pionLogger) Info(string)           {}
func (l *pionLogger) Infof(string, ...any)  {}
func (l *pionLogger) Warn(msg string)       { l.log.Debug(msg) }
func (l *pionLogger) Warnf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...))
	}
}
func (l *pionLogger) Error(msg string) { l.log.Warn(msg) }
func (l *pionLogger) Errorf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...))
}
