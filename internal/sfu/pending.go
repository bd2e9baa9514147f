package sfu

import (
	"net/http"
	"sync"

	"github.com/teleconsult/teleconsult/internal/clientaddr"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Defaults of the caps on sockets that have not authenticated yet.
const (
	DefaultMaxPendingPerClient = 32
	DefaultMaxPending          = 256
)

// pendingSockets counts the signalling WebSockets open but not yet
// authenticated, per client and in all. A page authenticates within a
// round trip; a socket that does not is held until AuthTimeout, so without
// a cap one client could hold every file descriptor of the process.
type pendingSockets struct {
	perClient, total int

	mu       sync.Mutex
	n        int
	byClient map[string]int
}

func newPendingSockets(perClient, total int) *pendingSockets {
	return &pendingSockets{perClient: perClient, total: total, byClient: map[string]int{}}
}

// acquire counts a new socket from client, or reports false when a cap is
// reached. The release function it returns may be called any number of
// times; the first call counts the socket out.
func (ps *pendingSockets) acquire(client string) (release func(), ok bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.n >= ps.total || ps.byClient[client] >= ps.perClient {
		return nil, false
	}
	ps.n++
	ps.byClient[client]++
	var once sync.Once
	return func() {
		once.Do(func() {
			ps.mu.Lock()
			defer ps.mu.Unlock()
			ps.n--
			if ps.byClient[client]--; ps.byClient[client] <= 0 {
				delete(ps.byClient, client)
			}
		})
	}, true
}

// count returns the pending sockets in all and of client.
func (ps *pendingSockets) count(client string) (total, ofClient int) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.n, ps.byClient[client]
}

// RemoteClient is the default [Config.ClientAddr]: the client address the
// HTTP server resolved for r (behind a trusted proxy, the forwarded one;
// see package clientaddr), else the connection's peer, as a rate-limit
// key (an IPv6 address cut to its /64; "unknown" when there is none).
func RemoteClient(r *http.Request) string { return clientaddr.Key(clientaddr.Of(r)) }

// callActor is who opens a call socket, for the audit trail: the holder of
// a session token, with the request id and client address the HTTP server
// put in the request's context (or the connection's peer).
func callActor(r *http.Request) teleconsult.Actor {
	a := teleconsult.ActorFrom(r.Context())
	a.Kind = teleconsult.ActorParticipant
	if a.ClientAddr == "" {
		if addr := clientaddr.Of(r); addr.IsValid() {
			a.ClientAddr = addr.String()
		}
	}
	return a
}
