package sfu

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Defaults of [Config]'s durations.
const (
	DefaultRecheckInterval = time.Second
	DefaultGrace           = 5 * time.Second
	DefaultWaitingGrace    = 2 * time.Minute
	DefaultAuthTimeout     = 10 * time.Second
	DefaultIdleTimeout     = 30 * time.Second
	DefaultTURNPort        = 3478
	DefaultTURNRealm       = "teleconsult"
	DefaultTURNTTL         = 2 * time.Hour
)

// Config configures the built-in SFU. The zero value works on a machine
// with a public address (ephemeral UDP ports, no TURN); start from
// [DefaultConfig] to get the documented defaults of the booleans.
type Config struct {
	// UDPPort, when not 0, carries all ICE traffic of all calls on this
	// one UDP port (pion's ICE UDP mux) on every allowed interface
	// (RTC_UDP_PORT). Firewalls then need one port open.
	UDPPort int
	// UDPPortMin and UDPPortMax bound the ephemeral UDP ports of each
	// peer connection when UDPPort is 0 (RTC_UDP_PORT_RANGE, e.g.
	// "50000-50999"); both 0 lets the system choose.
	UDPPortMin, UDPPortMax uint16
	// PublicIP is the address that browsers reach this host at when it is
	// behind a 1:1 NAT (RTC_PUBLIC_IP): it replaces the host address in
	// the server's ICE candidates and is the embedded TURN server's relay
	// address.
	PublicIP string
	// LoopbackCandidates offers loopback ICE candidates and restricts ICE
	// to loopback interfaces, so that browsers on the same host can call
	// with no network (RTC_LOOPBACK_CANDIDATES, or LISTEN_ADDR on a
	// loopback address). For tests and development.
	LoopbackCandidates bool
	// ICEServers are STUN and TURN servers given to the page in
	// welcome.iceServers (ICE_SERVERS, see [ParseICEServers]).
	ICEServers []ICEServer
	// ICEUsername and ICECredential are the credentials of the turn:
	// servers of ICEServers given without their own (TURN_USERNAME,
	// TURN_PASSWORD).
	ICEUsername, ICECredential string
	// TURN configures the embedded TURN server.
	TURN TURNConfig
	// OriginPatterns are other origins allowed to open the WebSocket
	// (coder/websocket AcceptOptions.OriginPatterns); the request's own
	// host is always allowed. Empty: same origin only.
	OriginPatterns []string
	// StartAudioOff and StartVideoOff are sent in welcome: the page joins
	// muted and with the camera off (START_AUDIO_OFF, START_VIDEO_OFF;
	// true in DefaultConfig: a call starts muted).
	StartAudioOff, StartVideoOff bool

	// Now is the clock of every rule (window, warning, grace); nil means
	// time.Now. Tests inject one.
	Now func() time.Time
	// Ticks drives the periodic checks of every room: revocation
	// (Service.Recheck), the window's warning and end, and the grace of
	// dropped connections. Nil means a ticker every RecheckInterval.
	// Tests send on it after moving their clock.
	Ticks <-chan time.Time
	// RecheckInterval is the period of the built-in ticker (default 1 s,
	// so that a revocation through another replica lands within 2 s).
	RecheckInterval time.Duration
	// Grace is how long a participant whose connection dropped stays in
	// the call before counting as gone (default 5 s).
	Grace time.Duration
	// WaitingGrace is how long a participant in the waiting room keeps
	// their place while their connection is away (a reload, a network
	// drop); 0 means [DefaultWaitingGrace].
	WaitingGrace time.Duration
	// AuthTimeout bounds the wait for the first message (default 10 s);
	// IdleTimeout closes a connection silent for that long (default 30 s).
	// Both are real time (transport timeouts, not rules).
	AuthTimeout, IdleTimeout time.Duration
	// MaxPendingPerClient and MaxPending cap the signalling WebSockets
	// open but not yet authenticated, from one client and in all
	// (WS_PENDING_PER_CLIENT, WS_PENDING_MAX; defaults
	// [DefaultMaxPendingPerClient], [DefaultMaxPending]). Past a cap the
	// upgrade is answered 429 with Retry-After.
	MaxPendingPerClient, MaxPending int
	// ClientAddr names the client of a request for MaxPendingPerClient;
	// nil means [RemoteClient] (the address resolved by the HTTP server,
	// so behind a trusted proxy, TRUSTED_PROXIES, the forwarded one).
	ClientAddr func(*http.Request) string
	// Logger receives ids only, never names; nil discards.
	Logger *slog.Logger

	// maxFreed is defaultMaxFreed but in tests.
	maxFreed int
}

// DefaultConfig returns the configuration of a default deployment:
// ephemeral ports, no TURN, audio and video off at start.
func DefaultConfig() Config {
	return Config{StartAudioOff: true, StartVideoOff: true}
}

