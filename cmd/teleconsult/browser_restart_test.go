package main

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// connWatch runs in every page of a tab: it records each state the
// connection banner (data-testid="reconnecting") goes through, with its
// text and when (Date.now()), and marks the page, so that a test can tell
// that no page load happened.
const connWatch = `(() => {
  window.__connStates = [];
  window.__page = Math.random();
  new MutationObserver(() => {
    const b = document.querySelector('[data-testid="reconnecting"]');
    const state = b && !b.hidden ? b.dataset.state : '';
    const cause = b && !b.hidden ? b.dataset.cause || '' : '';
    const last = window.__connStates[window.__connStates.length - 1] || { state: '', cause: '' };
    if (last.state !== state || last.cause !== cause) window.__connStates.push({ state, cause, text: b ? b.textContent : '', at: Date.now() });
  }).observe(document, { childList: true, subtree: true, attributes: true, attributeFilter: ['hidden', 'data-state', 'data-cause'] });
})();`

// connState is one state of the connection banner.
type connState struct {
	State, Text string
	Cause       string  // of problems: "signalling", "media" or both
	At          float64 // ms since the Unix epoch
}

// waitLive waits until the tab shows the video of name live: frames of it
// decoded within the last two seconds (the page's own reading).
func (tt *tab) waitLive(name string, timeout time.Duration) {
	tt.tb.Helper()
	tt.waitFor("live video of "+name, `[...document.querySelectorAll('figure.tile.remote.live')].some((f) =>
		f.querySelector('figcaption').textContent.includes(`+jsString(name)+`))`, timeout)
}

func connStates(tt *tab) []connState {
	tt.tb.Helper()
	return eval[[]connState](tt, `window.__connStates`)
}

// firstConn returns the first state st of the connection banner after
// since (with cause among its causes, unless empty), and whether there is
// one.
func firstConn(tt *tab, st, cause string, since time.Time) (connState, bool) {
	tt.tb.Helper()
	for _, s := range connStates(tt) {
		if s.State == st && s.At >= float64(since.UnixMilli()) && (cause == "" || slices.Contains(strings.Fields(s.Cause), cause)) {
			return s, true
		}
	}
	return connState{}, false
}

// childVisit makes, on a service running as a child process (real clock),
// a visit of the Italian doctor and the English patient whose window is
// open now, and returns their personal links.
func childVisit(t *testing.T, c *child) visit {
	t.Helper()
	s := &testServer{URL: c.url, Key: testAPIKey}
	start := time.Now().Add(2 * time.Minute).Truncate(time.Second)
	create := map[string]any{
		"start_date": start.UTC().Format(time.RFC3339), "duration_in_seconds": 1800,
		"participants": map[string]any{"number": 2, "data": []map[string]any{
			{"userId": "doc-1", "groups": []string{"doctor"}, "fullName": doctorName, "language": "it"},
			{"userId": "pat-1", "groups": []string{"patient"}, "fullName": patientName, "language": "en"},
		}},
	}
	var created struct{ RoomID string }
	if code := s.do(t, "POST", api+"/teleconsultation", "", create, &created); code != 201 {
		t.Fatalf("create: %d", code)
	}
	v := visit{ID: created.RoomID, Start: start}
	for user, link := range map[string]*string{"doc-1": &v.Doctor, "pat-1": &v.Patient} {
		var g getBody
		if code := s.do(t, "GET", api+"/teleconsultation/"+v.ID, user, nil, &g); code != 200 || g.AccessLinkURL == nil {
			t.Fatalf("GET as %s: %d %+v", user, code, g)
		}
		*link = *g.AccessLinkURL
	}
	return v
}

