package kaleyratest

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
)

// Visit is one request a browser made for a participant link: the link
// (without its query), the link options it carried, and whether the link
// is one the fake made for a room that exists.
type Visit struct {
	Link    string
	Options url.Values
	Known   bool
}

// ServeLinks starts a second server on 127.0.0.1, standing in for the
// company's Kaleyra Video site: rooms made from now on get participant
// links there, and a browser that opens one gets a small page that shows
// the link options it was given. It returns the origin; the server stops
// when the test ends.
func (s *Server) ServeLinks(tb interface{ Cleanup(func()) }) string {
	srv := httptest.NewServer(http.HandlerFunc(s.serveLink))
	tb.Cleanup(srv.Close)
	s.mu.Lock()
	s.linkBase = srv.URL
	s.mu.Unlock()
	return srv.URL
}

// Visits returns the requests for participant links, in order.
func (s *Server) Visits() []Visit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Visit(nil), s.visits...)
}

func (s *Server) serveLink(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/eu/direct-rest-call-handler/") {
		http.NotFound(w, r)
		return
	}
	link := s.linkBase + r.URL.Path
	v := Visit{Link: link, Options: r.URL.Query()}
	s.mu.Lock()
	for _, rm := range s.rooms {
		for _, pt := range rm.Participants {
			v.Known = v.Known || pt.Link == link
		}
	}
	s.visits = append(s.visits, v)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !v.Known {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, linkPage, "This link is not valid", "")
		return
	}
	var b strings.Builder
	for _, k := range []string{"display_name", "language", "audio_disabled", "video_disabled", "virtual_background"} {
		fmt.Fprintf(&b, `<tr><th>%s</th><td data-option="%s">%s</td></tr>`, k, k, html.EscapeString(v.Options.Get(k)))
	}
	fmt.Fprintf(w, linkPage, "Kaleyra Video call", b.String())
}

// linkPage is the fake's stand-in for Kaleyra's call page.
const linkPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Kaleyra Video (test fake)</title>
<style>body{margin:0;font:16px system-ui,sans-serif;background:#0b3954;color:#fff;display:grid;place-items:center;min-height:100vh}
main{text-align:center}table{margin:auto;border-collapse:collapse}th,td{padding:4px 12px;text-align:left}th{opacity:.7;font-weight:normal}small{opacity:.7}</style></head>
<body><main><small>Kaleyra Video (test fake)</small><h1 data-testid="kaleyra-state">%s</h1><table>%s</table></main></body></html>`
