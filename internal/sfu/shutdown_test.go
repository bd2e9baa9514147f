package sfu

import (
	"context"
	"net/http"
	"testing"

	"github.com/coder/websocket"
)

// Ensure Provider.Close (a graceful stop: SIGTERM) tells every page that
// the server is going away, so that it reconnects: end{shutdown} with its
// message and close 1001, for participants in the call, in the waiting
// room, held before the call, and for a socket not authenticated yet; and
// that a socket opened afterwards is refused with 503.
func TestCloseTellsEveryPageToReconnect(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []envOption
		connect func(e *env, id string, tokens []string) []*client
	}{
		{"in the call", nil, func(e *env, id string, tokens []string) []*client {
			doc := e.join(id, tokens[0], clientOptions{})
			pat := e.join(id, tokens[1], clientOptions{})
			doc.waitMedia(pat)
			return []*client{doc, pat, e.dial(id, "", clientOptions{raw: true})}
		}},
		{"waiting and held", []envOption{withWaitingRoom}, func(e *env, id string, tokens []string) []*client {
			pat := e.dial(id, tokens[1], clientOptions{noMedia: true})
			pat.waitFor("waiting")
			doc := e.dial(id, "", clientOptions{noMedia: true})
			doc.send(map[string]any{"type": "auth", "token": tokens[0], "lobby": true})
			doc.waitFor("waiting-list")
			return []*client{doc, pat}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts...)
			id, tokens := e.visit(2)
			clients := tc.connect(e, id, tokens)
			if err := e.prov.Close(); err != nil {
				t.Fatal(err)
			}
			for i, c := range clients {
				m := c.waitFor("end")
				<-c.done
				c.closeMu.Lock()
				code := c.status
				c.closeMu.Unlock()
				if m.str("reason") != endShutdown || m.str("message") != shutdownMessage || code != websocket.StatusGoingAway {
					t.Errorf("connection %d: %s, close %d; want end shutdown with %q, close 1001", i, m.raw, code, shutdownMessage)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			ws, resp, err := e.dialFrom(ctx, "", id)
			if err == nil {
				_ = ws.CloseNow()
			}
			if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("a socket after Close: %v, %v; want HTTP 503", resp, err)
			}
		})
	}
}
