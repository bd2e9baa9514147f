package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/teleconsult/teleconsult/internal/sfu"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Time limits are tested over real TCP connections on loopback, with the
// limits shortened: the server is httptest's, without ReadTimeout or
// WriteTimeout, as cmd/teleconsult configures its own.

// smallBuffers makes the kernel's socket buffers small so that a slow
// reader holds the writer back (loopback buffers would otherwise swallow
// a whole test file at once).
func smallBuffers(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		if serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 16<<10)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(16 << 10)
		_ = tc.SetReadBuffer(16 << 10)
	}
	return c, err
}

// transferEnv is an env with the limits tm and uploads of at most
// maxUpload bytes, served on 127.0.0.1, with a visit open and the doctor's
// session token.
type transferEnv struct {
	*env
	url, id, token string
	client         *http.Client
}

func newTransferEnv(t *testing.T, tm Timeouts, maxUpload int64) *transferEnv {
	t.Helper()
	var prov *sfu.Provider
	e := newEnv(t, func(c *Config, s *teleconsult.Settings) {
		c.Timeouts = tm
		s.UploadMaxBytes = maxUpload
		prov = newSFU(t)
		c.Mounts = []Mount{{Method: http.MethodGet, Path: sfu.CallPath, Public: true, Handler: prov.Handler()}}
	})
	// newEnv made its own provider for the Service: use the mounted one.
	e.svc.Provider, e.svc.Calls = prov, prov
	prov.SetService(e.svc)
	id := e.create(2, "", doctor, patient)
	tok := e.sessionToken(id, "d1")
	srv := httptest.NewUnstartedServer(e.h)
	srv.Listener = smallBufferListener{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	d := &net.Dialer{Control: smallBuffers}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	t.Cleanup(client.CloseIdleConnections)
	return &transferEnv{env: e, url: srv.URL, id: id, token: tok, client: client}
}

// paced yields data in chunks of size n, sleeping every between chunks,
// and once pause after pauseAfter bytes.
type paced struct {
	data       []byte
	n          int
	every      time.Duration
	pauseAfter int
	pause      time.Duration
	sent       int
}

func (p *paced) Read(b []byte) (int, error) {
	if p.sent >= len(p.data) {
		return 0, io.EOF
	}
	if p.sent > 0 {
		time.Sleep(p.every)
	}
	if p.pause > 0 && p.sent >= p.pauseAfter {
		time.Sleep(p.pause)
		p.pause = 0
	}
	k := min(p.n, len(b), len(p.data)-p.sent)
	copy(b, p.data[p.sent:p.sent+k])
	p.sent += k
	return k, nil
}

// textFile is size bytes of plain text.
func textFile(size int) []byte {
	line := []byte("Referto: pressione arteriosa nella norma, controllo tra sei mesi.\n")
	return bytes.Repeat(line, size/len(line)+1)[:size]
}

// slowUpload sends a file at the pace of p and returns the status and
// decoded JSON body (status 0: no answer).
func (te *transferEnv) slowUpload(t *testing.T, p *paced) (int, map[string]any, time.Duration) {
	t.Helper()
	b, ct := multipartBody(t, "file", "referto.txt", p.data)
	p.data = []byte(b)
	req, err := http.NewRequest("POST", te.url+api+"/"+te.id+"/uploads", p)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(b))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+te.token)
	began := time.Now()
	resp, err := te.client.Do(req)
	took := time.Since(began)
	if err != nil {
		t.Logf("no answer: %v", err)
		return 0, nil, took
	}
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("status %d: not JSON: %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, m, took
}

func (te *transferEnv) uploads(t *testing.T) int {
	t.Helper()
	w := te.do("GET", api+"/"+te.id+"/uploads", "", bearer(te.token))
	wantStatus(t, w, http.StatusOK)
	return len(body(t, w)["files"].([]any))
}

// An upload slower than the request limit but steady completes; one that
// stalls longer than the idle limit, or trickles slower than the minimum
// rate, is answered 408 and stores nothing.
func TestUploadDeadlines(t *testing.T) {
	tests := []struct {
		name   string
		tm     Timeouts
		p      paced
		status int
		min    time.Duration // the upload took at least this long
	}{
		// 96 KiB at about 64 KiB/s: 1.5 s against a 300 ms request limit.
		{"slow and steady", Timeouts{Request: 300 * time.Millisecond, Idle: time.Second},
			paced{data: textFile(96 << 10), n: 4 << 10, every: 60 * time.Millisecond}, http.StatusCreated, time.Second},
		{"stalls", Timeouts{Request: 300 * time.Millisecond, Idle: 300 * time.Millisecond},
			paced{data: textFile(64 << 10), n: 8 << 10, every: 10 * time.Millisecond, pauseAfter: 16 << 10, pause: 1500 * time.Millisecond},
			http.StatusRequestTimeout, 300 * time.Millisecond},
		// 1 KiB every 250 ms never pauses 1 s, but at 4 KiB/s misses the
		// 8 KiB/s floor: cut at 200 ms + 16.1 KiB / 8 KiB/s.
		{"trickles", Timeouts{Request: 200 * time.Millisecond, Idle: time.Second, MinRate: 8 << 10},
			paced{data: textFile(16 << 10), n: 1 << 10, every: 250 * time.Millisecond}, http.StatusRequestTimeout, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newTransferEnv(t, tt.tm, 1<<20)
			status, m, took := te.slowUpload(t, &tt.p)
			if status != tt.status {
				t.Fatalf("status %d (%v) after %v, want %d", status, m, took, tt.status)
			}
			if took < tt.min {
				t.Errorf("took %v, less than %v: the test did not exercise the limit", took, tt.min)
			}
			want := 0
			if status == http.StatusCreated {
				want = 1
			} else if msg, _ := m["error"].(string); !strings.Contains(msg, "stalled or was too slow") {
				t.Errorf("error %q", msg)
			}
			if n := te.uploads(t); n != want {
				t.Errorf("%d files stored, want %d", n, want)
			}
		})
	}
}