// Ensure the call page rides out a frozen server and a graceful restart
// without a page load: with the service in its own process, a doctor
// (Italian page) and a patient (English page) in a call with their
// cameras on. A call where nothing but RTCP flows (both cameras off) shows
// no connection problems. SIGSTOP: both pages show "connection problems"
// within 3 s, and clear it on SIGCONT. SIGTERM: both show that the service
// is restarting; the service started again on the same port and database,
// both are back in the call by themselves, decoding each other's video.
func TestCallThroughFreezeAndRestart(t *testing.T) {
	env := map[string]string{"DATA_DIR": t.TempDir(), "API_KEYS": testAPIKey, "IMMUTABLE_PERIOD_MS": "600000"}
	c := startChild(t, env)
	v := childVisit(t, c)
	doc := openTab(t, "doctor", connWatch)
	pat := openTab(t, "patient", connWatch)
	// While the service is down, the page's attempts fail, and Chromium
	// says so in the console.
	for _, tt := range []*tab{doc, pat} {
		tt.allowConsole("ERR_CONNECTION_REFUSED", "WebSocket connection to")
	}
	joinCall(t, doc, v.Doctor, false, true)
	joinCall(t, pat, v.Patient, false, true)
	doc.waitVideoOf(patientName, 15*time.Second)
	pat.waitVideoOf(doctorName, 15*time.Second)
	tabs := []*tab{doc, pat}
	pages := map[*tab]float64{}
	for _, tt := range tabs {
		pages[tt] = eval[float64](tt, `window.__page`)
	}
	texts := map[*tab]map[string]string{
		doc: {"problems": "Problemi di connessione", "restarting": "Il servizio si sta riavviando"},
		pat: {"problems": "Connection problems", "restarting": "The service is restarting"},
	}
	checkText := func(tt *tab, s connState) {
		t.Helper()
		if want := texts[tt][s.State]; !strings.Contains(s.Text, want) {
			t.Errorf("%s: banner %s says %q; want %q", tt.name, s.State, s.Text, want)
		}
	}

	// Quiet: both cameras off, so only RTCP comes (sender reports of the
	// tracks that went quiet): that is no stall.
	quiet := time.Now()
	for _, tt := range tabs {
		tt.click("camera")
	}
	for _, tt := range tabs {
		tt.waitFor("no live video", `!document.querySelector('figure.tile.remote.live')`, 10*time.Second)
	}
	time.Sleep(4 * time.Second)
	for _, tt := range tabs {
		if s, ok := firstConn(tt, "problems", "", quiet); ok {
			t.Errorf("%s: connection problems shown in a quiet call: %+v", tt.name, s)
		}
		tt.click("camera")
	}
	doc.waitLive(patientName, 15*time.Second)
	pat.waitLive(doctorName, 15*time.Second)

	// Frozen.
	stopped := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.cmd.Process.Signal(syscall.SIGCONT) })
	// Each stall is seen by itself: the pings unanswered, and nothing
	// received on the peer connection.
	for _, tt := range tabs {
		tt.waitFor("connection problems", `['signalling', 'media'].every((c) => window.__connStates.some((s) => s.state === 'problems' && s.cause.split(' ').includes(c)))`, 6*time.Second)
		for _, cause := range []string{"", "signalling", "media"} {
			s, _ := firstConn(tt, "problems", cause, stopped)
			after := time.Duration(s.At-float64(stopped.UnixMilli())) * time.Millisecond
			t.Logf("%s: connection problems (%s) shown %v after SIGSTOP", tt.name, s.Cause, after)
			if after > 3*time.Second {
				t.Errorf("%s: connection problems (%s) shown %v after SIGSTOP; want within 3s", tt.name, s.Cause, after)
			}
			checkText(tt, s)
		}
	}
	if err := c.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tabs {
		tt.waitFor("the banner to go after SIGCONT", `document.querySelector('[data-testid="reconnecting"]').hidden`, 10*time.Second)
	}
	doc.waitLive(patientName, 15*time.Second)
	pat.waitLive(doctorName, 15*time.Second)

	// Restarted.
	term := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the service did not stop on SIGTERM:\n%s", c.logs.String())
	}
	if !strings.Contains(c.logs.String(), `"msg":"shutting down"`) {
		t.Errorf("the service did not shut down gracefully:\n%s", c.logs.String())
	}
	for _, tt := range tabs {
		tt.waitFor("the restarting banner", `window.__connStates.some((s) => s.state === 'restarting')`, 5*time.Second)
		s, _ := firstConn(tt, "restarting", "", term)
		checkText(tt, s)
	}
	doc.screenshot("call-restarting-it.png")
	again := map[string]string{}
	for k, val := range env {
		again[k] = val
	}
	again["LISTEN_ADDR"] = strings.TrimPrefix(c.url, "http://")
	c2 := startChild(t, again)
	up := time.Now()
	doc.waitLive(patientName, 30*time.Second)
	pat.waitLive(doctorName, 30*time.Second)
	t.Logf("both decode each other's video %v after SIGTERM, %v after the new process listened", time.Since(term).Round(time.Millisecond), time.Since(up).Round(time.Millisecond))
	for _, tt := range tabs {
		tt.waitFor("the banner to go after the restart", `document.querySelector('[data-testid="reconnecting"]').hidden`, 10*time.Second)
		if p := eval[float64](tt, `window.__page`); p != pages[tt] {
			t.Errorf("%s: the page was loaded again", tt.name)
		}
		tt.waitScreen("call", time.Second)
	}
	if c2.url != c.url {
		t.Errorf("restarted on %s, was %s", c2.url, c.url)
	}
}
