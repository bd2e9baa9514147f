package main

// Browser tests of the call page (internal/web) against the whole service:
// a real Chromium, one process for the package's tests, with a new browser
// context (a fresh profile: no cookies, cache or permissions shared) per
// participant. Server and browser run inside a network namespace that has
// only a loopback interface (see testMain), so no call traffic leaves the
// machine, and Chromium must be told to use loopback for WebRTC.
//
// The page is driven through its data-testid and data-screen attributes;
// every console error or uncaught exception of a page fails its test,
// except the HTTP refusals a test expects (Chromium logs a 403 or a 410
// answer to fetch as an error).
//
// Screenshots go to TEST_ARTIFACTS_DIR (default: artifacts/ at the root of
// the repository, which git ignores).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/teleconsult/teleconsult/internal/pgtest"
	"github.com/teleconsult/teleconsult/internal/testkit"
)

// envInNetNS marks the test process that runs inside the namespace.
const envInNetNS = "TELECONSULT_TEST_NETNS"

// testMain is the package's TestMain: the first run re-executes the test
// binary inside a network namespace with only loopback (unshare, then
// ip link set lo up) and exits with its status; inside, it runs the tests
// with pgtest.Main (the throw-away PostgreSQL listens on 127.0.0.1, which
// the namespace has) and stops the shared browser at the end.
func testMain(m *testing.M) int {
	if os.Getenv(envInNetNS) == "" {
		if code, ok := reexecInLoopbackNamespace(); ok {
			return code
		}
	}
	code := pgtest.Main(m)
	stopBrowser()
	return code
}

// reexecInLoopbackNamespace runs this test binary again, with the same
// arguments, in a new network namespace whose only interface is lo, and
// returns its exit status. It returns ok=false, after saying why on
// standard error, when the tests must run in the host's network instead:
// not on Linux, TEST_DATABASE_URL set (that server is outside the
// namespace), or no namespace can be made here.
func reexecInLoopbackNamespace() (code int, ok bool) {
	why := ""
	switch {
	case runtime.GOOS != "linux":
		why = "network namespaces are a Linux feature"
	case os.Getenv(pgtest.EnvURL) != "":
		why = pgtest.EnvURL + " is set, and its server is not reachable from a new network namespace"
	}
	unshare, err := exec.LookPath("unshare")
	if why == "" && err != nil {
		why = "unshare (util-linux) is not installed"
	}
	var args []string
	if why == "" {
		args = []string{"-n"}
		if os.Geteuid() != 0 {
			// A user namespace keeps our own uid (PostgreSQL refuses to run
			// as root) with the capabilities to bring lo up.
			args = append(args, "--map-current-user", "--keep-caps")
		}
		probe := exec.Command(unshare, append(args, "--", "sh", "-c", "ip link set lo up")...)
		if out, err := probe.CombinedOutput(); err != nil {
			why = fmt.Sprintf("cannot make a network namespace (%v: %s)", err, bytes.TrimSpace(out))
		}
	}
	if why != "" {
		fmt.Fprintf(os.Stderr, "browser tests: running in the host's network, not in a loopback-only namespace: %s\n", why)
		return 0, false
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "browser tests: %v\n", err)
		return 1, true
	}
	args = append(args, "--", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, exe)
	cmd := exec.Command(unshare, append(args, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envInNetNS+"=1")
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "browser tests: %v\n", err)
		return 1, true
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			return ee.ExitCode(), true
		}
		fmt.Fprintf(os.Stderr, "browser tests: %v\n", err)
		return 1, true
	}
	return 0, true
}

// The shared browser.
var (
	browserMu     sync.Mutex
	browserCtx    context.Context
	browserStop   func()
	browserErr    error
	browserOutput testkit.LogBuffer
)

// chromiumFlags are the flags of BUILD-NOTES.md: headless, no sandbox (we
// may run as root), nothing fetched in the background, a fake camera and
// microphone granted without a prompt, and WebRTC allowed on loopback.
func chromiumFlags(userDataDir string) []chromedp.ExecAllocatorOption {
	opts := []chromedp.ExecAllocatorOption{chromedp.UserDataDir(userDataDir)}
	for _, f := range []string{"headless", "no-sandbox", "disable-gpu", "disable-quic", "no-first-run",
		"disable-background-networking", "disable-component-update", "disable-sync",
		"use-fake-device-for-media-stream", "use-fake-ui-for-media-stream", "allow-loopback-in-peer-connection"} {
		opts = append(opts, chromedp.Flag(f, true))
	}
	return opts
}

// chromium finds the browser, or explains how to install it.
func chromium() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("Chromium is not installed, and the call page's tests need it: " +
		"apt-get install -y chromium (the full package: chromium-headless-shell cannot make calls); scripts/test.sh installs it")
}

// getBrowser returns the context of the shared browser, starting it on
// first use. It fails the test when Chromium is missing; it skips it only
// with -short (testing.Short), for a quick local loop.
func getBrowser(tb testing.TB) context.Context {
	tb.Helper()
	if testing.Short() {
		tb.Skip("a browser test: skipped with -short (scripts/test.sh without -short runs it)")
	}
	browserMu.Lock()
	defer browserMu.Unlock()
	if browserCtx == nil && browserErr == nil {
		browserErr = startBrowser()
	}
	if browserErr != nil {
		tb.Fatalf("browser: %v", browserErr)
	}
	return browserCtx
}

func startBrowser() error {
	exe, err := chromium()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "teleconsult-chromium-")
	if err != nil {
		return err
	}
	opts := append(chromiumFlags(dir), chromedp.ExecPath(exe), chromedp.CombinedOutput(&browserOutput))
	// No timeout on these contexts: it would close the browser.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		os.RemoveAll(dir)
		return fmt.Errorf("starting %s: %w\n%s", exe, err, browserOutput.String())
	}
	browserCtx = ctx
	browserStop = func() {
		cancel()
		cancelAlloc()
		os.RemoveAll(dir)
	}
	return nil
}

