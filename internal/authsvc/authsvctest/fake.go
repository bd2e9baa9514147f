// Package authsvctest is an HTTP fake of the auth service of AUTH_SERVICE
// mode, built from the contract in ../authsvc.go (Auth0's user object at
// GET /users/{id}) and of a custom-id service (a Mia CRUD collection of
// users at /custom/, read by _id or by a field), for tests on loopback. It
// records the headers of every request and can fail a route: any status,
// a hang, a malformed or a huge body, or a user object for someone else.
package authsvctest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// User is a user the fake knows: Auth0's user_id, name, email and
// app_metadata.groups.
type User struct {
	ID     string
	Name   string
	Email  string
	Groups []string
}

// Fault is what the fake does instead of answering.
type Fault struct {
	Status    int
	Hang      bool
	Malformed bool
	Huge      bool
	// OtherUser answers with another user_id.
	OtherUser bool
	// NoName answers a user object without a name.
	NoName bool
}

type fault struct {
	prefix string
	times  int
	f      Fault
}

// Request is a request the fake received: its path, query and headers.
type Request struct {
	Path   string
	Query  url.Values
	Header http.Header
}

// Server is the fake. Users are served at /users/{id}; custom ids at
// /custom/{customId} (by _id) and /custom/?email=… (by another field),
// whose documents hold the auth id in authUserId.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	users    map[string]User
	custom   map[string]map[string]any // custom id → CRUD document
	faults   []fault
	requests []Request
	hang     chan struct{}
}

// New starts a fake, closed at the end of the test.
func New(tb testing.TB) *Server {
	s := &Server{users: map[string]User{}, custom: map[string]map[string]any{}, hang: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(func() {
		close(s.hang)
		s.Server.Close()
	})
	return s
}

// AddUser adds or replaces a user.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// AddCustomID maps a custom id (the document's _id) to an auth id, with
// more fields of the document (email, …).
func (s *Server) AddCustomID(customID, authID string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	doc := map[string]any{"_id": customID, "authUserId": authID}
	for k, v := range fields {
		doc[k] = v
	}
	s.custom[customID] = doc
}

// Fail makes the next times requests whose path starts with prefix fail
// with f.
func (s *Server) Fail(prefix string, times int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{prefix, times, f})
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) takeFault(path string) (Fault, bool) {
	for i := range s.faults {
		if f := &s.faults[i]; f.times > 0 && strings.HasPrefix(path, f.prefix) {
			f.times--
			return f.f, true
		}
	}
	return Fault{}, false
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, Request{Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()})
	f, faulty := s.takeFault(r.URL.Path)
	s.mu.Unlock()
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"statusCode": 405, "error": "Method Not Allowed"})
		return
	}
	if faulty {
		switch {
		case f.Hang:
			select {
			case <-r.Context().Done():
			case <-s.hang:
			case <-time.After(time.Minute):
			}
			return
		case f.Malformed:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"user_id": "`))
			return
		case f.Huge:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(bytes.Repeat([]byte(" "), 2<<20))
			return
		case f.Status != 0:
			writeJSON(w, f.Status, map[string]any{"statusCode": f.Status, "error": http.StatusText(f.Status), "message": "injected"})
			return
		}
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/users/"):
		id, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/users/"))
		s.mu.Lock()
		u, ok := s.users[id]
		s.mu.Unlock()
		if err != nil || !ok {
			writeJSON(w, http.StatusNotFound, map[string]any{"statusCode": 404, "error": "Not Found", "message": "user not found"})
			return
		}
		obj := map[string]any{"user_id": u.ID, "name": u.Name, "nickname": "nick", "identities": []any{},
			"app_metadata": map[string]any{"groups": u.Groups}, "created_at": "2024-01-01T00:00:00.000Z"}
		if u.Email != "" {
			obj["email"] = u.Email
		}
		if f.OtherUser {
			obj["user_id"] = "auth0|someone-else"
		}
		if f.NoName {
			delete(obj, "name")
		}
		writeJSON(w, http.StatusOK, obj)
	case r.URL.Path == "/custom/" && len(r.URL.Query()) == 1:
		var found []map[string]any
		s.mu.Lock()
		for field, vals := range r.URL.Query() {
			for _, doc := range s.custom {
				if v, _ := doc[field].(string); len(vals) == 1 && v == vals[0] {
					found = append(found, doc)
				}
			}
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, append([]map[string]any{}, found...))
	case strings.HasPrefix(r.URL.Path, "/custom/"):
		id, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/custom/"))
		s.mu.Lock()
		doc, ok := s.custom[id]
		s.mu.Unlock()
		if err != nil || !ok {
			writeJSON(w, http.StatusNotFound, map[string]any{"statusCode": 404, "error": "Not Found", "message": "document not found"})
			return
		}
		writeJSON(w, http.StatusOK, doc)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"statusCode": 404, "error": "Not Found"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
