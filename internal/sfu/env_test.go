package sfu

import (
	"reflect"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/envvar"
)

// readEnv sets cfg from env through Variables, as the command does.
func readEnv(cfg *Config, env map[string]string) error {
	return envvar.Read(Variables(), cfg, env)
}

// Ensure the SFU's variables set the fields they document, show what they
// set, and refuse bad values saying what is expected.
func TestVariables(t *testing.T) {
	for _, tt := range []struct {
		name     string
		env      map[string]string
		loopback bool // the caller's default of LoopbackCandidates
		want     Config
		shown    map[string]string
	}{
		{"defaults", nil, false,
			Config{TURN: TURNConfig{Port: DefaultTURNPort, Realm: DefaultTURNRealm}},
			map[string]string{"RTC_UDP_PORT": "", "RTC_LOOPBACK_CANDIDATES": "false", "TURN_PORT": "3478", "TURN_REALM": "teleconsult", "TURN_ENABLED": "false", "TURN_PASSWORD": "(not set)"}},
		{"the caller's loopback default stays when unset", nil, true,
			Config{LoopbackCandidates: true, TURN: TURNConfig{Port: DefaultTURNPort, Realm: DefaultTURNRealm}},
			map[string]string{"RTC_LOOPBACK_CANDIDATES": "true"}},
		{"set overrides the caller's default", map[string]string{"RTC_LOOPBACK_CANDIDATES": "0"}, true,
			Config{TURN: TURNConfig{Port: DefaultTURNPort, Realm: DefaultTURNRealm}},
			map[string]string{"RTC_LOOPBACK_CANDIDATES": "false"}},
		{"one muxed port", map[string]string{"RTC_UDP_PORT": "50000"}, false,
			Config{UDPPort: 50000, TURN: TURNConfig{Port: DefaultTURNPort, Realm: DefaultTURNRealm}},
			map[string]string{"RTC_UDP_PORT": "50000"}},
		{"a range of one port is the muxed port", map[string]string{"RTC_UDP_PORT": "50000-50000"}, false,
			Config{UDPPort: 50000, TURN: TURNConfig{Port: DefaultTURNPort, Realm: DefaultTURNRealm}},
			map[string]string{"RTC_UDP_PORT": "50000"}},
		{"everything", map[string]string{"RTC_UDP_PORT": "40000-40100", "RTC_PUBLIC_IP": "192.0.2.1",
			"ICE_SERVERS": " stun:s.example.org:3478, ,turn:t.example.org:3478?transport=udp", "TURN_USERNAME": "u", "TURN_PASSWORD": "pw",
			"TURN_ENABLED": "true", "TURN_PORT": "5349", "TURN_REALM": "clinic"}, false,
			Config{UDPPortMin: 40000, UDPPortMax: 40100, PublicIP: "192.0.2.1",
				ICEServers:  []ICEServer{{URLs: []string{"stun:s.example.org:3478"}}, {URLs: []string{"turn:t.example.org:3478?transport=udp"}}},
				ICEUsername: "u", ICECredential: "pw", TURN: TURNConfig{Enabled: true, Port: 5349, Realm: "clinic"}},
			map[string]string{"RTC_UDP_PORT": "40000-40100", "ICE_SERVERS": "stun:s.example.org:3478,turn:t.example.org:3478?transport=udp",
				"TURN_USERNAME": "u", "TURN_PASSWORD": "****** (set)", "TURN_ENABLED": "true", "TURN_PORT": "5349"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{LoopbackCandidates: tt.loopback}
			if err := readEnv(&c, tt.env); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, tt.want) {
				t.Errorf("config %+v\nwant %+v", c, tt.want)
			}
			for _, v := range Variables() {
				want, ok := tt.shown[v.Name]
				if got := v.Show(&c); ok && got.Value != want {
					t.Errorf("%s shown %q, want %q", v.Name, got.Value, want)
				}
				if got := v.Show(&c); v.Secret && !got.Masked {
					t.Errorf("%s: a secret shown unmasked", v.Name)
				}
			}
		})
	}
	for _, tt := range []struct{ name, value, want string }{
		{"RTC_UDP_PORT", "0", "UDP port (1-65535) or a range"},
		{"RTC_UDP_PORT", "40100-40000", "UDP port (1-65535) or a range"},
		{"RTC_UDP_PORT", "70000", "UDP port (1-65535) or a range"},
		{"RTC_PUBLIC_IP", "nat.example.org", "IP address"},
		{"RTC_LOOPBACK_CANDIDATES", "yes", "true or false"},
		{"ICE_SERVERS", "stun:a,http://b", `"http://b": expected stun:, stuns:, turn: or turns: URLs`},
		{"ICE_SERVERS", "turn:", "expected stun:"},
		{"TURN_ENABLED", "on", "true or false"},
		{"TURN_PORT", "0", "UDP port (1-65535)"},
		{"TURN_PORT", "65536", "UDP port (1-65535)"},
	} {
		err := readEnv(&Config{}, map[string]string{tt.name: tt.value})
		if err == nil || !strings.HasPrefix(err.Error(), tt.name+": ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%s: %v, want %q", tt.name, tt.value, err, tt.want)
		}
	}
}

// Ensure TURN_USERNAME and TURN_PASSWORD reach the turn: servers of
// ICE_SERVERS given without credentials, and only those, without changing
// the caller's slice; and that a turn: server without any is refused.
func TestICECredentials(t *testing.T) {
	servers := []ICEServer{{URLs: []string{"stun:s:3478"}}, {URLs: []string{"turn:t:3478"}},
		{URLs: []string{"turns:own:5349"}, Username: "own", Credential: "own-pw"}}
	c, err := Config{ICEServers: servers, ICEUsername: "u", ICECredential: "pw"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := []ICEServer{{URLs: []string{"stun:s:3478"}}, {URLs: []string{"turn:t:3478"}, Username: "u", Credential: "pw"},
		{URLs: []string{"turns:own:5349"}, Username: "own", Credential: "own-pw"}}
	if !reflect.DeepEqual(c.ICEServers, want) {
		t.Errorf("servers %+v, want %+v", c.ICEServers, want)
	}
	if servers[1].Username != "" {
		t.Error("withDefaults changed the caller's servers")
	}
	if _, err := (Config{ICEServers: servers[:2]}).withDefaults(); err == nil || !strings.Contains(err.Error(), "needs username and credential") {
		t.Errorf("a turn: server without credentials: %v", err)
	}
}