func stopBrowser() {
	browserMu.Lock()
	defer browserMu.Unlock()
	if browserStop != nil {
		browserStop()
		browserStop, browserCtx = nil, nil
	}
}

// testHooks runs in every page of a tab before the page's own scripts: it
// keeps the page's WebSockets (with what they received) and peer
// connections within reach of the tests.
const testHooks = `(() => {
  const NativeWS = window.WebSocket;
  window.__sockets = [];
  window.__received = [];
  window.WebSocket = class extends NativeWS {
    constructor(...a) {
      super(...a);
      window.__sockets.push(this);
      this.addEventListener('message', (e) => window.__received.push(e.data));
    }
  };
  const NativePC = window.RTCPeerConnection;
  window.__pcs = [];
  if (NativePC) {
    window.RTCPeerConnection = class extends NativePC {
      constructor(...a) {
        super(...a);
        window.__pcs.push(this);
      }
    };
  }
})();`

// tab is one participant's browser tab, in its own browser context.
type tab struct {
	tb    testing.TB
	name  string
	ctx   context.Context
	mu    sync.Mutex
	errs  []string
	allow []string
}

// openTab opens a tab in a new browser context; scripts run in each of its
// pages before the page's own. The tab closes when the test ends, after its
// console was checked.
func openTab(tb testing.TB, name string, scripts ...string) *tab {
	tb.Helper()
	return openTabIn(tb, getBrowser(tb), name, scripts...)
}

// openTabIn is openTab in the browser of parent (one with other flags
// than the shared one's).
func openTabIn(tb testing.TB, parent context.Context, name string, scripts ...string) *tab {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	tt := &tab{tb: tb, name: name, ctx: ctx}
	console := chromedp.Console(ctx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		tb.Fatalf("%s: new tab: %v", name, err)
	}
	for _, s := range append([]string{testHooks}, scripts...) {
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: s}); err != nil {
			cancel()
			tb.Fatalf("%s: %v", name, err)
		}
	}
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				tt.mu.Lock()
				tt.errs = append(tt.errs, fmt.Sprintf("%s (%s:%d)", m.String(), m.URL, m.Line+1))
				tt.mu.Unlock()
			}
		}
	}()
	tb.Cleanup(func() {
		tt.checkConsole()
		cancel()
	})
	return tt
}

// allowConsole accepts console errors that contain one of the texts (the
// HTTP refusals the test expects).
func (tt *tab) allowConsole(texts ...string) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	tt.allow = append(tt.allow, texts...)
}

func (tt *tab) checkConsole() {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	for _, e := range tt.errs {
		if !slices.ContainsFunc(tt.allow, func(a string) bool { return strings.Contains(e, a) }) {
			tt.tb.Errorf("%s: console error: %s", tt.name, e)
		}
	}
	tt.errs = nil
}

// close closes the tab now (its console is checked first).
func (tt *tab) close() {
	tt.tb.Helper()
	tt.checkConsole()
	if err := chromedp.Cancel(tt.ctx); err != nil && !errors.Is(err, context.Canceled) {
		tt.tb.Logf("%s: closing: %v", tt.name, err)
	}
}

func (tt *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tt.tb.Helper()
	if err := chromedp.Do(tt.ctx, actions...); err != nil {
		tt.tb.Fatalf("%s: %v", tt.name, err)
	}
}

func (tt *tab) navigate(url string) { tt.tb.Helper(); tt.do(chromedp.Navigate(url)) }

// click clicks the element with the data-testid.
func (tt *tab) click(testid string) {
	tt.tb.Helper()
	tt.do(chromedp.Click(chromedp.CSS(`[data-testid="`+testid+`"]`), chromedp.NodeVisible))
}

// eval evaluates a JavaScript expression (awaiting a promise) in the page.
func eval[T any](tt *tab, expr string) T {
	tt.tb.Helper()
	v, err := chromedp.Run(tt.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tt.tb.Fatalf("%s: %s: %v", tt.name, firstLine(expr), err)
	}
	return v
}

// waitFor polls a JavaScript predicate until it is true, failing the test
// with what after timeout.
func (tt *tab) waitFor(what, predicate string, timeout time.Duration) {
	tt.tb.Helper()
	_, err := chromedp.Run(tt.ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		screen, _ := chromedp.Run(tt.ctx, chromedp.Evaluate[string](`(document.querySelector('[data-screen]') || {}).dataset?.screen +
			' [' + [...document.querySelectorAll('[aria-pressed]')].map((b) => b.dataset.testid + '=' + b.getAttribute('aria-pressed')).join(' ') + '] ' +
			document.body.innerText.slice(0, 600)`))
		tt.tb.Fatalf("%s: waiting for %s: %v\npage: %s", tt.name, what, err, screen)
	}
}

// waitScreen waits until the page shows the screen (its data-screen).
func (tt *tab) waitScreen(name string, timeout time.Duration) {
	tt.tb.Helper()
	tt.waitFor("screen "+name, `!!document.querySelector('[data-screen="`+name+`"]')`, timeout)
}

// text returns the text of the element with the data-testid.
func (tt *tab) text(testid string) string {
	tt.tb.Helper()
	return eval[string](tt, `(document.querySelector('[data-testid="`+testid+`"]') || {}).textContent || ''`)
}

