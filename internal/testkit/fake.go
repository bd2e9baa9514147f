package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Fault is what a vendor's fake does instead of (or after) answering.
type Fault struct {
	// Status, when set, is answered with the vendor's error body, and
	// Retry-After when RetryAfter is set.
	Status     int
	RetryAfter string
	// Hang never answers (until the client gives up or the fake closes).
	Hang bool
	// Malformed answers 200 with a truncated JSON body.
	Malformed bool
	// Huge answers 200 with a 10 MiB body.
	Huge bool
	// Lost makes the change first; then the answer is lost: the fault's
	// Status is answered instead (a gateway error after the change), or,
	// without one, the fake hangs.
	Lost bool
}

// Request is a request a fake received.
type Request struct {
	Method, Path string
}

// Vendor is what sets one vendor's fake apart: how it checks credentials,
// answers, and fails.
type Vendor struct {
	// Authorize answers a request whose credentials the vendor refuses
	// and reports whether it did.
	Authorize func(w http.ResponseWriter, r *http.Request) (refused bool)
	// Route answers an authorized request.
	Route http.HandlerFunc
	// Error writes the vendor's error body for an injected Status.
	Error func(w http.ResponseWriter, status int)
	// Malformed is the truncated JSON body of a Malformed fault.
	Malformed string
	// HugeKey is the JSON key of a Huge fault's body, HugePad the byte
	// its 10 MiB string is made of.
	HugeKey string
	HugePad byte
}

type fault struct {
	method, prefix string
	times          int
	f              Fault
}

// Fake is the scaffolding of an HTTP fake of a vendor's API on 127.0.0.1:
// it records the requests, injects faults by route, and releases hung
// requests when it closes.
type Fake struct {
	*httptest.Server
	v Vendor

	mu       sync.Mutex
	requests []Request
	faults   []*fault
	stop     chan struct{}
}

// StartFake starts a fake of v; it stops when the test ends.
func StartFake(tb interface{ Cleanup(func()) }, v Vendor) *Fake {
	f := &Fake{v: v, stop: make(chan struct{})}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.Close)
	return f
}

// Close stops the fake, releasing hung requests first.
func (f *Fake) Close() {
	f.mu.Lock()
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.mu.Unlock()
	f.Server.Close()
}

// Fail makes the next times requests whose method is method and whose path
// starts with prefix get ft.
func (f *Fake) Fail(method, prefix string, times int, ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &fault{method, prefix, times, ft})
}

// Requests returns the requests received, in order.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.requests...)
}

// Count returns how many requests had method and a path starting with
// prefix.
func (f *Fake) Count(method, prefix string) int {
	n := 0
	for _, r := range f.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, Request{r.Method, r.URL.Path})
	var ft *Fault
	for _, x := range f.faults {
		if x.times > 0 && x.method == r.Method && strings.HasPrefix(r.URL.Path, x.prefix) {
			x.times--
			ft = &x.f
			break
		}
	}
	f.mu.Unlock()

	// Authentication comes first, as at the vendors.
	if f.v.Authorize(w, r) {
		return
	}
	if ft == nil {
		f.v.Route(w, r)
		return
	}
	if ft.Lost {
		f.v.Route(httptest.NewRecorder(), r)
	}
	switch {
	case ft.Hang:
		f.Hang(r)
	case ft.Status != 0:
		if ft.RetryAfter != "" {
			w.Header().Set("Retry-After", ft.RetryAfter)
		}
		f.v.Error(w, ft.Status)
	case ft.Malformed:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, f.v.Malformed)
	case ft.Huge:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{%q: "`, f.v.HugeKey)
		chunk := bytes.Repeat([]byte{f.v.HugePad}, 64<<10)
		for range 160 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		fmt.Fprint(w, `"}`)
	case ft.Lost:
		f.Hang(r)
	default:
		f.v.Route(w, r)
	}
}

// Hang waits until the client gives up on r or the fake closes.
func (f *Fake) Hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-f.stop:
	}
}

// ReadObject decodes a request's JSON object body (up to 1 MiB), with
// numbers kept as [json.Number]; it refuses another Content-Type.
func ReadObject(r *http.Request) (map[string]any, error) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return nil, fmt.Errorf("Content-Type must be application/json")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("body is not a JSON object")
	}
	return m, nil
}
