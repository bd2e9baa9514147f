package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/webhook"
)

// standardWebhooksVersion is the npm package of the Standard Webhooks
// authors (github.com/standard-webhooks/standard-webhooks, libraries/javascript)
// that verifies our signatures: an implementation of the specification
// independent of ours.
const standardWebhooksVersion = "1.3.0"

const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// received is a request as the receiver saw it.
type received struct {
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// recorder is a receiver that keeps what it gets and answers status.
type recorder struct {
	mu     sync.Mutex
	got    []received
	status int
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.got = append(rc.got, received{Headers: map[string]string{
		"webhook-id":        r.Header.Get("Webhook-Id"),
		"webhook-timestamp": r.Header.Get("Webhook-Timestamp"),
		"webhook-signature": r.Header.Get("Webhook-Signature"),
		"content-type":      r.Header.Get("Content-Type"),
	}, Body: string(b)})
	st := rc.status
	rc.mu.Unlock()
	if st == 0 {
		st = http.StatusNoContent
	}
	w.WriteHeader(st)
}

func secretKey(t *testing.T) []byte {
	t.Helper()
	k, err := teleconsult.ParseWebhookSecret(whsec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// standardWebhooks returns the directory where the npm package is
// installed, installing it on first use (npm install, from the registry).
// Without node and npm the test fails: the independent check is the point
// of the test, and a skip would let a broken signature pass unnoticed
// (scripts/test.sh installs nodejs and npm).
func standardWebhooks(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to verify our signatures with the Standard Webhooks library (apt-get install nodejs npm): %v", tool, err)
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "teleconsult-test", "standardwebhooks-"+standardWebhooksVersion)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks", "package.json")); err == nil {
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", dir, "standardwebhooks@"+standardWebhooksVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install standardwebhooks@%s: %v\n%s", standardWebhooksVersion, err, out)
	}
	return dir
}

// verifyScript reads [{headers, body}] and prints, for each, "ok" or the
// library's error.
const verifyScript = `
const { Webhook } = require("standardwebhooks");
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
const wh = new Webhook(process.argv[1]);
const out = cases.map(c => {
  try { wh.verify(c.body, c.headers); return "ok"; } catch (e) { return "refused: " + e.message; }
});
console.log(JSON.stringify(out));
`

// Ensure the Standard Webhooks library verifies what we send, and refuses
// it when the body, the id, the timestamp or the secret differ.
func TestSignaturesVerifiedByStandardWebhooks(t *testing.T) {
	dir := standardWebhooks(t)
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s := webhook.New(5*time.Second, nil)
	bodies := []string{
		`{"type":"call.started","timestamp":"2026-11-23T10:00:00.000Z","data":{"teleconsultationId":"abc"}}`,
		`{"type":"teleconsultation.created","data":{"appointmentId":"caffè ☕ \u2028"}}`,
		`{}`,
	}
	for i, b := range bodies {
		d := &teleconsult.WebhookDelivery{URL: srv.URL + "/hook?token=x", Secret: secretKey(t), ID: "msg_" + strings.Repeat(string(rune('a'+i)), 32),
			Timestamp: time.Now(), Body: []byte(b)}
		if err := s.Send(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	cases := append([]received(nil), rc.got...)
	if len(cases) != len(bodies) {
		t.Fatalf("received %d", len(cases))
	}
	for i, c := range cases {
		if c.Body != bodies[i] || c.Headers["content-type"] != "application/json" {
			t.Errorf("request %d: %q %q", i, c.Body, c.Headers["content-type"])
		}
	}
	tamper := func(f func(*received)) received {
		c := cases[0]
		c.Headers = map[string]string{}
		for k, v := range cases[0].Headers {
			c.Headers[k] = v
		}
		f(&c)
		return c
	}
	bad := []received{
		tamper(func(c *received) { c.Body = strings.Replace(c.Body, "abc", "abd", 1) }),
		tamper(func(c *received) { c.Headers["webhook-id"] = "msg_other" }),
		tamper(func(c *received) { c.Headers["webhook-timestamp"] = "1" }),
	}
	run := func(secret string, cs []received) []string {
		in, _ := json.Marshal(cs)
		cmd := exec.Command("node", "-e", verifyScript, secret)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node: %v %s", err, out)
		}
		var res []string
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("node said %q: %v", out, err)
		}
		return res
	}
	for i, r := range run(whsec, cases) {
		if r != "ok" {
			t.Errorf("request %d not verified by standardwebhooks: %s", i, r)
		}
	}
	for i, r := range run(whsec, bad) {
		if r == "ok" {
			t.Errorf("tampered request %d verified", i)
		}
	}
	for i, r := range run("whsec_"+"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", cases[:1]) {
		if r == "ok" {
			t.Errorf("request %d verified under another secret", i)
		}
	}
}

// Ensure how each kind of answer is reported: 2xx delivered; 3xx not
// followed and retried; 408, 429 and 5xx retried; other 4xx permanent; a
// slow receiver times out; a huge answer is not read whole; the reason
// never holds the receiver's body or the URL's query.
func TestSendOutcomes(t *testing.T) {
	followed := false
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) })
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { followed = true })
	for _, st := range []int{400, 401, 404, 408, 410, 429, 500, 503} {
		mux.HandleFunc("/status/"+strconv.Itoa(st), func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(st)
			_, _ = io.WriteString(w, "SECRET-BODY patient Mario Rossi")
		})
	}
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		chunk := bytes.Repeat([]byte("x"), 1<<16)
		for range 1 << 10 { // 64 MiB, unless the sender stops reading
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	s := webhook.New(300*time.Millisecond, nil)
	for _, tt := range []struct {
		path      string
		ok        bool
		permanent bool
		status    int
	}{
		{"/ok", true, false, 0},
		{"/huge", true, false, 0},
		{"/redirect", false, false, 302},
		{"/status/400", false, true, 400},
		{"/status/401", false, true, 401},
		{"/status/404", false, true, 404},
		{"/status/410", false, true, 410},
		{"/status/408", false, false, 408},
		{"/status/429", false, false, 429},
		{"/status/500", false, false, 500},
		{"/status/503", false, false, 503},
		{"/slow", false, false, 0},
	} {
		t.Run(tt.path, func(t *testing.T) {
			started := time.Now()
			err := s.Send(context.Background(), &teleconsult.WebhookDelivery{URL: srv.URL + tt.path + "?token=QUERY-SECRET",
				Secret: secretKey(t), ID: "msg_1", Timestamp: time.Now(), Body: []byte(`{}`)})
			if took := time.Since(started); took > 3*time.Second {
				t.Errorf("took %v", took)
			}
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var we *teleconsult.WebhookError
			if !errors.As(err, &we) {
				t.Fatalf("%v is not a WebhookError", err)
			}
			if we.Permanent != tt.permanent || we.Status != tt.status || we.Reason == "" {
				t.Errorf("permanent %v status %d reason %q, want %v %d", we.Permanent, we.Status, we.Reason, tt.permanent, tt.status)
			}
			if strings.Contains(we.Reason, "SECRET-BODY") || strings.Contains(we.Reason, "QUERY-SECRET") {
				t.Errorf("the reason leaks: %q", we.Reason)
			}
		})
	}
	if followed {
		t.Error("a redirect was followed")
	}
}
