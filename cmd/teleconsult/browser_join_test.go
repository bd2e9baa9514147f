package main

// Browser tests of where the call page takes a participant: the Daily call
// in a frame of the page, on to the participant's own Kaleyra link, the
// built-in call inside another site's iframe (FRAME_ANCESTORS), a join the
// page does not know, and the link code leaving the address bar.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/teleconsult/teleconsult/internal/daily/dailytest"
	"github.com/teleconsult/teleconsult/internal/kaleyra/kaleyratest"
)

// history returns the URLs of the tab's session history.
func (tt *tab) history() []string {
	tt.tb.Helper()
	h, err := chromedp.Call(tt.ctx, page.GetNavigationHistory, cdp.Empty{})
	if err != nil {
		tt.tb.Fatalf("%s: history: %v", tt.name, err)
	}
	var out []string
	for _, e := range h.Entries {
		out = append(out, e.URL)
	}
	return out
}

// codeOf returns the code of a personal link.
func codeOf(link string) string {
	u, _ := url.Parse(link)
	return u.Path[strings.LastIndexByte(u.Path, '/')+1:]
}

// checkCodeGone checks that the link's code is neither in the address bar
// nor in the tab's history.
func (tt *tab) checkCodeGone(link string) {
	tt.tb.Helper()
	code := codeOf(link)
	if href := eval[string](tt, `location.href`); strings.Contains(href, code) {
		tt.tb.Errorf("%s: the address bar shows the code: %s", tt.name, href)
	}
	for _, u := range tt.history() {
		if strings.Contains(u, code) {
			tt.tb.Errorf("%s: the history holds the code: %s", tt.name, u)
		}
	}
}

