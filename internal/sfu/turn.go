package sfu

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // the TURN REST API specifies HMAC-SHA1
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/turn/v4"
)

// turnMaxAllocationsPerUser bounds the relays one credential may hold: a
// browser needs one per ICE candidate gathering, so a handful at most.
const turnMaxAllocationsPerUser = 8

// turnServer is the embedded TURN server (RFC 8656) with TURN REST API
// credentials. It relays only to this host's own addresses: it exists to
// reach the SFU from networks that block UDP, never to reach anything
// else (ASVS 5.0 V17.1.1).
type turnServer struct {
	srv    *turn.Server
	secret []byte
	realm  string
	now    func() time.Time
	port   int

	own []net.IP // the only peers relayed to

	mu     sync.Mutex
	allocs map[string]int // username → live allocations
}

// permit reports whether the relay may send to peer: one of this host's
// addresses, where the SFU's candidates are.
func (t *turnServer) permit(peer net.IP) bool {
	for _, ip := range t.own {
		if ip.Equal(peer) {
			return true
		}
	}
	return false
}

func newTURNServer(cfg Config, logs *pionLogs) (*turnServer, error) {
	t := &turnServer{secret: cfg.TURN.Secret, realm: cfg.TURN.Realm, now: cfg.Now, allocs: map[string]int{}}
	if len(t.secret) == 0 {
		t.secret = make([]byte, 32)
		if _, err := rand.Read(t.secret); err != nil {
			return nil, err
		}
	}
	listenIP, relayIP := "0.0.0.0", net.ParseIP(cfg.PublicIP)
	if cfg.LoopbackCandidates {
		listenIP = "127.0.0.1"
		if relayIP == nil {
			relayIP = net.IPv4(127, 0, 0, 1)
		}
	}
	t.own = ownAddresses(cfg)
	allowed := func(_ net.Addr, peer net.IP) bool { return t.permit(peer) }
	addr := net.JoinHostPort(listenIP, strconv.Itoa(cfg.TURN.Port))
	udp, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: TURN port (TURN_PORT=%d): %w", ErrConfig, cfg.TURN.Port, err)
	}
	t.port = udp.LocalAddr().(*net.UDPAddr).Port
	tcp, err := net.Listen("tcp4", net.JoinHostPort(listenIP, strconv.Itoa(t.port)))
	if err != nil {
		_ = udp.Close() // the listen error is the one to report
		return nil, fmt.Errorf("%w: TURN port (TURN_PORT=%d, tcp): %w", ErrConfig, cfg.TURN.Port, err)
	}
	relayListen := listenIP
	var gen func() turn.RelayAddressGenerator
	if cfg.UDPPortMin != 0 {
		gen = func() turn.RelayAddressGenerator {
			return &turn.RelayAddressGeneratorPortRange{RelayAddress: relayIP, Address: relayListen,
				MinPort: cfg.UDPPortMin, MaxPort: cfg.UDPPortMax}
		}
	} else {
		gen = func() turn.RelayAddressGenerator {
			return &turn.RelayAddressGeneratorStatic{RelayAddress: relayIP, Address: relayListen}
		}
	}
	t.srv, err = turn.NewServer(turn.ServerConfig{
		Realm:         t.realm,
		LoggerFactory: logs,
		AuthHandler:   t.auth,
		QuotaHandler:  t.quota,
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(_, _ net.Addr, _, username, _ string, _ net.Addr, _ int) { t.retain(username) },
			OnAllocationDeleted: func(_, _ net.Addr, _, username, _ string) { t.release(username) },
		},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: udp, RelayAddressGenerator: gen(), PermissionHandler: allowed}},
		ListenerConfigs:   []turn.ListenerConfig{{Listener: tcp, RelayAddressGenerator: gen(), PermissionHandler: allowed}},
	})
	if err != nil {
		_ = udp.Close() // the TURN error is the one to report
		_ = tcp.Close()
		return nil, fmt.Errorf("%w: TURN: %w", ErrConfig, err)
	}
	return t, nil
}

// ownAddresses are the addresses the SFU's candidates may carry.
func ownAddresses(cfg Config) []net.IP {
	var out []net.IP
	if ip := net.ParseIP(cfg.PublicIP); ip != nil {
		out = append(out, ip)
	}
	if cfg.LoopbackCandidates {
		out = append(out, net.IPv4(127, 0, 0, 1))
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && (!n.IP.IsLoopback() || cfg.LoopbackCandidates) {
			out = append(out, n.IP)
		}
	}
	return out
}

// credentials returns a username and password for participant pid, valid
// until expiry.
func (t *turnServer) credentials(pid string, expiry time.Time) (string, string) {
	user := strconv.FormatInt(expiry.Unix(), 10) + ":" + pid
	return user, t.password(user)
}

func (t *turnServer) password(user string) string {
	mac := hmac.New(sha1.New, t.secret)
	mac.Write([]byte(user))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// auth checks a TURN REST API username against the injected clock.
func (t *turnServer) auth(username, realm string, _ net.Addr) ([]byte, bool) {
	exp, pid, ok := strings.Cut(username, ":")
	if !ok || pid == "" || len(username) > 128 {
		return nil, false
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !t.now().Before(time.Unix(secs, 0)) {
		return nil, false
	}
	return turn.GenerateAuthKey(username, realm, t.password(username)), true
}

func (t *turnServer) quota(username, _ string, _ net.Addr) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.allocs[username] < turnMaxAllocationsPerUser
}

func (t *turnServer) retain(username string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.allocs[username]++
}

func (t *turnServer) release(username string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.allocs[username] <= 1 {
		delete(t.allocs, username)
	} else {
		t.allocs[username]--
	}
}

func (t *turnServer) Close() error { return t.srv.Close() }
