package sfu

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/teleconsult/teleconsult/internal/envvar"
)

// Variables are the built-in SFU's environment variables (RTC_*,
// ICE_SERVERS and TURN_*), in the order they are read and documented,
// bound to the fields of [Config] they set. The other fields are the
// caller's, and so is the default of LoopbackCandidates: an unset
// RTC_LOOPBACK_CANDIDATES leaves it as the caller set it before.
func Variables() []envvar.Var[Config] {
	return []envvar.Var[Config]{
		{
			Doc: envvar.Doc{Name: "RTC_UDP_PORT", Default: "",
				Description: "UDP for media: one port (e.g. `50000`: every call muxed on it, the easiest to open in a firewall; not TURN_PORT) or a range (`40000-40100`: one port per connection). Empty: ephemeral ports."},
			Parse: func(c *Config, v string) error {
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
					return errors.New("expected a UDP port (1-65535) or a range such as 40000-40100")
				}
				if a == b {
					c.UDPPort = int(a)
				} else {
					c.UDPPortMin, c.UDPPortMax = uint16(a), uint16(b)
				}
				return nil
			},
			Show: func(c *Config) envvar.Shown {
				switch {
				case c.UDPPort != 0:
					return envvar.Shown{Value: strconv.Itoa(c.UDPPort)}
				case c.UDPPortMin != 0:
					return envvar.Shown{Value: fmt.Sprintf("%d-%d", c.UDPPortMin, c.UDPPortMax)}
				}
				return envvar.Shown{}
			},
		},
		{
			Doc: envvar.Doc{Name: "RTC_PUBLIC_IP", Default: "",
				Description: "Public IP address announced in media candidates, when the server is behind a 1:1 NAT."},
			Parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				if _, err := netip.ParseAddr(v); err != nil {
					return errors.New("expected an IP address")
				}
				c.PublicIP = v
				return nil
			},
			Show: func(c *Config) envvar.Shown { return envvar.Shown{Value: c.PublicIP} },
		},
		{
			Doc: envvar.Doc{Name: "RTC_LOOPBACK_CANDIDATES", Default: "",
				Description: "Offer 127.0.0.1 media candidates, so that browsers on the same machine can call with no other network (demo, tests). true/false or 1/0; unset: true when LISTEN_ADDR is a loopback address."},
			Parse: func(c *Config, v string) (err error) {
				if v == "" {
					return nil // the caller's default (LISTEN_ADDR)
				}
				c.LoopbackCandidates, err = envvar.Bool(v)
				return err
			},
			Show: func(c *Config) envvar.Shown {
				return envvar.Shown{Value: strconv.FormatBool(c.LoopbackCandidates)}
			},
		},
		{
			Doc: envvar.Doc{Name: "ICE_SERVERS", Default: "",
				Description: "STUN/TURN servers given to browsers, comma-separated URLs (`stun:stun.example.org:3478,turn:turn.example.org:3478?transport=udp`)."},
			Parse: func(c *Config, v string) error {
				c.ICEServers = nil
				for _, u := range strings.Split(v, ",") {
					u = strings.TrimSpace(u)
					if u == "" {
						continue
					}
					scheme, rest, ok := strings.Cut(u, ":")
					if !ok || rest == "" || (scheme != "stun" && scheme != "stuns" && scheme != "turn" && scheme != "turns") {
						return fmt.Errorf("%q: expected stun:, stuns:, turn: or turns: URLs", u)
					}
					c.ICEServers = append(c.ICEServers, ICEServer{URLs: []string{u}})
				}
				return nil
			},
			Show: func(c *Config) envvar.Shown {
				var urls []string
				for _, s := range c.ICEServers {
					urls = append(urls, s.URLs...)
				}
				return envvar.Shown{Value: strings.Join(urls, ",")}
			},
		},
		{
			Doc:   envvar.Doc{Name: "TURN_USERNAME", Default: "", Description: "Username for the turn: URLs of ICE_SERVERS."},
			Parse: func(c *Config, v string) error { c.ICEUsername = v; return nil },
			Show:  func(c *Config) envvar.Shown { return envvar.Shown{Value: c.ICEUsername} },
		},
		{
			Doc:   envvar.Doc{Name: "TURN_PASSWORD", Default: "", Secret: true, Description: "Password for the turn: URLs of ICE_SERVERS."},
			Parse: func(c *Config, v string) error { c.ICECredential = v; return nil },
			Show:  func(c *Config) envvar.Shown { return envvar.SecretStatus(c.ICECredential) },
		},
		{
			Doc: envvar.Doc{Name: "TURN_ENABLED", Default: "false",
				Description: "Run the embedded TURN server (UDP and TCP on TURN_PORT; needs RTC_PUBLIC_IP unless loopback candidates are on) and give browsers short-lived credentials for it: for participants behind restrictive NATs. true/false or 1/0."},
			Value: "false",
			Parse: func(c *Config, v string) (err error) { c.TURN.Enabled, err = envvar.Bool(v); return err },
			Show:  func(c *Config) envvar.Shown { return envvar.Shown{Value: strconv.FormatBool(c.TURN.Enabled)} },
		},
		{
			Doc:   envvar.Doc{Name: "TURN_PORT", Default: strconv.Itoa(DefaultTURNPort), Description: "UDP and TCP port of the embedded TURN server."},
			Value: strconv.Itoa(DefaultTURNPort),
			Parse: func(c *Config, v string) error {
				n, err := strconv.ParseUint(v, 10, 16)
				if err != nil || n == 0 {
					return errors.New("expected a UDP port (1-65535)")
				}
				c.TURN.Port = int(n)
				return nil
			},
			Show: func(c *Config) envvar.Shown { return envvar.Shown{Value: strconv.Itoa(c.TURN.Port)} },
		},
		{
			Doc:   envvar.Doc{Name: "TURN_REALM", Default: DefaultTURNRealm, Description: "Realm of the embedded TURN server."},
			Value: DefaultTURNRealm,
			Parse: func(c *Config, v string) error { c.TURN.Realm = v; return nil },
			Show:  func(c *Config) envvar.Shown { return envvar.Shown{Value: c.TURN.Realm} },
		},
	}
}