// screenshot saves a PNG of the viewport as name in the artifacts
// directory, without the passing notifications.
func (tt *tab) screenshot(name string) {
	tt.tb.Helper()
	tt.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('toasts')?.replaceChildren()`))
	png, err := chromedp.Run(tt.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tt.tb.Fatalf("%s: screenshot: %v", tt.name, err)
	}
	dir := artifactsDir(tt.tb)
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		tt.tb.Fatal(err)
	}
	tt.tb.Logf("screenshot %s", filepath.Join(dir, name))
}

// viewport sets the size of the page: desktop (1280×800) or phone
// (390×844, touch, mobile).
func (tt *tab) viewport(phone bool) {
	tt.tb.Helper()
	if phone {
		tt.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2)))
	} else {
		tt.do(chromedp.EmulateViewport(1280, 800))
	}
}

// dark makes the page prefer a dark colour scheme.
func (tt *tab) dark() {
	tt.tb.Helper()
	if _, err := chromedp.Call(tt.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		tt.tb.Fatalf("%s: %v", tt.name, err)
	}
}

func artifactsDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("TEST_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i > 0 {
		return s[:i] + "…"
	}
	return s
}

// visit is a teleconsultation made through the API, with its links.
type visit struct {
	ID              string
	Start           time.Time
	Doctor, Patient string // personal links
}

const (
	doctorName  = "Dr. Anna Verdi"
	patientName = "Mario Rossi"
)

// newVisit confirms a visit of a doctor (Italian) and a patient (English)
// starting at start, and reads their personal links (revealed once the
// window opens: the server's clock is moved there and back).
func newVisit(tb testing.TB, s *testServer, start time.Time, d time.Duration) visit {
	tb.Helper()
	create := map[string]any{
		"start_date": start.UTC().Format(time.RFC3339), "duration_in_seconds": int(d.Seconds()),
		"participants": map[string]any{"number": 2, "data": []map[string]any{
			{"userId": "doc-1", "groups": []string{"doctor"}, "fullName": doctorName, "language": "it"},
			{"userId": "pat-1", "groups": []string{"patient"}, "fullName": patientName, "language": "en"},
		}},
	}
	var created struct{ RoomID string }
	if code := s.do(tb, "POST", api+"/teleconsultation", "", create, &created); code != 201 {
		tb.Fatalf("create: %d", code)
	}
	v := visit{ID: created.RoomID, Start: start}
	now := s.Clock.Now()
	if now.Before(start) {
		s.Clock.Set(start)
		defer s.Clock.Set(now)
	}
	for user, link := range map[string]*string{"doc-1": &v.Doctor, "pat-1": &v.Patient} {
		var g getBody
		if code := s.do(tb, "GET", api+"/teleconsultation/"+v.ID, user, nil, &g); code != 200 || g.AccessLinkURL == nil {
			tb.Fatalf("GET as %s: %d %+v", user, code, g)
		}
		*link = *g.AccessLinkURL
	}
	return v
}

// openVisit makes a visit whose window is open now (the server's clock is
// at its start).
func openVisit(tb testing.TB, s *testServer, d time.Duration) visit {
	tb.Helper()
	start := s.Clock.Now().Add(time.Minute).Truncate(time.Second)
	v := newVisit(tb, s, start, d)
	s.Clock.Set(start)
	return v
}

// exchange trades a link's code for a session token, as the page does.
func exchange(tb testing.TB, s *testServer, link string) string {
	tb.Helper()
	code := link[strings.LastIndexByte(link, '/')+1:]
	var sess struct{ Token string }
	if st := s.do(tb, "POST", api+"/sessions", "", map[string]string{"code": code}, &sess); st != 201 {
		tb.Fatalf("exchange: %d", st)
	}
	return sess.Token
}

// Ensure the tests run where the only network is loopback (unless
// testMain said why not).
func TestLoopbackOnlyNetwork(t *testing.T) {
	if os.Getenv(envInNetNS) == "" {
		t.Log("not in a loopback-only namespace: see the notice on standard error")
		return
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) != 1 || ifs[0].Name != "lo" || ifs[0].Flags&net.FlagUp == 0 {
		t.Errorf("interfaces %v, want lo only, up", ifs)
	}
}

// Ensure the pages and assets are served with their own security and cache
// headers through the service's middleware.
func TestCallPageServed(t *testing.T) {
	s := startServer(t, nil)
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/join/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", "/check"} {
		resp := get(path)
		h := resp.Header
		if resp.StatusCode != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") ||
			h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("GET %s: %d %v", path, resp.StatusCode, h)
		}
	}
	resp := get("/assets/join.js")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("GET /assets/join.js: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := get("/assets/nope.js"); resp.StatusCode != 404 {
		t.Errorf("GET /assets/nope.js: %d", resp.StatusCode)
	}
}

// Ensure the pages before the call: the refusals, the waiting room, the
// pre-join screen with its devices, the languages and the device check.
func TestCallPageBeforeTheCall(t *testing.T) {
	t.Run("unsupported browser", func(t *testing.T) {
		s := startServer(t, nil)
		v := openVisit(t, s, 30*time.Minute)
		tb := openTab(t, "patient", `window.RTCPeerConnection = undefined;`)
		tb.navigate(v.Patient)
		tb.waitScreen("unsupported", 10*time.Second)
	})

	t.Run("unknown link", func(t *testing.T) {
		s := startServer(t, nil)
		tb := openTab(t, "stranger")
		tb.allowConsole("status of 401")
		tb.navigate(s.URL + "/join/" + strings.Repeat("A", 43))
		tb.waitScreen("unknown", 10*time.Second)
	})

	t.Run("cancelled visit", func(t *testing.T) {
		s := startServer(t, nil)
		v := openVisit(t, s, 30*time.Minute)
		if st := s.do(t, "DELETE", api+"/teleconsultation/"+v.ID, "", nil, nil); st != 204 {
			t.Fatalf("DELETE: %d", st)
		}
		tb := openTab(t, "patient")
		tb.allowConsole("status of 410")
		tb.navigate(v.Patient)
		tb.waitScreen("gone-cancelled", 10*time.Second)
	})

	t.Run("too many attempts", func(t *testing.T) {
		s := startServer(t, nil)
		for i := 0; ; i++ {
			st := s.do(t, "POST", api+"/sessions", "", map[string]string{"code": "x"}, nil)
			if st == 429 {
				break
			}
			if i > 100 {
				t.Fatal("never rate-limited")
			}
		}
		tb := openTab(t, "patient")
		tb.allowConsole("status of 429")
		tb.navigate(s.URL + "/join/" + strings.Repeat("B", 43))
		tb.waitScreen("toomany", 10*time.Second)
	})

	t.Run("waiting room", func(t *testing.T) {
		s := startServer(t, nil)
		// The browser's clock is real; the server's is set by the test.
		now := time.Now().UTC()
		s.Clock.Set(now)
		start := now.Add(4 * time.Second).Truncate(time.Second).Add(time.Second)
		v := newVisit(t, s, start, 30*time.Minute)
		tb := openTab(t, "patient")
		tb.allowConsole("status of 403")
		tb.navigate(v.Patient)
		tb.viewport(true)
		tb.waitScreen("waiting", 10*time.Second)
		if c := tb.text("countdown"); !strings.Contains(c, ":0") {
			t.Errorf("countdown %q", c)
		}
		tb.screenshot("waiting-phone.png")
		s.Clock.Set(start)
		// The page tries again by itself when the window opens.
		tb.waitScreen("prejoin", 15*time.Second)
	})

	t.Run("pre-join", func(t *testing.T) {
		s := startServer(t, nil)
		v := openVisit(t, s, 30*time.Minute)
		for i, phone := range []bool{false, true, false} {
			tb := openTab(t, "patient")
			tb.viewport(phone)
			if i == 2 {
				tb.dark()
			}
			tb.navigate(v.Patient)
			tb.waitScreen("prejoin", 10*time.Second)
			if got := tb.text("own-name"); got != patientName {
				t.Errorf("own name %q", got)
			}
			if got := tb.text("others"); !strings.Contains(got, doctorName) {
				t.Errorf("others %q", got)
			}
			// Audio and video start off; the participant may turn them on.
			if eval[string](tb, `document.querySelector('[data-testid="prejoin-camera"]').getAttribute('aria-pressed')`) != "false" ||
				eval[string](tb, `document.querySelector('[data-testid="prejoin-mic"]').getAttribute('aria-pressed')`) != "false" {
				t.Error("camera or microphone on before the participant turned them on")
			}
			tb.click("prejoin-camera")
			tb.click("prejoin-mic")
			tb.waitFor("the camera preview", `(() => { const v = document.querySelector('.preview video'); return v && v.videoWidth > 0; })()`, 10*time.Second)
			tb.waitFor("the microphone meter", `Number(document.querySelector('.meter').getAttribute('aria-valuenow')) > 0`, 10*time.Second)
			tb.waitFor("the device lists", `document.querySelector('[data-testid="select-video"]').options.length > 1`, 10*time.Second)
			if eval[bool](tb, `document.querySelector('[data-testid="join"]').disabled`) {
				t.Error("join disabled")
			}
			name := []string{"prejoin-desktop.png", "prejoin-phone.png", "prejoin-desktop-dark.png"}[i]
			tb.screenshot(name)
			tb.close()
		}
	})

	t.Run("italian and themed", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "config.json")
		theme := `{"privileges": {"basic": {"groups": ["patient"]}, "plus": {"groups": ["doctor"]}},
			"theme": {"light": {"primaryColor": "#fafafa", "accentColor": "#0a7e07"}, "dark": {"primaryColor": "#101010", "accentColor": "#7fdc7a"}}}`
		if err := os.WriteFile(cfg, []byte(theme), 0o600); err != nil {
			t.Fatal(err)
		}
		s := startServer(t, map[string]string{"TELECONSULTATION_SERVICE_CONFIG_PATH": cfg})
		v := openVisit(t, s, 30*time.Minute)
		tb := openTab(t, "doctor")
		tb.navigate(v.Doctor + "?lang=en") // the participant's language wins
		tb.waitScreen("prejoin", 10*time.Second)
		if got := tb.text("join"); got != "Entra nella visita" {
			t.Errorf("join button %q, want Italian", got)
		}
		if lang := eval[string](tb, `document.documentElement.lang`); lang != "it" {
			t.Errorf("lang %q", lang)
		}
		const colours = `[getComputedStyle(document.querySelector('[data-testid="join"]')).backgroundColor, getComputedStyle(document.querySelector('.topbar')).backgroundColor].join(' ')`
		if got := eval[string](tb, colours); got != "rgb(10, 126, 7) rgb(250, 250, 250)" {
			t.Errorf("light colours %q, want the theme's", got)
		}
		tb.dark()
		if got := eval[string](tb, colours); got != "rgb(127, 220, 122) rgb(16, 16, 16)" {
			t.Errorf("dark colours %q, want the theme's", got)
		}
	})

	// Chromium's fake media UI grants every request whatever the
	// permission settings, so the refusals are made in the page.
	refuse := func(kind, name, message string) string {
		return `(() => {
			const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
			navigator.mediaDevices.getUserMedia = (c) => c && c.` + kind + `
				? Promise.reject(new DOMException('` + message + `', '` + name + `'))
				: gum(c);
		})();`
	}

	t.Run("camera denied", func(t *testing.T) {
		s := startServer(t, nil)
		v := openVisit(t, s, 30*time.Minute)
		tb := openTab(t, "patient", refuse("video", "NotAllowedError", "Permission denied"))
		tb.navigate(v.Patient)
		tb.waitScreen("prejoin", 10*time.Second)
		tb.click("prejoin-camera")
		tb.waitFor("the camera notice", `!!document.querySelector('[data-testid="notice-video"]')`, 10*time.Second)
		if got := tb.text("notice-video"); !strings.Contains(got, "blocked") {
			t.Errorf("notice %q", got)
		}
		if eval[string](tb, `document.querySelector('[data-testid="prejoin-camera"]').getAttribute('aria-pressed')`) != "false" {
			t.Error("camera shown as on")
		}
		if eval[bool](tb, `document.querySelector('[data-testid="join"]').disabled`) {
			t.Error("cannot join without the camera")
		}
	})

	t.Run("no microphone", func(t *testing.T) {
		s := startServer(t, nil)
		v := openVisit(t, s, 30*time.Minute)
		tb := openTab(t, "patient", refuse("audio", "NotFoundError", "Requested device not found"))
		tb.navigate(v.Patient)
		tb.waitScreen("prejoin", 10*time.Second)
		tb.click("prejoin-mic")
		tb.waitFor("the microphone notice", `!!document.querySelector('[data-testid="notice-audio"]')`, 10*time.Second)
		if got := tb.text("notice-audio"); !strings.Contains(got, "No microphone") {
			t.Errorf("notice %q", got)
		}
	})

	t.Run("device check", func(t *testing.T) {
		s := startServer(t, nil)
		tb := openTab(t, "patient")
		tb.navigate(s.URL + "/check?lang=it")
		tb.waitScreen("check", 10*time.Second)
		tb.click("start-check")
		tb.waitFor("the camera preview", `document.querySelector('[data-testid="check-video"]').videoWidth > 0`, 10*time.Second)
		tb.waitFor("the microphone meter", `Number(document.querySelector('.meter').getAttribute('aria-valuenow')) > 0`, 10*time.Second)
		tb.click("test-sound")
		if lang := eval[string](tb, `document.documentElement.lang`); lang != "it" {
			t.Errorf("lang %q", lang)
		}
	})
}

// joinCall opens link, turns on the microphone and camera as asked, joins
// and waits for the call screen.
func joinCall(tb testing.TB, tt *tab, link string, mic, cam bool) {
	tb.Helper()
	tt.navigate(link)
	tt.waitScreen("prejoin", 10*time.Second)
	if mic {
		tt.click("prejoin-mic")
	}
	if cam {
		tt.cameraOn()
	}
	tt.click("join")
	tt.waitScreen("call", 15*time.Second)
}

// cameraOn turns the camera on in the pre-join screen and waits for its
// preview: the screen is drawn again once the camera (and the devices'
// names) are known, and a click on Join before that may hit the old one.
func (tt *tab) cameraOn() {
	tt.tb.Helper()
	tt.click("prejoin-camera")
	tt.waitFor("the camera preview", `(() => { const v = document.querySelector('.preview video'); return v && v.videoWidth > 0; })()`, 10*time.Second)
}

// waitVideoOf waits until the tab decodes frames of a remote video labelled
// with name.
func (tt *tab) waitVideoOf(name string, timeout time.Duration) {
	tt.tb.Helper()
	tt.waitFor("a decoded video of "+name, `[...document.querySelectorAll('[data-testid="remote-video"]')].some((v) =>
		v.videoWidth > 0 && v.closest('figure').querySelector('figcaption').textContent.includes(`+jsString(name)+`))`, timeout)
}

// waitAudio waits until the tab receives audio: the bytes of its inbound
// audio RTP grow, and a WebAudio analyser on the remote streams hears
// something.
func (tt *tab) waitAudio(timeout time.Duration) {
	tt.tb.Helper()
	const bytesIn = `(async () => {
		let n = 0;
		for (const pc of window.__pcs) {
			if (pc.connectionState === 'closed') continue;
			(await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'audio') n += r.bytesReceived; });
		}
		return n;
	})()`
	before := eval[float64](tt, bytesIn)
	deadline := time.Now().Add(timeout)
	for eval[float64](tt, bytesIn) <= before {
		if time.Now().After(deadline) {
			tt.tb.Fatalf("%s: no inbound audio bytes within %v", tt.name, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	peak := eval[float64](tt, `(async () => {
		const els = [...document.querySelectorAll('[data-testid="remote-audio"]')].filter((e) => e.srcObject);
		if (!els.length) return -1;
		const ctx = new AudioContext();
		await ctx.resume();
		const analysers = els.map((el) => {
			const a = ctx.createAnalyser();
			a.fftSize = 2048;
			ctx.createMediaStreamSource(el.srcObject).connect(a);
			return a;
		});
		const buf = new Float32Array(2048);
		let max = 0;
		const end = performance.now() + 4000;
		while (performance.now() < end && max < 0.01) {
			for (const a of analysers) {
				a.getFloatTimeDomainData(buf);
				for (const v of buf) max = Math.max(max, Math.abs(v));
			}
			await new Promise((r) => setTimeout(r, 40));
		}
		await ctx.close();
		return max;
	})()`)
	if peak < 0.01 {
		tt.tb.Errorf("%s: remote audio is silent (peak %v)", tt.name, peak)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// chatMessages returns the texts of the chat messages shown.
func chatMessages(tt *tab) []string {
	return eval[[]string](tt, `[...document.querySelectorAll('[data-testid="chat-message"] p')].map((p) => p.textContent)`)
}

// Ensure two participants see and hear each other, chat, and share a file,
// each from their personal link; screenshots of the call.
func TestCallTwoParticipants(t *testing.T) {
	s := startServer(t, nil)
	v := openVisit(t, s, 30*time.Minute)
	doc := openTab(t, "doctor")
	pat := openTab(t, "patient")
	joinCall(t, doc, v.Doctor, true, true)
	joinCall(t, pat, v.Patient, true, true)
	doc.waitVideoOf(patientName, 15*time.Second)
	pat.waitVideoOf(doctorName, 15*time.Second)
	doc.waitAudio(10 * time.Second)
	pat.waitAudio(10 * time.Second)

	// Chat: Enter sends; the other side shows it.
	pat.click("chat")
	pat.do(chromedp.SendKeys(chromedp.CSS(`[data-testid="chat-input"]`), "Buongiorno dottoressa\n"))
	doc.waitFor("the patient's message", `[...document.querySelectorAll('[data-testid="chat-message"]')].some((m) => m.textContent.includes('Buongiorno dottoressa'))`, 10*time.Second)
	pat.waitFor("the echo of the message", `document.querySelectorAll('[data-testid="chat-message"]').length === 1`, 10*time.Second)

	// A file shared by the patient is listed and downloaded by the doctor.
	content := []byte("referto: nessuna anomalia\n")
	file := filepath.Join(t.TempDir(), "referto.txt")
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}
	pat.click("files")
	pat.do(chromedp.SetUploadFiles(chromedp.CSS(`[data-testid="file-input"]`), []string{file}))
	doc.click("files")
	doc.waitFor("the shared file", `[...document.querySelectorAll('[data-testid="file-item"]')].some((f) => f.textContent.includes('referto.txt'))`, 10*time.Second)
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(doc.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
		BrowserContextID: chromedp.FromContext(doc.ctx).BrowserContextID,
	}); err != nil {
		t.Fatal(err)
	}
	doc.click("download")
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := os.ReadFile(filepath.Join(downloads, "referto.txt"))
		if err == nil && bytes.Equal(got, content) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("download: %q %v", got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Screenshots: desktop, then phone, for both sides.
	for _, tt := range []*tab{doc, pat} {
		tt.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid="files"]').click()`))
	}
	doc.viewport(false)
	doc.waitVideoOf(patientName, 10*time.Second)
	doc.screenshot("call-desktop.png")
	pat.viewport(true)
	pat.waitVideoOf(doctorName, 10*time.Second)
	pat.screenshot("call-phone.png")
	pat.click("chat")
	pat.screenshot("call-phone-chat.png")
}

