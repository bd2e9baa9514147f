package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// throttled yields data at about rate bytes per second, in chunks of a
// twentieth of a second (at most 8 KiB).
type throttled struct {
	data  []byte
	rate  int
	sent  int
	began time.Time
}

func (r *throttled) Read(p []byte) (int, error) {
	if r.sent >= len(r.data) {
		return 0, io.EOF
	}
	if r.began.IsZero() {
		r.began = time.Now()
	}
	due := r.began.Add(time.Duration(float64(r.sent) / float64(r.rate) * float64(time.Second)))
	time.Sleep(time.Until(due))
	n := copy(p[:min(len(p), 8<<10, max(1, r.rate/20))], r.data[r.sent:])
	r.sent += n
	return n, nil
}

// smallSocketBuffers keeps the kernel from buffering a whole file for a
// slow reader.
func smallSocketBuffers(_, _ string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
	})
}

// Uploads and downloads slower than REQUEST_TIMEOUT complete (the server
// has no whole-request ReadTimeout or WriteTimeout, only per-route
// deadlines), while ordinary requests keep their bound. The limits are
// shortened so that it runs in seconds: REQUEST_TIMEOUT=1s and a 1 MiB
// upload limit, against a 640 KiB file moved at 256 KiB/s (2.5 s).
func TestSlowTransfers(t *testing.T) {
	s := startServer(t, map[string]string{"REQUEST_TIMEOUT": "1s", "TRANSFER_IDLE_TIMEOUT": "1s", "UPLOAD_MAX_BYTES": "1048576"})
	if srv := s.Main.server; srv.ReadTimeout != 0 || srv.WriteTimeout != 0 || srv.ReadHeaderTimeout == 0 {
		t.Fatalf("http.Server ReadTimeout %v, WriteTimeout %v, ReadHeaderTimeout %v: want only the header timeout",
			srv.ReadTimeout, srv.WriteTimeout, srv.ReadHeaderTimeout)
	}
	v := openVisit(t, s, 30*time.Minute)
	token := exchange(t, s, v.Doctor)
	client := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{Control: smallSocketBuffers}).DialContext}}
	defer client.CloseIdleConnections()

	content := bytes.Repeat([]byte("Referto: valori nella norma; controllo tra sei mesi.\n"), 640<<10/53+1)[:640<<10]
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", "referto.txt")
	if _, err := fw.Write(content); err != nil {
		t.Fatal(err)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", s.URL+api+"/teleconsultation/"+v.ID+"/uploads", &throttled{data: b.Bytes(), rate: 256 << 10})
	req.ContentLength = int64(b.Len())
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	began := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("slow upload: no answer after %v: %v", time.Since(began), err)
	}
	var up struct {
		ID   string
		Size int
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(began)
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &up) != nil || up.Size != len(content) {
		t.Fatalf("slow upload: %d %s after %v", resp.StatusCode, raw, took)
	}
	if took < 2*time.Second {
		t.Fatalf("the upload took %v: not slower than REQUEST_TIMEOUT", took)
	}
	t.Logf("upload of %d bytes: 201 after %v", len(content), took.Round(time.Millisecond))

	req, _ = http.NewRequest("GET", s.URL+api+"/teleconsultation/"+v.ID+"/uploads/"+up.ID, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	began = time.Now()
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 16<<10)
	for {
		time.Sleep(62 * time.Millisecond) // about 256 KiB/s
		n, err := resp.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	took = time.Since(began)
	if !bytes.Equal(got, content) {
		t.Fatalf("slow download: %d of %d bytes after %v", len(got), len(content), took)
	}
	t.Logf("download of %d bytes: complete after %v", len(got), took.Round(time.Millisecond))

	// An ordinary request trickling its body past REQUEST_TIMEOUT is cut.
	body := `{"participants":{"number":2,"data":[]},"start_date":"2030-01-01T10:00:00Z","duration_in_seconds":600}`
	req, _ = http.NewRequest("POST", s.URL+api+"/teleconsultation", &throttled{data: []byte(body), rate: 50})
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.Key)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("a create trickled over 2 s answered %d", resp.StatusCode)
		}
	}
}

// HSTS follows PUBLIC_URL: sent when it is https (TLS ends at a proxy;
// this server speaks plain http), unless HSTS=false; never for http.
func TestHSTSFollowsPublicURL(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"https", map[string]string{"PUBLIC_URL": "https://visit.example.org"}, "max-age=63072000"},
		{"https, HSTS=false", map[string]string{"PUBLIC_URL": "https://visit.example.org", "HSTS": "false"}, ""},
		{"http", map[string]string{"PUBLIC_URL": "http://visit.example.org"}, ""},
		{"default", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.env)
			for _, path := range []string{"/healthz", "/join/nothing", api + "/teleconsultation/x"} {
				resp, err := http.Get(s.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if got := resp.Header.Get("Strict-Transport-Security"); got != tt.want {
					t.Errorf("GET %s: Strict-Transport-Security %q, want %q", path, got, tt.want)
				}
			}
			var out strings.Builder
			s.Main.Config.Print(&out)
			if !strings.Contains(out.String(), "HSTS") {
				t.Error("config check does not show HSTS")
			}
		})
	}
}

// WS_PENDING_PER_CLIENT reaches the built-in SFU: past it, a socket that
// has not authenticated is refused with 429 before the upgrade, and a
// participant who authenticates is not counted.
func TestPendingSocketCap(t *testing.T) {
	s := startServer(t, map[string]string{"WS_PENDING_PER_CLIENT": "2"})
	v := openVisit(t, s, 30*time.Minute)
	url := "ws" + strings.TrimPrefix(s.URL, "http") + api + "/teleconsultation/" + v.ID + "/call"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func() (*websocket.Conn, *http.Response, error) { return websocket.Dial(ctx, url, nil) }

	doc, _, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer doc.CloseNow()
	if err := doc.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":"`+exchange(t, s, v.Doctor)+`"}`)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := doc.Read(ctx); err != nil || !strings.Contains(string(b), `"welcome"`) {
		t.Fatalf("join: %s %v", b, err)
	}
	for i := range 2 {
		ws, _, err := dial()
		if err != nil {
			t.Fatalf("pending socket %d: %v", i+1, err)
		}
		defer ws.CloseNow()
	}
	_, resp, err := dial()
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a third pending socket: %v %+v, want 429 with Retry-After", err, resp)
	}
}

// Behind a trusted proxy the cap counts each forwarded client apart.
func TestPendingSocketCapBehindProxy(t *testing.T) {
	s := startServer(t, map[string]string{"WS_PENDING_PER_CLIENT": "2", "TRUSTED_PROXIES": "127.0.0.1"})
	url := "ws" + strings.TrimPrefix(s.URL, "http") + api + "/teleconsultation/abc/call"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(client string) (*http.Response, error) {
		ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"X-Forwarded-For": {client}}})
		if err == nil {
			t.Cleanup(func() { ws.CloseNow() })
		}
		return resp, err
	}
	for _, c := range []string{"203.0.113.1", "203.0.113.1", "203.0.113.2", "203.0.113.2"} {
		if _, err := dial(c); err != nil {
			t.Fatalf("pending socket of %s: %v", c, err)
		}
	}
	if resp, err := dial("203.0.113.1"); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a third pending socket of one forwarded client: %v, want 429", err)
	}
}
