package main

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// MediaConfig is the configuration of the built-in video: the SFU, its ICE
// and TURN, what a call starts with, and uploads.
type MediaConfig struct {
	// UploadMaxBytes (UPLOAD_MAX_BYTES) limits one uploaded file.
	UploadMaxBytes int64
	// UploadTypes (UPLOAD_ALLOWED_TYPES) are the extensions of the types
	// of file participants may upload.
	UploadTypes []string
	// UDPPortMin..UDPPortMax (RTC_UDP_PORT): one port means a single muxed
	// UDP port; a range means one port per connection from it; 0 means
	// ephemeral ports.
	UDPPortMin, UDPPortMax uint16
	// PublicIP (RTC_PUBLIC_IP) is announced in ICE candidates (1:1 NAT).
	PublicIP string
	// LoopbackCandidates (RTC_LOOPBACK_CANDIDATES) offers 127.0.0.1
	// candidates; on by default when LISTEN_ADDR is a loopback address.
	LoopbackCandidates bool
	// ICEServers (ICE_SERVERS) are STUN/TURN URLs given to browsers;
	// TURNUsername/TURNPassword are the credentials of its turn: URLs.
	ICEServers                 []string
	TURNUsername, TURNPassword string
	// TURNEnabled, TURNPort, TURNRealm: the embedded TURN server.
	TURNEnabled bool
	TURNPort    uint16
	TURNRealm   string
}