// Ensure the in-call tools: microphone and camera off and on again during
// the call, screen sharing, presenting to everyone, and a snapshot shared
// as a file.
func TestCallTools(t *testing.T) {
	s := startServer(t, nil)
	v := openVisit(t, s, 30*time.Minute)
	doc := openTab(t, "doctor")
	pat := openTab(t, "patient", fakeScreen)
	doc.viewport(false)
	pat.viewport(false)
	joinCall(t, doc, v.Doctor, true, true)
	joinCall(t, pat, v.Patient, true, true)
	doc.waitVideoOf(patientName, 15*time.Second)
	pat.waitVideoOf(doctorName, 15*time.Second)

	// Off and on: the track leaves and comes back on the same sender.
	const senders = `window.__pcs.filter((pc) => pc.connectionState !== 'closed').flatMap((pc) => pc.getTransceivers().slice(0, 2)).map((t) => !!t.sender.track).join()`
	if got := eval[string](pat, senders); got != "true,true" {
		t.Fatalf("senders %s, want microphone and camera", got)
	}
	pat.click("mic")
	pat.click("camera")
	pat.waitFor("both tracks off", senders+` === 'false,false'`, 5*time.Second)
	doc.waitFor("the patient's initials instead of the picture", `(() => { const t = document.querySelector('.tile.remote[data-source="camera"]'); return !!t && !t.classList.contains('live'); })()`, 10*time.Second)
	if eval[string](pat, `document.querySelector('[data-testid="mic"]').getAttribute('aria-pressed')`) != "false" {
		t.Error("microphone button still pressed")
	}
	pat.click("mic")
	pat.click("camera")
	pat.waitFor("both tracks on", senders+` === 'true,true'`, 5*time.Second)
	doc.waitFor("the patient's picture again", `(() => { const t = document.querySelector('.tile.remote[data-source="camera"]'); return !!t && t.classList.contains('live'); })()`, 10*time.Second)

	// Screen sharing: the doctor sees it, labelled, large.
	pat.click("screen")
	doc.waitFor("the shared screen", `(() => {
		const tile = document.querySelector('.tile[data-source="screen"]');
		const v = tile && tile.querySelector('video');
		return !!v && v.videoWidth > 0 && tile.classList.contains('featured') && tile.textContent.includes(`+jsString(patientName)+`);
	})()`, 15*time.Second)
	doc.screenshot("call-screen-share-desktop.png")
	pat.click("screen")
	doc.waitFor("the screen to go", `!document.querySelector('.tile[data-source="screen"]:not([hidden])')`, 10*time.Second)

	// Present to everyone: the presenter is large for everyone.
	doc.click("present")
	pat.waitFor("the doctor presenting", `(() => { const f = document.querySelector('.tile.featured'); return !!f && f.dataset.participant !== '' && f.textContent.includes(`+jsString(doctorName)+`); })()`, 5*time.Second)
	doc.waitFor("the own picture large", `document.querySelector('[data-testid="self-tile"]').classList.contains('featured')`, 5*time.Second)
	pat.screenshot("call-present-desktop.png")
	doc.click("present")
	pat.waitFor("the end of the presentation", `!document.querySelector('.tile.featured')`, 5*time.Second)

	// Snapshot of the doctor's video, shared in Files.
	pat.click("snapshot")
	doc.click("files")
	doc.waitFor("the snapshot", `[...document.querySelectorAll('[data-testid="file-item"]')].some((f) => /snapshot-.*\.png/.test(f.textContent))`, 10*time.Second)
}

