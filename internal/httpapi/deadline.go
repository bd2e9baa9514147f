package httpapi

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Time limits. The http.Server bounds only the headers
// (ReadHeaderTimeout); the rest is decided per route here, with
// [http.ResponseController]:
//
//   - An ordinary request must be read and answered within
//     [Timeouts.Request].
//   - An upload's body and a download's response get an idle limit
//     instead: each read (or write) that moves bytes pushes the deadline
//     [Timeouts.Idle] further, so a slow but steady link finishes. A cap
//     keeps a trickle from holding the connection for ever: the whole
//     transfer must average [Timeouts.MinRate], that is it ends at the
//     latest Request + size/MinRate after it began (size: the declared
//     length, else the upload limit).
//   - A WebSocket's deadlines are cleared when it is hijacked: the socket
//     keeps its own (the signalling protocol's ping and idle timeout).
//
// An idle limit alone would let a client send one byte every Idle; a
// deadline sized for the largest upload alone would either cut slow
// uplinks or hold a stalled one for minutes. Together a stalled transfer
// ends within Idle and a trickling one within the cap.

// Defaults of [Timeouts].
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultIdleTimeout    = 30 * time.Second
	// DefaultMinRate is 256 kbit/s: a 10 MiB file may take 328 s.
	DefaultMinRate = 256_000 / 8
)

// Timeouts are the time limits of requests; zero fields take the defaults.
type Timeouts struct {
	// Request bounds reading and answering an ordinary request.
	Request time.Duration
	// Idle bounds the pause between two reads of an upload's body or two
	// writes of a download.
	Idle time.Duration
	// MinRate is the slowest average rate of an upload or a download, in
	// bytes per second.
	MinRate int64
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Request <= 0 {
		t.Request = DefaultRequestTimeout
	}
	if t.Idle <= 0 {
		t.Idle = DefaultIdleTimeout
	}
	if t.MinRate <= 0 {
		t.MinRate = DefaultMinRate
	}
	return t
}

// transfer routes get the idle limit instead of the request limit.
func (s *Server) isTransfer(rt route) bool {
	return rt.method == http.MethodPost && rt.path == Prefix+"/teleconsultation/{id}/uploads" ||
		rt.method == http.MethodGet && rt.path == Prefix+"/teleconsultation/{id}/uploads/{fileId}"
}

// setRequestDeadlines gives an ordinary request Timeouts.Request to be read
// and answered. Writers without deadlines (httptest's recorder) are left
// alone.
func (s *Server) setRequestDeadlines(w http.ResponseWriter, start time.Time) {
	rc := http.NewResponseController(w)
	d := start.Add(s.timeouts.Request)
	_ = rc.SetReadDeadline(d)
	_ = rc.SetWriteDeadline(d)
}

// errTransferTimeout answers a transfer that stalled or was too slow.
var errTransferTimeout = &httpError{status: http.StatusRequestTimeout,
	msg: "the transfer stalled or was too slow; try again on a better connection"}

// transfer extends the deadlines of one upload or download as bytes move.
type transfer struct {
	rc       *http.ResponseController
	idle     time.Duration
	start    time.Time
	request  time.Duration
	minRate  int64
	limit    atomic.Int64 // UnixNano of the cap
	timedOut atomic.Bool
}

// startTransfer replaces the request deadlines of r by the transfer's:
// an upload's body is read with the idle limit (r.Body is wrapped) and
// its answer may be written until the cap; a download is written with the
// idle limit (the returned writer), its Content-Length sizing the cap.
func (s *Server) startTransfer(w http.ResponseWriter, r *http.Request, start time.Time) (http.ResponseWriter, *transfer) {
	t := &transfer{rc: http.NewResponseController(w), idle: s.timeouts.Idle, start: start,
		request: s.timeouts.Request, minRate: s.timeouts.MinRate}
	size := s.uploadLimit() + multipartOverhead
	if r.ContentLength > 0 && r.ContentLength < size {
		size = r.ContentLength
	}
	t.setSize(size)
	if r.Method == http.MethodPost {
		r.Body = &deadlineBody{ReadCloser: r.Body, t: t}
		t.extendRead()
		// The answer comes after the body: allow the whole cap for it.
		_ = t.rc.SetWriteDeadline(t.cap().Add(s.timeouts.Request))
		return w, t
	}
	_ = t.rc.SetReadDeadline(start.Add(s.timeouts.Request))
	t.extendWrite()
	return &deadlineWriter{ResponseWriter: w, t: t}, t
}

func (s *Server) uploadLimit() int64 {
	if n := s.svc.Settings.UploadMaxBytes; n > 0 {
		return n
	}
	return teleconsult.DefaultUploadMaxBytes
}

// setSize sets the cap: Request + size/MinRate after the start.
func (t *transfer) setSize(size int64) {
	d := t.request + time.Duration(float64(size)/float64(t.minRate)*float64(time.Second))
	t.limit.Store(t.start.Add(d).UnixNano())
}

func (t *transfer) cap() time.Time { return time.Unix(0, t.limit.Load()) }

// next is the deadline after bytes moved now.
func (t *transfer) next() time.Time {
	d := time.Now().Add(t.idle)
	if c := t.cap(); c.Before(d) {
		return c
	}
	return d
}

func (t *transfer) extendRead()  { _ = t.rc.SetReadDeadline(t.next()) }
func (t *transfer) extendWrite() { _ = t.rc.SetWriteDeadline(t.next()) }

// note records that err is a deadline's.
func (t *transfer) note(err error) {
	if err == nil {
		return
	}
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		t.timedOut.Store(true)
	}
}

// deadlineBody is an upload's body: every read that returns bytes moves
// the read deadline on.
type deadlineBody struct {
	io.ReadCloser
	t *transfer
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.t.extendRead()
	}
	b.t.note(err)
	return n, err
}

// deadlineWriter is a download's writer: every chunk written moves the
// write deadline on first. A declared Content-Length sizes the cap.
type deadlineWriter struct {
	http.ResponseWriter
	t *transfer
}

func (w *deadlineWriter) WriteHeader(code int) {
	if n, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		w.t.setSize(n)
	}
	w.ResponseWriter.WriteHeader(code)
}

// writeChunk is how much a download writes per deadline extension: a
// large write to a slow link would otherwise count as one long pause.
const writeChunk = 4 << 10

func (w *deadlineWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := p[:min(len(p), writeChunk)]
		w.t.extendWrite()
		k, err := w.ResponseWriter.Write(c)
		n += k
		if err != nil {
			w.t.note(err)
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// Unwrap lets [http.ResponseController] reach the underlying writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