// mediaVariables are the variables of [MediaConfig], after LISTEN_ADDR.
func mediaVariables() []variable {
	boolVar := func(name, def, desc string, field func(*Config) *bool) variable {
		return variable{
			VarDoc: VarDoc{Name: name, Default: def, Description: desc + " true/false or 1/0."},
			value:  def,
			parse:  func(c *Config, v string) (err error) { *field(c), err = parseBool(v); return err },
			show:   func(c *Config) shown { return shown{value: strconv.FormatBool(*field(c))} },
		}
	}
	return []variable{
		{
			VarDoc: VarDoc{Name: "UPLOAD_MAX_BYTES", Default: "10485760",
				Description: "Largest file a participant may upload during a call, in bytes (1024 to 1073741824); larger ones get 413."},
			value: "10485760",
			parse: func(c *Config, v string) error {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 1<<10 || n > 1<<30 {
					return fmt.Errorf("expected a whole number of bytes from %d to %d", 1<<10, 1<<30)
				}
				c.Media.UploadMaxBytes = n
				return nil
			},
			show: func(c *Config) shown { return shown{value: strconv.FormatInt(c.Media.UploadMaxBytes, 10)} },
		},
		{
			VarDoc: VarDoc{Name: "UPLOAD_ALLOWED_TYPES", Default: strings.Join(teleconsult.FileTypes(), ","),
				Description: "Types of file a participant may upload, as comma-separated extensions from the default list (images, PDF, plain text, office documents). A file must have one of them and content of that type (an HTML page named x.png is refused); others get 415 with the allowed types."},
			value: strings.Join(teleconsult.FileTypes(), ","),
			parse: func(c *Config, v string) (err error) {
				c.Media.UploadTypes, err = teleconsult.ParseFileTypes(v)
				return err
			},
			show: func(c *Config) shown { return shown{value: strings.Join(c.Media.UploadTypes, ",")} },
		},
		{
			VarDoc: VarDoc{Name: "RTC_UDP_PORT", Default: "",
				Description: "UDP for media: one port (e.g. `50000`: every call muxed on it, the easiest to open in a firewall; not TURN_PORT) or a range (`40000-40100`: one port per connection). Empty: ephemeral ports."},
			parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				lo, hi, isRange := strings.Cut(v, "-")
				if !isRange {
					hi = lo
				}
				a, err1 := strconv.ParseUint(lo, 10, 16)
				b, err2 := strconv.ParseUint(hi, 10, 16)
				if err1 != nil || err2 != nil || a == 0 || b < a {
					return fmt.Errorf("expected a UDP port (1-65535) or a range such as 40000-40100")
				}
				c.Media.UDPPortMin, c.Media.UDPPortMax = uint16(a), uint16(b)
				return nil
			},
			show: func(c *Config) shown {
				switch {
				case c.Media.UDPPortMin == 0:
					return shown{value: ""}
				case c.Media.UDPPortMin == c.Media.UDPPortMax:
					return shown{value: strconv.Itoa(int(c.Media.UDPPortMin))}
				}
				return shown{value: fmt.Sprintf("%d-%d", c.Media.UDPPortMin, c.Media.UDPPortMax)}
			},
		},
		{
			VarDoc: VarDoc{Name: "RTC_PUBLIC_IP", Default: "",
				Description: "Public IP address announced in media candidates, when the server is behind a 1:1 NAT."},
			parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				if _, err := netip.ParseAddr(v); err != nil {
					return fmt.Errorf("expected an IP address")
				}
				c.Media.PublicIP = v
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.Media.PublicIP} },
		},
		{
			VarDoc: VarDoc{Name: "RTC_LOOPBACK_CANDIDATES", Default: "",
				Description: "Offer 127.0.0.1 media candidates, so that browsers on the same machine can call with no other network (demo, tests). true/false or 1/0; unset: true when LISTEN_ADDR is a loopback address."},
			parse: func(c *Config, v string) (err error) {
				if v == "" {
					host, _, _ := net.SplitHostPort(c.ListenAddr)
					ip, perr := netip.ParseAddr(host)
					c.Media.LoopbackCandidates = host == "localhost" || perr == nil && ip.IsLoopback()
					return nil
				}
				c.Media.LoopbackCandidates, err = parseBool(v)
				return err
			},
			show: func(c *Config) shown { return shown{value: strconv.FormatBool(c.Media.LoopbackCandidates)} },
		},
		{
			VarDoc: VarDoc{Name: "ICE_SERVERS", Default: "",
				Description: "STUN/TURN servers given to browsers, comma-separated URLs (`stun:stun.example.org:3478,turn:turn.example.org:3478?transport=udp`)."},
			parse: func(c *Config, v string) error {
				c.Media.ICEServers = nil
				for _, u := range strings.Split(v, ",") {
					u = strings.TrimSpace(u)
					if u == "" {
						continue
					}
					scheme, rest, ok := strings.Cut(u, ":")
					if !ok || rest == "" || (scheme != "stun" && scheme != "stuns" && scheme != "turn" && scheme != "turns") {
						return fmt.Errorf("%q: expected stun:, stuns:, turn: or turns: URLs", u)
					}
					c.Media.ICEServers = append(c.Media.ICEServers, u)
				}
				return nil
			},
			show: func(c *Config) shown { return shown{value: strings.Join(c.Media.ICEServers, ",")} },
		},
		{
			VarDoc: VarDoc{Name: "TURN_USERNAME", Default: "", Description: "Username for the turn: URLs of ICE_SERVERS."},
			parse:  func(c *Config, v string) error { c.Media.TURNUsername = v; return nil },
			show:   func(c *Config) shown { return shown{value: c.Media.TURNUsername} },
		},
		{
			VarDoc: VarDoc{Name: "TURN_PASSWORD", Default: "", Secret: true, Description: "Password for the turn: URLs of ICE_SERVERS."},
			parse:  func(c *Config, v string) error { c.Media.TURNPassword = v; return nil },
			show:   func(c *Config) shown { return secretStatus(c.Media.TURNPassword) },
		},
		boolVar("TURN_ENABLED", "false", "Run the embedded TURN server (UDP and TCP on TURN_PORT; needs RTC_PUBLIC_IP unless loopback candidates are on) and give browsers short-lived credentials for it: for participants behind restrictive NATs.",
			func(c *Config) *bool { return &c.Media.TURNEnabled }),
		{
			VarDoc: VarDoc{Name: "TURN_PORT", Default: "3478", Description: "UDP and TCP port of the embedded TURN server."},
			value:  "3478",
			parse: func(c *Config, v string) error {
				n, err := strconv.ParseUint(v, 10, 16)
				if err != nil || n == 0 {
					return fmt.Errorf("expected a UDP port (1-65535)")
				}
				c.Media.TURNPort = uint16(n)
				return nil
			},
			show: func(c *Config) shown { return shown{value: strconv.Itoa(int(c.Media.TURNPort))} },
		},
		{
			VarDoc: VarDoc{Name: "TURN_REALM", Default: "teleconsult", Description: "Realm of the embedded TURN server."},
			value:  "teleconsult",
			parse:  func(c *Config, v string) error { c.Media.TURNRealm = v; return nil },
			show:   func(c *Config) shown { return shown{value: c.Media.TURNRealm} },
		},
	}
}