// fakeScreen stands in for the screen picker, which headless Chromium does
// not have: getDisplayMedia returns a canvas that keeps moving.
const fakeScreen = `(() => {
	navigator.mediaDevices.getDisplayMedia = async () => {
		const c = document.createElement('canvas');
		c.width = 1280;
		c.height = 720;
		const g = c.getContext('2d');
		let n = 0;
		setInterval(() => {
			g.fillStyle = '#1d3557';
			g.fillRect(0, 0, c.width, c.height);
			g.fillStyle = '#f1faee';
			g.font = '64px sans-serif';
			g.fillText('Shared screen ' + n++, 80, 360);
		}, 100);
		return c.captureStream(10);
	};
})();`

// restrictedConfig gives patients neither chat nor file uploads.
const restrictedConfig = `{"privileges": {
  "basic": {"groups": ["patient"], "tools": {"screen_sharing": true, "snapshot": true, "present_to_everyone": true}},
  "plus": {"groups": ["doctor"]}}}`

// Ensure a participant sees the controls of their own tools only: without
// chat there is no chat input, and the server refuses a chat frame forged
// on that participant's own connection; without file uploads a snapshot is
// saved on the device instead of shared.
func TestCallRestrictedTools(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg, []byte(restrictedConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, map[string]string{"TELECONSULTATION_SERVICE_CONFIG_PATH": cfg})
	v := openVisit(t, s, 30*time.Minute)
	doc := openTab(t, "doctor")
	pat := openTab(t, "patient")
	joinCall(t, doc, v.Doctor, false, true)
	joinCall(t, pat, v.Patient, false, true)
	doc.waitVideoOf(patientName, 15*time.Second)
	pat.waitVideoOf(doctorName, 15*time.Second)
	controls := func(tt *tab) string {
		return eval[string](tt, `[...document.querySelectorAll('.controls [data-testid]:not([hidden])')].map((b) => b.dataset.testid).join(' ')`)
	}
	if got, want := controls(pat), "mic camera screen present snapshot devices leave"; got != want {
		t.Errorf("patient's controls %q, want %q", got, want)
	}
	if got, want := controls(doc), "mic camera screen present snapshot tool-whiteboard tool-pointer chat files devices leave"; got != want {
		t.Errorf("doctor's controls %q, want %q", got, want)
	}
	if n := eval[int](pat, `document.querySelectorAll('[data-testid="chat-input"], [data-testid="file-input"]').length`); n != 0 {
		t.Errorf("patient without chat and uploads has %d inputs for them", n)
	}

	pat.do(chromedp.Evaluate[chromedp.Void](`window.__sockets.filter((s) => s.readyState === 1).forEach((s) => s.send(JSON.stringify({type: 'chat', text: 'forged'})))`))
	pat.waitFor("the server's refusal", `window.__received.some((m) => { const j = JSON.parse(m); return j.type === 'error' && /chat/.test(j.message); })`, 5*time.Second)
	// Without whiteboard and live_pointer: no board, no pointer, and the
	// server refuses them too (board.go); the doctor gets nothing.
	forgeBoard(pat)
	doc.click("chat")
	doc.do(chromedp.SendKeys(chromedp.CSS(`[data-testid="chat-input"]`), "allowed\n"))
	doc.waitFor("the doctor's own message", `document.querySelectorAll('[data-testid="chat-message"]').length === 1`, 5*time.Second)
	if got := chatMessages(doc); len(got) != 1 || got[0] != "allowed" {
		t.Errorf("doctor's chat %q: the forged message was relayed", got)
	}
	if n := eval[int](doc, `window.__received.filter((m) => /"type":"(board|board-state|pointer)"/.test(m)).length`); n != 0 {
		t.Errorf("the doctor received %d board or pointer messages from the patient without the tools", n)
	}
	if n := eval[int](pat, `document.querySelectorAll('[data-testid="tool-whiteboard"]:not([hidden]), [data-testid="tool-pointer"]').length`); n != 0 {
		t.Errorf("the patient without the tools has %d of their controls", n)
	}

	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(pat.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
		BrowserContextID: chromedp.FromContext(pat.ctx).BrowserContextID,
	}); err != nil {
		t.Fatal(err)
	}
	pat.click("snapshot")
	deadline := time.Now().Add(10 * time.Second)
	for {
		names, _ := filepath.Glob(filepath.Join(downloads, "snapshot-*.png"))
		if len(names) == 1 {
			if b, err := os.ReadFile(names[0]); err == nil && bytes.HasPrefix(b, []byte("\x89PNG")) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot saved: %v", names)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Ensure everyone is ejected at the end of a limited window and sees the
// expired page, after a warning.
func TestCallExpires(t *testing.T) {
	s := startServer(t, map[string]string{"UNLIMITED_TELECONSULTATION": "false"})
	v := openVisit(t, s, 10*time.Minute)
	doc := openTab(t, "doctor")
	pat := openTab(t, "patient")
	joinCall(t, doc, v.Doctor, false, true)
	joinCall(t, pat, v.Patient, false, true)
	pat.waitVideoOf(doctorName, 15*time.Second)
	end := v.Start.Add(10 * time.Minute)
	s.Clock.Set(end.Add(-50 * time.Second))
	pat.waitFor("the warning", `(() => { const b = document.querySelector('[data-testid="banner"]'); return b && !b.hidden && b.classList.contains('warning'); })()`, 10*time.Second)
	s.Clock.Set(end.Add(time.Second))
	doc.waitScreen("end-expired", 10*time.Second)
	pat.waitScreen("end-expired", 10*time.Second)
	if n := eval[int](pat, `document.querySelectorAll('[data-testid="reenter"]').length`); n != 0 {
		t.Error("re-enter offered after the end")
	}
}

// Ensure cancelling the visit (DELETE) disconnects everyone, who see the
// cancelled page.
func TestCallRevoked(t *testing.T) {
	s := startServer(t, nil)
	v := openVisit(t, s, 30*time.Minute)
	doc := openTab(t, "doctor")
	pat := openTab(t, "patient")
	joinCall(t, doc, v.Doctor, false, true)
	joinCall(t, pat, v.Patient, false, true)
	pat.waitVideoOf(doctorName, 15*time.Second)
	if st := s.do(t, "DELETE", api+"/teleconsultation/"+v.ID, "", nil, nil); st != 204 {
		t.Fatalf("DELETE: %d", st)
	}
	doc.waitScreen("end-cancelled", 5*time.Second)
	pat.waitScreen("end-cancelled", 5*time.Second)
}

// Ensure the LIVE rule: when one of two leaves, the call ends for the other
// (who may re-enter while the window is open), and with
// TELECONSULTATION_DELETE_UPLOADS its uploads are deleted.
func TestCallLiveRuleEndsCall(t *testing.T) {
	s := startServer(t, map[string]string{"TELECONSULTATION_DELETE_UPLOADS": "true"})
	v := openVisit(t, s, 30*time.Minute)
	doc := openTab(t, "doctor")
	pat := openTab(t, "patient")
	joinCall(t, doc, v.Doctor, false, true)
	joinCall(t, pat, v.Patient, false, true)
	doc.waitVideoOf(patientName, 15*time.Second)
	file := filepath.Join(t.TempDir(), "photo.txt")
	if err := os.WriteFile(file, []byte("a photo"), 0o600); err != nil {
		t.Fatal(err)
	}
	pat.click("files")
	pat.do(chromedp.SetUploadFiles(chromedp.CSS(`[data-testid="file-input"]`), []string{file}))
	doc.click("files")
	doc.waitFor("the shared file", `document.querySelectorAll('[data-testid="file-item"]').length === 1`, 10*time.Second)

	doc.click("leave")
	doc.waitScreen("end-left", 5*time.Second)
	pat.waitScreen("end-call-ended", 5*time.Second)
	if n := eval[int](pat, `document.querySelectorAll('[data-testid="reenter"]').length`); n != 1 {
		t.Error("no re-enter button while the window is open")
	}
	pat.viewport(true)
	pat.screenshot("end-phone.png")
	token := exchange(t, s, v.Patient)
	deadline := time.Now().Add(5 * time.Second)
	for {
		files := listFiles(t, s, v.ID, token)
		if len(files) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("uploads not deleted when the call ended: %v", files)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Re-entering works while the window is open.
	pat.click("reenter")
	pat.waitScreen("prejoin", 10*time.Second)
}

func listFiles(tb testing.TB, s *testServer, id, token string) []string {
	tb.Helper()
	req, _ := http.NewRequest("GET", s.URL+api+"/teleconsultation/"+id+"/uploads", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	var body struct{ Files []struct{ Name string } }
	if code := testkit.Do(tb, req, &body); code != 200 {
		tb.Fatalf("list uploads: %d", code)
	}
	var names []string
	for _, f := range body.Files {
		names = append(names, f.Name)
	}
	return names
}

// Ensure a dropped connection (closed without an end message) is rejoined
// by itself with a fresh session, and that opening the same link elsewhere
// moves the call there.
func TestCallReconnectsAndMoves(t *testing.T) {
	s := startServer(t, map[string]string{"LIVE_TELECONSULTATION": "false"})
	v := openVisit(t, s, 30*time.Minute)
	doc := openTab(t, "doctor")
	pat := openTab(t, "patient")
	joinCall(t, doc, v.Doctor, false, true)
	joinCall(t, pat, v.Patient, false, true)
	pat.waitVideoOf(doctorName, 15*time.Second)

	pat.do(chromedp.Evaluate[chromedp.Void](`window.__sockets.filter((s) => s.readyState === 1).forEach((s) => s.close())`))
	pat.waitFor("the reconnecting banner", `(() => { const b = document.querySelector('[data-testid="reconnecting"]'); return b && !b.hidden && b.dataset.state === 'lost'; })()`, 5*time.Second)
	pat.waitFor("a second connection", `window.__sockets.filter((s) => s.readyState === 1).length === 1 && window.__sockets.length === 2`, 10*time.Second)
	pat.waitVideoOf(doctorName, 15*time.Second)
	doc.waitVideoOf(patientName, 15*time.Second)
	pat.waitFor("the banner to go", `document.querySelector('[data-testid="reconnecting"]').hidden`, 5*time.Second)

	other := openTab(t, "patient elsewhere")
	joinCall(t, other, v.Patient, false, false)
	pat.waitScreen("end-replaced", 10*time.Second)
	other.waitVideoOf(doctorName, 15*time.Second)
}

var firstFrameRuns = flag.Int("first-frame-runs", 10, "runs of BenchmarkCallFirstRemoteFrame per b.N")

// firstFrameHooks clicks Join as soon as the page shows it and records when
// the first remote video frame is decoded (performance.now(): milliseconds
// since the link was opened).
const firstFrameHooks = `(() => {
  window.__firstFrame = 0;
  const seen = new WeakSet();
  new MutationObserver(() => {
    const join = document.querySelector('[data-testid="join"]');
    if (join && !join.disabled && !window.__joinAt) { window.__joinAt = performance.now(); join.click(); }
    for (const v of document.querySelectorAll('[data-testid="remote-video"]')) {
      if (seen.has(v)) continue;
      seen.add(v);
      v.requestVideoFrameCallback(() => { if (!window.__firstFrame) window.__firstFrame = performance.now(); });
    }
  }).observe(document, { childList: true, subtree: true });
})();`

// BenchmarkCallFirstRemoteFrame measures the time from opening a personal
// link (the window open, the other participant in the call with the camera
// on, Join clicked as soon as it shows) to the first decoded frame of the
// other's video, in a fresh browser context each run. It reports the
// median, fastest and slowest of -first-frame-runs runs, and the median
// time until Join was clicked (page loaded, link traded for a session):
//
//	go test ./cmd/teleconsult -run '^$' -bench CallFirstRemoteFrame -benchtime 1x
func BenchmarkCallFirstRemoteFrame(b *testing.B) {
	s := startServer(b, map[string]string{"LIVE_TELECONSULTATION": "false"})
	v := openVisit(b, s, 2*time.Hour)
	doc := openTab(b, "doctor")
	joinCall(b, doc, v.Doctor, false, true)
	var ms, join []float64
	for range b.N {
		for range *firstFrameRuns {
			pat := openTab(b, "patient", firstFrameHooks)
			pat.navigate(v.Patient)
			pat.waitFor("the first frame", `window.__firstFrame > 0`, 20*time.Second)
			ms = append(ms, eval[float64](pat, `window.__firstFrame`))
			join = append(join, eval[float64](pat, `window.__joinAt`))
			pat.close()
			// Each run trades the code again: keep under the rate limit.
			s.Clock.Set(s.Clock.Now().Add(time.Minute))
		}
	}
	sort.Float64s(ms)
	sort.Float64s(join)
	b.ReportMetric(ms[len(ms)/2], "ms-median")
	b.ReportMetric(ms[0], "ms-min")
	b.ReportMetric(ms[len(ms)-1], "ms-max")
	b.ReportMetric(join[len(join)/2], "ms-to-join-median")
	b.Logf("first remote frame after opening the link, ms: %.0f", ms)
	b.Logf("join clicked after opening the link, ms: %.0f", join)
}
