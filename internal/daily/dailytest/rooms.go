package dailytest

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
)

// Visit is one request a browser made for a room page: the room's name
// and the meeting token it brought (?t=), and whether the fake let it in
// (a token minted for that room).
type Visit struct {
	Room, Token string
	Admitted    bool
	// UserName is the user_name of the admitted token.
	UserName string
}

// ServeRooms starts a second server on 127.0.0.1, standing in for
// <domain>.daily.co where Daily Prebuilt runs: rooms made from now on get
// their URL there (origin + "/" + name), and a browser that opens one gets
// a small page that says which room and which participant's token it was
// given, turns on the camera and microphone as Daily Prebuilt does, and
// reports whether they could be used (see [Server.Media]). It returns the
// origin; the server stops when the test ends.
func (s *Server) ServeRooms(tb interface{ Cleanup(func()) }) string {
	srv := httptest.NewServer(http.HandlerFunc(s.serveRoom))
	tb.Cleanup(srv.Close)
	s.mu.Lock()
	s.roomBase = srv.URL
	s.mu.Unlock()
	return srv.URL
}

// Visits returns the requests for room pages, in order.
func (s *Server) Visits() []Visit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Visit(nil), s.visits...)
}

// Media returns what the room pages reported about the camera and
// microphone: "ok" or the name of getUserMedia's error, in order.
func (s *Server) Media() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.media...)
}

func (s *Server) serveRoom(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if room, ok := strings.CutSuffix(name, "/media"); ok && r.Method == http.MethodPost {
		s.mu.Lock()
		if _, known := s.rooms[room]; known {
			s.media = append(s.media, r.URL.Query().Get("result"))
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodGet || !nameRE.MatchString(name) {
		http.NotFound(w, r)
		return
	}
	tok := r.URL.Query().Get("t")
	v := Visit{Room: name, Token: tok}
	s.mu.Lock()
	_, known := s.rooms[name]
	for _, t := range s.tokens {
		if tok != "" && t.Token == tok && t.Properties["room_name"] == name {
			v.Admitted, v.UserName = known, fmt.Sprint(t.Properties["user_name"])
		}
	}
	s.visits = append(s.visits, v)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !v.Admitted {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, roomPage, "Not allowed", "This room needs a valid meeting token.", "", "")
		return
	}
	fmt.Fprintf(w, roomPage, "In the call", "Room "+html.EscapeString(name), "Joined as "+html.EscapeString(v.UserName), mediaScript)
}

// roomPage is the fake's stand-in for Daily Prebuilt: title, two lines,
// a video of the local camera and a script.
const roomPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Daily (test fake)</title>
<style>body{margin:0;font:16px system-ui,sans-serif;background:#1f2d3d;color:#fff;display:grid;place-items:center;min-height:100vh}
main{text-align:center}video{width:320px;height:240px;background:#000;border-radius:8px}small{opacity:.7}</style></head>
<body><main><small>Daily Prebuilt (test fake)</small><h1 data-testid="daily-state">%s</h1><p>%s</p><p data-testid="daily-user">%s</p>
<video autoplay muted playsinline></video><p id="media"></p></main>%s</body></html>`

const mediaScript = `<script>
navigator.mediaDevices.getUserMedia({ audio: true, video: true }).then((s) => {
  document.querySelector('video').srcObject = s;
  return 'ok';
}, (e) => e.name).then((result) => {
  document.getElementById('media').textContent = 'camera and microphone: ' + result;
  fetch(location.pathname + '/media?result=' + encodeURIComponent(result), { method: 'POST' });
});
</script>`