// TURNConfig configures the embedded TURN server (pion/turn). Its
// credentials are short-lived and derived per session as in the TURN REST
// API (draft-uberti-behave-turn-rest): username "expiry:participantId",
// password base64(HMAC-SHA1(secret, username)).
type TURNConfig struct {
	// Enabled starts the server (TURN_ENABLED).
	Enabled bool
	// Port is the UDP and TCP port it listens on (TURN_PORT, default 3478).
	Port int
	// Realm is its realm (TURN_REALM, default "teleconsult").
	Realm string
	// Secret keys the credentials (TURN_SECRET); empty means a random key
	// for the life of the process, which is enough when this process is
	// the only one handing out its credentials.
	Secret []byte
	// Host is the host name or address in the turn: URLs given to pages;
	// empty means PublicIP, else the host the page connected to.
	Host string
	// CredentialTTL is how long credentials stay valid (default 2 h; a
	// limited window's credentials end with it).
	CredentialTTL time.Duration
}

// ICEServer is one STUN or TURN server for the page, as in RTCIceServer.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ParseICEServers parses ICE_SERVERS: a JSON array of
// {"urls":[…],"username"?,"credential"?}, or a comma-separated list of
// stun:/turn: URLs without credentials. Empty means none.
func ParseICEServers(s string) ([]ICEServer, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []ICEServer
	if strings.HasPrefix(s, "[") {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&out); err != nil {
			return nil, fmt.Errorf("%w: ICE_SERVERS: %w", ErrConfig, err)
		}
	} else {
		for _, u := range strings.Split(s, ",") {
			if u = strings.TrimSpace(u); u != "" {
				out = append(out, ICEServer{URLs: []string{u}})
			}
		}
	}
	for i, srv := range out {
		if err := srv.validate(); err != nil {
			return nil, fmt.Errorf("%w: ICE_SERVERS[%d]: %w", ErrConfig, i, err)
		}
	}
	return out, nil
}

func (s ICEServer) validate() error {
	if len(s.URLs) == 0 {
		return fmt.Errorf("no urls")
	}
	turn := false
	for _, u := range s.URLs {
		scheme, rest, ok := strings.Cut(u, ":")
		if !ok || rest == "" || strings.ContainsAny(u, " \t\r\n") {
			return fmt.Errorf("%q is not a stun: or turn: URL", u)
		}
		switch scheme {
		case "stun", "stuns":
		case "turn", "turns":
			turn = true
		default:
			return fmt.Errorf("%q is not a stun: or turn: URL", u)
		}
	}
	if turn && (s.Username == "" || s.Credential == "") {
		return fmt.Errorf("a turn: server needs username and credential")
	}
	return nil
}

// withDefaults checks c and fills in the defaults.
func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		return bad("UDPPort (RTC_UDP_PORT) must be a port number, got %d", c.UDPPort)
	}
	if c.UDPPortMax < c.UDPPortMin || c.UDPPortMin == 0 && c.UDPPortMax != 0 {
		return bad("UDPPortMin-UDPPortMax (RTC_UDP_PORT_RANGE) must be a range of ports, got %d-%d", c.UDPPortMin, c.UDPPortMax)
	}
	if c.PublicIP != "" && net.ParseIP(c.PublicIP) == nil {
		return bad("PublicIP (RTC_PUBLIC_IP) must be an IP address, got %q", c.PublicIP)
	}
	if c.ICEUsername != "" || c.ICECredential != "" {
		servers := make([]ICEServer, len(c.ICEServers))
		for i, s := range c.ICEServers {
			if s.Username == "" && s.Credential == "" && slices.ContainsFunc(s.URLs, func(u string) bool { return strings.HasPrefix(u, "turn") }) {
				s.Username, s.Credential = c.ICEUsername, c.ICECredential
			}
			servers[i] = s
		}
		c.ICEServers = servers
	}
	for i, s := range c.ICEServers {
		if err := s.validate(); err != nil {
			return bad("ICEServers[%d] (ICE_SERVERS): %v", i, err)
		}
	}
	if c.TURN.Enabled {
		if c.TURN.Port == 0 {
			c.TURN.Port = DefaultTURNPort
		}
		if c.TURN.Port < 0 || c.TURN.Port > 65535 {
			return bad("TURN.Port (TURN_PORT) must be a port number, got %d", c.TURN.Port)
		}
		if c.TURN.Realm == "" {
			c.TURN.Realm = DefaultTURNRealm
		}
		if c.TURN.CredentialTTL == 0 {
			c.TURN.CredentialTTL = DefaultTURNTTL
		}
		if c.TURN.CredentialTTL < time.Minute {
			return bad("TURN.CredentialTTL must be at least a minute")
		}
		if c.PublicIP == "" && !c.LoopbackCandidates {
			return bad("the embedded TURN server (TURN_ENABLED) needs PublicIP (RTC_PUBLIC_IP) for its relay address")
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RecheckInterval <= 0 {
		c.RecheckInterval = DefaultRecheckInterval
	}
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.WaitingGrace <= 0 {
		c.WaitingGrace = DefaultWaitingGrace
	}
	if c.AuthTimeout <= 0 {
		c.AuthTimeout = DefaultAuthTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxPendingPerClient < 0 || c.MaxPending < 0 {
		return bad("MaxPendingPerClient and MaxPending must not be negative")
	}
	if c.MaxPendingPerClient == 0 {
		c.MaxPendingPerClient = DefaultMaxPendingPerClient
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.ClientAddr == nil {
		c.ClientAddr = RemoteClient
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.maxFreed == 0 {
		c.maxFreed = defaultMaxFreed
	}
	return c, nil
}