// waitAcrossNavigation polls a JavaScript predicate until it is true, as
// waitFor, through navigations of the tab (an evaluation that a navigation
// interrupts is tried again).
func (tt *tab) waitAcrossNavigation(what, predicate string, timeout time.Duration) {
	tt.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(tt.ctx, chromedp.Evaluate[bool](predicate))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			href, _ := chromedp.Run(tt.ctx, chromedp.Evaluate[string](`location.href`))
			tt.tb.Fatalf("%s: waiting for %s: %v (at %s)", tt.name, what, err, href)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reload reloads the tab's page.
func (tt *tab) reload() { tt.tb.Helper(); tt.do(chromedp.Reload()) }

// frame returns the id of the tab's first child frame whose URL starts with
// prefix, waiting for it up to timeout.
func (tt *tab) frame(prefix string, timeout time.Duration) cdp.FrameID {
	tt.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tree, err := chromedp.Call(tt.ctx, page.GetFrameTree, cdp.Empty{})
		if err != nil {
			tt.tb.Fatalf("%s: frame tree: %v", tt.name, err)
		}
		var urls []string
		for _, c := range tree.FrameTree.ChildFrames {
			if strings.HasPrefix(c.Frame.URL, prefix) {
				return c.Frame.ID
			}
			urls = append(urls, c.Frame.URL+" "+c.Frame.UnreachableURL)
		}
		if time.Now().After(deadline) {
			tt.tb.Fatalf("%s: no frame at %s: %v", tt.name, prefix, urls)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// frameEval evaluates expr in a frame of the tab (in an isolated world of
// its document: the DOM is shared with the page, its globals are not).
func frameEval[T any](tt *tab, frame cdp.FrameID, expr string) (T, error) {
	var zero T
	w, err := chromedp.Call(tt.ctx, page.CreateIsolatedWorld, page.CreateIsolatedWorldParams{FrameID: frame, WorldName: "test"})
	if err != nil {
		return zero, err
	}
	return chromedp.Run(tt.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise,
		func(p *runtime.EvaluateParams) { p.ContextID = w.ExecutionContextID }))
}

// frameWait polls predicate in the tab's frame until it is true.
func (tt *tab) frameWait(frame cdp.FrameID, what, predicate string, timeout time.Duration) {
	tt.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := frameEval[bool](tt, frame, predicate)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			text, _ := frameEval[string](tt, frame, `((document.querySelector('[data-screen]') || {}).dataset?.screen || '') + ' ' + document.body.innerText.slice(0, 400)`)
			tt.tb.Fatalf("%s: waiting in the frame for %s: %v\nframe: %s", tt.name, what, err, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// refusals are the ways a link is refused before the call: a cancelled
// visit, a revoked link (the participant replaced by a PATCH before the
// window) and a visit that does not open yet. Each makes its visit with
// make and gives the page it leaves the participant on.
var refusals = []struct {
	name, screen, console string
	make                  func(t *testing.T, s *testServer) string
}{
	{"cancelled", "gone-cancelled", "status of 410", func(t *testing.T, s *testServer) string {
		v := openVisit(t, s, 30*time.Minute)
		if st := s.do(t, "DELETE", api+"/teleconsultation/"+v.ID, "", nil, nil); st != 204 {
			t.Fatalf("DELETE: %d", st)
		}
		return v.Patient
	}},
	{"revoked", "gone-revoked", "status of 410", func(t *testing.T, s *testServer) string {
		start := s.Clock.Now().Add(2 * time.Hour).Truncate(time.Second)
		v := newVisit(t, s, start, 30*time.Minute)
		patch := map[string]any{"participants": map[string]any{"number": 2, "data": []map[string]any{
			{"userId": "doc-1", "groups": []string{"doctor"}, "fullName": doctorName, "language": "it"},
			{"userId": "pat-2", "groups": []string{"patient"}, "fullName": "Luigi Bianchi", "language": "en"},
		}}}
		if st := s.do(t, "PATCH", api+"/teleconsultation/"+v.ID, "", patch, nil); st != 204 {
			t.Fatalf("PATCH: %d", st)
		}
		s.Clock.Set(start)
		return v.Patient
	}},
	{"too early", "waiting", "status of 403", func(t *testing.T, s *testServer) string {
		return newVisit(t, s, time.Now().Add(2*time.Hour).Truncate(time.Second), 30*time.Minute).Patient
	}},
}

// Ensure a visit on Daily: the page shows its pre-join screen, then Daily
// Prebuilt in a frame of the page with the participant's own meeting
// token, the camera and microphone delegated to it; the link code and the
// token never reach the address bar or the history; a reload goes back
// into the call with a new token; leaving shows our end page. Refused
// links never reach Daily.
func TestJoinDaily(t *testing.T) {
	start := func(t *testing.T, env ...string) (*testServer, *dailytest.Server, string) {
		fake := dailytest.New(t, dailyKey)
		origin := fake.ServeRooms(t)
		e := map[string]string{"VIDEO_PROVIDER": "daily", "DAILY_API_KEY": dailyKey,
			"DAILY_API_URL": fake.URL, "DAILY_DOMAIN": origin}
		for i := 0; i+1 < len(env); i += 2 {
			e[env[i]] = env[i+1]
		}
		return startServer(t, e), fake, origin
	}
	// patientTokens counts the meeting tokens minted for the patient.
	patientTokens := func(fake *dailytest.Server) (n int) {
		for _, tok := range fake.Tokens() {
			if tok.Properties["user_name"] == patientName {
				n++
			}
		}
		return n
	}

	t.Run("joins in a frame", func(t *testing.T) {
		s, fake, origin := start(t)
		v := openVisit(t, s, 30*time.Minute)
		resp, err := http.Get(v.Patient)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-src "+origin+";") {
			t.Errorf("CSP %q does not frame exactly %s", csp, origin)
		}
		if pp := resp.Header.Get("Permissions-Policy"); !strings.Contains(pp, `camera=(self "`+origin+`")`) {
			t.Errorf("Permissions-Policy %q does not delegate the camera to %s", pp, origin)
		}

		pat := openTab(t, "patient")
		pat.navigate(v.Patient)
		pat.waitScreen("prejoin", 10*time.Second)
		if got := pat.text("own-name"); got != patientName {
			t.Errorf("own name %q", got)
		}
		pat.checkCodeGone(v.Patient)
		if len(fake.Visits()) != 0 {
			t.Errorf("the room was opened before the participant chose to join: %v", fake.Visits())
		}
		pat.screenshot("daily-prejoin.png")
		pat.click("join")
		pat.waitScreen("daily", 10*time.Second)
		frame := pat.frame(origin+"/", 10*time.Second)
		pat.frameWait(frame, "the room page", `document.querySelector('[data-testid="daily-state"]')?.textContent === 'In the call'`, 10*time.Second)
		waitUntil(t, "the camera and microphone in the frame", func() bool { return len(fake.Media()) > 0 }, 10*time.Second)
		if m := fake.Media(); m[0] != "ok" {
			t.Errorf("camera and microphone in the frame: %v, want ok (allow= and Permissions-Policy)", m)
		}
		visits := fake.Visits()
		if n := patientTokens(fake); n != 1 {
			t.Errorf("%d meeting tokens minted for the patient, want 1 (the exchange's)", n)
		}
		if len(visits) != 1 || !visits[0].Admitted || visits[0].UserName != patientName || visits[0].Room != roomOf(t, s, v.ID) {
			t.Fatalf("room visits %+v, want one by the patient with their own token", visits)
		}
		for _, tok := range fake.Tokens() {
			if tok.Token == visits[0].Token && tok.Properties["user_name"] != patientName {
				t.Errorf("the patient came with %v's token", tok.Properties["user_name"])
			}
		}
		pat.checkCodeGone(v.Patient)
		for _, u := range append(pat.history(), eval[string](pat, `location.href`)) {
			if strings.Contains(u, visits[0].Token) {
				t.Errorf("the meeting token is in the address bar or history: %s", u)
			}
		}
		pat.screenshot("daily-call.png")

		// A reload goes back into the call, with a new token.
		pat.reload()
		pat.waitScreen("daily", 10*time.Second)
		frame = pat.frame(origin+"/", 10*time.Second)
		pat.frameWait(frame, "the room page again", `document.querySelector('[data-testid="daily-state"]')?.textContent === 'In the call'`, 10*time.Second)
		if visits := fake.Visits(); len(visits) != 2 || !visits[1].Admitted || visits[1].Token == visits[0].Token {
			t.Errorf("after the reload, room visits %+v, want a second one with a new token", visits)
		}
		pat.checkCodeGone(v.Patient)

		pat.click("leave")
		pat.waitScreen("end-left", 5*time.Second)
		if n := eval[int](pat, `document.querySelectorAll('iframe').length`); n != 0 {
			t.Errorf("%d frames left after leaving", n)
		}
		pat.click("reenter")
		pat.waitScreen("prejoin", 10*time.Second)
	})

	// The meeting token of an unlimited window lasts as long as the session
	// (SESSION_TTL): one about to expire when the participant joins is
	// traded for a new one first.
	t.Run("a token about to expire is renewed", func(t *testing.T) {
		s, fake, origin := start(t, "SESSION_TTL", "1m")
		v := openVisit(t, s, 30*time.Minute)
		pat := openTab(t, "patient")
		pat.navigate(v.Patient)
		pat.waitScreen("prejoin", 10*time.Second)
		pat.click("join")
		pat.waitScreen("daily", 10*time.Second)
		frame := pat.frame(origin+"/", 10*time.Second)
		pat.frameWait(frame, "the room page", `document.querySelector('[data-testid="daily-state"]')?.textContent === 'In the call'`, 10*time.Second)
		toks := fake.Tokens()
		visits := fake.Visits()
		if n := patientTokens(fake); n != 2 || len(visits) != 1 || visits[0].Token != toks[len(toks)-1].Token {
			t.Errorf("%d tokens for the patient, visits %+v: want a second token, used", n, visits)
		}
	})

	for _, r := range refusals {
		t.Run(r.name+" never reaches Daily", func(t *testing.T) {
			s, fake, _ := start(t)
			link := r.make(t, s)
			tokens := len(fake.Tokens())
			pat := openTab(t, "patient")
			pat.allowConsole(r.console)
			pat.navigate(link)
			pat.waitScreen(r.screen, 10*time.Second)
			time.Sleep(500 * time.Millisecond)
			if v := fake.Visits(); len(v) != 0 {
				t.Errorf("Daily's room page was opened: %+v", v)
			}
			if n := len(fake.Tokens()); n != tokens {
				t.Errorf("%d meeting tokens minted for a refused link", n-tokens)
			}
		})
	}
}

// waitUntil polls cond until it is true, failing the test after timeout.
func waitUntil(t *testing.T, what string, cond func() bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out after %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Ensure a visit on Kaleyra: each participant is sent on to their own
// Kaleyra link, with the options composed by the service (language, name,
// START_AUDIO_OFF/START_VIDEO_OFF, the background of their group), and the
// link code is not left in the history. Refused links never reach Kaleyra.
func TestJoinKaleyra(t *testing.T) {
	start := func(t *testing.T) (*testServer, *kaleyratest.Server, string) {
		fake := kaleyratest.New(t, kaleyraKey)
		origin := fake.ServeLinks(t)
		cfg := filepath.Join(t.TempDir(), "config.json")
		const conf = `{"privileges": {"basic": {"groups": ["patient"]}, "plus": {"groups": ["doctor"]}}, "groupsWithBackgroundList": ["doctor"]}`
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		s := startServer(t, map[string]string{"VIDEO_PROVIDER": "kaleyra", "BANDYER_API_SECRET_KEY": kaleyraKey,
			"BANDYER_BASE_URL": fake.URL, "START_VIDEO_OFF": "false", "TELECONSULTATION_SERVICE_CONFIG_PATH": cfg})
		return s, fake, origin
	}

	t.Run("on to the own link", func(t *testing.T) {
		s, fake, origin := start(t)
		v := openVisit(t, s, 30*time.Minute)
		room := fake.Rooms()[roomOf(t, s, v.ID)]
		tc, err := s.Main.DB.FindByID(t.Context(), v.ID)
		if err != nil {
			t.Fatal(err)
		}
		linkOf := map[string]string{}
		for _, p := range tc.Participants {
			for _, rp := range room.Participants {
				if rp.UserID == p.ProviderUserID {
					linkOf[p.UserID] = rp.Link
				}
			}
		}
		// Mia's GET language and useBackground, carried by the link.
		var asked struct{ AccessLinkURL string }
		if st := s.do(t, "GET", api+"/teleconsultation/"+v.ID+"?language=it&useBackground=true", "pat-1", nil, &asked); st != 200 ||
			!strings.HasSuffix(asked.AccessLinkURL, "?lang=it&useBackground=true") {
			t.Fatalf("GET with language and useBackground: %d %q", st, asked.AccessLinkURL)
		}
		for i, c := range []struct {
			user, link, name, language, background string
		}{
			{"pat-1", v.Patient, patientName, "en", ""},
			{"doc-1", v.Doctor, doctorName, "it", "image"},             // groupsWithBackgroundList
			{"pat-1", asked.AccessLinkURL, patientName, "it", "image"}, // useBackground
		} {
			tt := openTab(t, c.user)
			tt.navigate(c.link)
			tt.waitAcrossNavigation("the Kaleyra page", `location.origin === `+jsString(origin)+` && !!document.querySelector('[data-testid="kaleyra-state"]')`, 10*time.Second)
			visits := fake.Visits()
			if len(visits) != i+1 {
				t.Fatalf("link visits %+v", visits)
			}
			got := visits[i]
			want := url.Values{"display_name": {c.name}, "language": {c.language}, "audio_disabled": {"true"}, "video_disabled": {"false"}}
			if c.background != "" {
				want.Set("virtual_background", c.background)
			}
			if !got.Known || got.Link != linkOf[c.user] || got.Options.Encode() != want.Encode() {
				t.Errorf("%s reached %s with %v (known %v), want their own link %s with %v", c.user, got.Link, got.Options, got.Known, linkOf[c.user], want)
			}
			tt.checkCodeGone(c.link)
			if i == 0 {
				tt.screenshot("kaleyra-landing.png")
			}
		}
	})

	for _, r := range refusals {
		t.Run(r.name+" never reaches Kaleyra", func(t *testing.T) {
			s, fake, _ := start(t)
			link := r.make(t, s)
			pat := openTab(t, "patient")
			pat.allowConsole(r.console)
			pat.navigate(link)
			pat.waitScreen(r.screen, 10*time.Second)
			time.Sleep(500 * time.Millisecond)
			if v := fake.Visits(); len(v) != 0 {
				t.Errorf("a Kaleyra link was opened: %+v", v)
			}
		})
	}
}

// unknownJoin makes the page's link exchange answer with join instead of
// what the service said, as a newer or misconfigured service might, and
// counts the exchanges in window.__exchanges.
func unknownJoin(join string) string {
	return `(() => {
		const native = window.fetch;
		window.__exchanges = 0;
		window.fetch = async (input, init) => {
			const resp = await native(input, init);
			if (!String(input).endsWith('/sessions')) return resp;
			window.__exchanges++;
			const body = await resp.json();
			if (resp.status === 201) body.join = ` + join + `;
			return new Response(JSON.stringify(body), { status: resp.status, headers: resp.headers });
		};
	})();`
}

// Ensure a join the page does not know (another provider, a known one
// without what it needs, a URL that is not http(s)) gives a clear error
// page, and no loop of new exchanges.
func TestJoinUnknown(t *testing.T) {
	s := startServer(t, nil)
	v := openVisit(t, s, 30*time.Minute)
	for i, join := range []string{
		`{provider: 'zoom', url: 'https://zoom.example/j/1'}`,
		`{provider: 'daily', url: 'https://acme.daily.co/room'}`,
		`{provider: 'kaleyra', url: 'javascript:alert(1)'}`,
		`{provider: 'daily', url: 'data:text/html,x', token: 'abc'}`,
	} {
		tt := openTab(t, "patient", unknownJoin(join))
		tt.navigate(v.Patient)
		tt.waitScreen("join-unknown", 10*time.Second)
		time.Sleep(1500 * time.Millisecond)
		if n := eval[int](tt, `window.__exchanges`); n != 1 {
			t.Errorf("%s: %d exchanges, want 1 (no loop)", join, n)
		}
		if n := eval[int](tt, `document.querySelectorAll('iframe').length`); n != 0 || !strings.HasPrefix(eval[string](tt, `location.href`), s.URL) {
			t.Errorf("%s: the page framed or left for the join", join)
		}
		if i == 0 {
			tt.screenshot("join-unknown.png")
		}
		tt.close()
	}
}

// goneBody makes the page's link exchange answer a 410 with body instead of
// what the service said.
func goneBody(body string) string {
	return `(() => {
		const native = window.fetch;
		window.fetch = async (input, init) => {
			const resp = await native(input, init);
			if (!String(input).endsWith('/sessions') || resp.status !== 410) return resp;
			return new Response(JSON.stringify(` + body + `), { status: 410, headers: resp.headers });
		};
	})();`
}

// Ensure the page tells refusals apart by their reason, never by the
// message: a reason wins over a message that says something else, and a
// 410 without a reason it knows gets the generic page with the message as
// is, whatever the message says.
func TestGoneByReason(t *testing.T) {
	s := startServer(t, nil)
	v := openVisit(t, s, 30*time.Minute)
	if st := s.do(t, "DELETE", api+"/teleconsultation/"+v.ID, "", nil, nil); st != 204 {
		t.Fatalf("DELETE: %d", st)
	}
	for _, tt := range []struct{ body, screen, text string }{
		{`{error: 'this link was revoked', reason: 'rescheduled'}`, "gone-rescheduled", ""},
		{`{error: 'this visit was cancelled', reason: 'ended'}`, "gone-ended", ""},
		{`{error: 'this visit was cancelled'}`, "gone-other", "this visit was cancelled"},
		{`{error: 'this link was revoked', reason: 'paused'}`, "gone-other", "this link was revoked"},
	} {
		pat := openTab(t, "patient", goneBody(tt.body))
		pat.allowConsole("status of 410")
		pat.navigate(v.Patient)
		pat.waitScreen(tt.screen, 10*time.Second)
		if tt.text != "" && !strings.Contains(eval[string](pat, `document.body.innerText`), tt.text) {
			t.Errorf("%s: the generic page does not show the message %q", tt.body, tt.text)
		}
		pat.close()
	}
}

// Ensure the call page inside another site's iframe: allowed by
// FRAME_ANCESTORS, a participant completes a built-in call in the frame
// (camera and microphone delegated with allow=); from an origin that is not
// listed, the browser refuses to show it.
func TestCallPageEmbedded(t *testing.T) {
	var link string
	portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Portal</title><h1>Clinic portal</h1>
<iframe src="%s" allow="camera; microphone; display-capture; fullscreen" style="width:1000px;height:640px;border:1px solid #888"></iframe>`, link)
	}))
	t.Cleanup(portal.Close)
	other := httptest.NewServer(portal.Config.Handler)
	t.Cleanup(other.Close)

	s := startServer(t, map[string]string{"FRAME_ANCESTORS": portal.URL})
	resp, err := http.Get(s.URL + "/join/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors "+portal.URL+";") || resp.Header.Get("X-Frame-Options") != "" {
		t.Errorf("CSP %q, X-Frame-Options %q", csp, resp.Header.Get("X-Frame-Options"))
	}
	v := openVisit(t, s, 30*time.Minute)
	link = v.Patient

	doc := openTab(t, "doctor")
	joinCall(t, doc, v.Doctor, true, true)
	pat := openTab(t, "patient")
	pat.viewport(false)
	pat.navigate(portal.URL)
	frame := pat.frame(s.URL+"/join/", 10*time.Second)
	pat.frameWait(frame, "the pre-join screen", `!!document.querySelector('[data-screen="prejoin"]')`, 10*time.Second)
	for _, id := range []string{"prejoin-mic", "prejoin-camera"} {
		if _, err := frameEval[bool](pat, frame, `document.querySelector('[data-testid="`+id+`"]').click(), true`); err != nil {
			t.Fatal(err)
		}
	}
	pat.frameWait(frame, "the camera preview", `(() => { const v = document.querySelector('.preview video'); return !!v && v.videoWidth > 0; })()`, 10*time.Second)
	if _, err := frameEval[bool](pat, frame, `document.querySelector('[data-testid="join"]').click(), true`); err != nil {
		t.Fatal(err)
	}
	pat.frameWait(frame, "the call", `!!document.querySelector('[data-screen="call"]')`, 15*time.Second)
	pat.frameWait(frame, "the doctor's video", `[...document.querySelectorAll('[data-testid="remote-video"]')].some((v) => v.videoWidth > 0)`, 15*time.Second)
	doc.waitVideoOf(patientName, 15*time.Second)
	pat.frameWait(frame, "the code out of the frame's address", `location.pathname.endsWith('/join/visit')`, 5*time.Second)
	pat.screenshot("call-embedded.png")

	// The same page embedded from an origin FRAME_ANCESTORS does not list.
	stranger := openTab(t, "stranger")
	stranger.allowConsole("frame-ancestors", "Refused to frame")
	stranger.navigate(other.URL)
	waitUntil(t, "the browser's refusal to frame the page", func() bool {
		stranger.mu.Lock()
		defer stranger.mu.Unlock()
		return slices.ContainsFunc(stranger.errs, func(e string) bool { return strings.Contains(e, "frame-ancestors") })
	}, 10*time.Second)
	tree, err := chromedp.Call(stranger.ctx, page.GetFrameTree, cdp.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range tree.FrameTree.ChildFrames {
		if strings.HasPrefix(c.Frame.URL, s.URL) {
			if ok, err := frameEval[bool](stranger, c.Frame.ID, `!!document.querySelector('[data-screen]')`); err == nil && ok {
				t.Errorf("the call page runs in a frame of %s, which FRAME_ANCESTORS does not list", other.URL)
			}
		}
	}
}

// Ensure the link code leaves the address bar and the history once the
// service answered, and what a reload does: during the call it lands back
// in the call; after the visit ended it says so; without the stored code
// (another tab) it asks for the personal link.
func TestCallLinkLeavesAddressBar(t *testing.T) {
	s := startServer(t, map[string]string{"UNLIMITED_TELECONSULTATION": "false"})
	v := openVisit(t, s, 30*time.Minute)
	doc := openTab(t, "doctor")
	pat := openTab(t, "patient")
	joinCall(t, doc, v.Doctor, false, true)
	pat.navigate(v.Patient + "?lang=it")
	pat.waitScreen("prejoin", 10*time.Second)
	pat.checkCodeGone(v.Patient)
	if got := eval[string](pat, `location.pathname + location.search`); got != "/join/visit?lang=it" {
		t.Errorf("address %q, want /join/visit?lang=it", got)
	}
	pat.cameraOn()
	pat.click("join")
	pat.waitScreen("call", 15*time.Second)
	doc.waitVideoOf(patientName, 15*time.Second)

	// A reload lands back in the call, the camera on as it was.
	pat.reload()
	pat.waitScreen("call", 15*time.Second)
	pat.waitVideoOf(doctorName, 15*time.Second)
	doc.waitVideoOf(patientName, 15*time.Second)
	pat.checkCodeGone(v.Patient)

	// The same address in another tab has no code to trade.
	other := openTab(t, "other")
	other.navigate(s.URL + "/join/visit")
	other.waitScreen("nolink", 10*time.Second)
	other.screenshot("nolink.png")

	// After the visit's end (the session token expired with it), a reload
	// trades the code again and says the visit has ended.
	s.Clock.Set(v.Start.Add(31 * time.Minute))
	pat.waitScreen("end-expired", 10*time.Second)
	pat.allowConsole("status of 410")
	pat.reload()
	pat.waitScreen("gone-ended", 10*time.Second)
}