// A download read slower than the request limit completes; a reader that
// stops for longer than the idle limit is cut off.
func TestDownloadDeadlines(t *testing.T) {
	te := newTransferEnv(t, Timeouts{Request: 300 * time.Millisecond, Idle: time.Second}, 2<<20)
	content := textFile(1 << 20)
	w := te.upload(te.id, te.token, "referto.txt", content)
	wantStatus(t, w, http.StatusCreated)
	fileID := body(t, w)["id"].(string)

	read := func(pauseAfter int, pause time.Duration) ([]byte, time.Duration, error) {
		req, _ := http.NewRequest("GET", te.url+api+"/"+te.id+"/uploads/"+fileID, nil)
		req.Header.Set("Authorization", "Bearer "+te.token)
		began := time.Now()
		resp, err := te.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Length") != strconv.Itoa(len(content)) {
			t.Fatalf("status %d, length %s", resp.StatusCode, resp.Header.Get("Content-Length"))
		}
		var got []byte
		buf := make([]byte, 32<<10)
		for {
			// 32 KiB every 40 ms: about 800 KiB/s, 1.3 s for the file.
			time.Sleep(40 * time.Millisecond)
			if pause > 0 && len(got) >= pauseAfter {
				time.Sleep(pause)
				pause = 0
			}
			n, err := io.ReadFull(resp.Body, buf)
			got = append(got, buf[:n]...)
			if err == io.EOF || err == io.ErrUnexpectedEOF && len(got) == len(content) {
				return got, time.Since(began), nil
			}
			if err != nil {
				return got, time.Since(began), err
			}
		}
	}
	got, took, err := read(0, 0)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("slow download: %d of %d bytes after %v: %v", len(got), len(content), took, err)
	}
	if took < time.Second {
		t.Errorf("the download took %v: the test did not exercise the limit", took)
	}
	got, took, err = read(128<<10, 3*time.Second)
	if err == nil || len(got) == len(content) {
		t.Fatalf("a reader pausing 3 s got %d of %d bytes (err %v) after %v, want the connection cut", len(got), len(content), err, took)
	}
}

// An ordinary request still has a bound: a body trickling past the
// request limit is not accepted.
func TestRequestDeadline(t *testing.T) {
	te := newTransferEnv(t, Timeouts{Request: 300 * time.Millisecond}, 1<<20)
	p := &paced{data: []byte(createJSON(2, "slow", doctor, patient)), n: 16, every: 50 * time.Millisecond}
	req, _ := http.NewRequest("POST", te.url+api, p)
	req.ContentLength = int64(len(p.data))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := te.client.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			t.Fatalf("a body sent over %v was accepted with a 300 ms limit", time.Duration(len(p.data)/16)*50*time.Millisecond)
		}
	}
	w := te.do("GET", api+"/"+te.id, "", asUser("d1"))
	wantStatus(t, w, http.StatusOK)
	if _, err := te.store.FindByAppointment(context.Background(), "slow"); teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
		t.Errorf("the trickled create was stored: %v", err)
	}
}

// The call's WebSocket outlives the request limit: hijacking clears the
// deadlines.
func TestWebSocketOutlivesRequestDeadline(t *testing.T) {
	te := newTransferEnv(t, Timeouts{Request: 200 * time.Millisecond, Idle: 200 * time.Millisecond}, 1<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(te.url, "http") + strings.Replace(sfu.CallPath, "{id}", te.id, 1)
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	time.Sleep(600 * time.Millisecond)
	send := func(v string) {
		if err := ws.Write(ctx, websocket.MessageText, []byte(v)); err != nil {
			t.Fatalf("write after %v: %v", 600*time.Millisecond, err)
		}
	}
	waitType := func(typ string) {
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for %s: %v", typ, err)
			}
			var m struct{ Type string }
			_ = json.Unmarshal(b, &m)
			if m.Type == typ {
				return
			}
		}
	}
	send(`{"type":"auth","token":"` + te.token + `"}`)
	waitType("welcome")
	time.Sleep(600 * time.Millisecond)
	send(`{"type":"ping"}`)
	waitType("pong")
}

// HSTS is sent on every response when configured (PUBLIC_URL https),
// whether or not this server terminates TLS, and never otherwise.
func TestHSTS(t *testing.T) {
	for _, on := range []bool{true, false} {
		e := newEnv(t, func(c *Config, _ *teleconsult.Settings) { c.HSTS = on })
		for _, path := range []string{"/healthz", api + "/nope", "/docs"} {
			w := e.do("GET", path, "")
			got := w.Header().Get("Strict-Transport-Security")
			if on && got != "max-age=63072000" || !on && got != "" {
				t.Errorf("HSTS %v, GET %s: Strict-Transport-Security %q", on, path, got)
			}
		}
	}
}
