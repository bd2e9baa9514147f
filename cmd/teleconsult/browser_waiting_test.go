package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// waitingCount is the number of people in the tab's waiting list.
const waitingCount = `document.querySelectorAll('[data-testid="waiting-list"] li').length`

// openWaiting opens the patient's link with WAITING_ROOM=true: the page
// goes straight to the waiting room and starts no media connection.
func openWaiting(tb testing.TB, tt *tab, link string) {
	tb.Helper()
	tt.navigate(link)
	tt.waitScreen("waiting-room", 10*time.Second)
	tt.waitFor("the waiting hook", `!!document.querySelector('[data-testid="waiting"]')`, time.Second)
}

// Ensure the waiting room in two real browsers: the patient waits (told
// what happens, no peer connection), the doctor is notified on the
// pre-join screen, the patient reloads and keeps the place, and the doctor,
// in the call, admits them: both see each other's video.
func TestCallWaitingRoom(t *testing.T) {
	s := startServer(t, map[string]string{"WAITING_ROOM": "true"})
	v := openVisit(t, s, 30*time.Minute)
	pat := openTab(t, "patient")
	doc := openTab(t, "doctor")

	openWaiting(t, pat, v.Patient)
	pat.waitFor("the status before the doctor comes", `document.querySelector('[data-testid="waiting-told"]').textContent.includes('as soon as they connect')
		&& document.querySelector('[data-testid="waiting-host"]').textContent.includes('not connected yet')`, 5*time.Second)
	if got := pat.text("waiting-appointment"); !strings.Contains(got, "Your appointment") {
		t.Errorf("appointment line %q", got)
	}
	pat.click("prejoin-camera")
	pat.waitFor("the preview", `(() => { const v = document.querySelector('.preview video'); return v && v.videoWidth > 0; })()`, 10*time.Second)

	// The doctor's pre-join screen lists the patient, with a notice that
	// screen readers hear.
	doc.navigate(v.Doctor)
	doc.waitScreen("prejoin", 10*time.Second)
	doc.waitFor("the patient in the waiting list", waitingCount+` === 1 && document.querySelector('[data-testid="waiting-list"]').textContent.includes(`+jsString(patientName)+`)`, 10*time.Second)
	doc.waitFor("the notice", `(() => { const n = document.querySelector('[data-testid="waiting-notice"]');
		return n.getAttribute('aria-live') === 'polite' && n.textContent.includes(`+jsString(patientName)+`) && n.offsetParent !== null; })()`, 5*time.Second)
	since := eval[string](doc, `document.querySelector('[data-testid="waiting-list"] .since').textContent`)
	pat.waitFor("told", `document.querySelector('[data-testid="waiting-told"]').textContent.includes('has been told you are here')
		&& document.querySelector('[data-testid="waiting-host"]').textContent.includes('connected and about to start')`, 5*time.Second)
	pat.screenshot("waiting-room.png")
	doc.screenshot("prejoin-waiting-list.png")

	// A reload keeps the place.
	pat.reload()
	pat.waitAcrossNavigation("the waiting room again", `!!document.querySelector('[data-screen="waiting-room"]')`, 10*time.Second)
	pat.waitFor("the status after the reload", `document.querySelector('[data-testid="waiting-told"]').textContent.includes('has been told')`, 5*time.Second)
	if n := eval[int](pat, `window.__pcs.length`); n != 0 {
		t.Errorf("the waiting page made %d peer connections", n)
	}
	doc.waitFor("one place, same since", waitingCount+` === 1 && document.querySelector('[data-testid="waiting-list"] .since').textContent === `+jsString(since), 5*time.Second)

	// So does a network drop: the page reconnects by itself.
	pat.do(chromedp.Evaluate[chromedp.Void](`window.__sockets.filter((s) => s.readyState === 1).forEach((s) => s.close())`))
	pat.waitFor("a second connection", `window.__sockets.filter((s) => s.readyState === 1).length === 1 && window.__sockets.length === 2`, 10*time.Second)
	pat.waitScreen("waiting-room", time.Second)
	doc.waitFor("still one place, same since", waitingCount+` === 1 && document.querySelector('[data-testid="waiting-list"] .since').textContent === `+jsString(since), 5*time.Second)

	// The doctor joins, then admits from the call.
	doc.cameraOn()
	doc.click("join")
	doc.waitScreen("call", 15*time.Second)
	pat.waitFor("the doctor in the call", `document.querySelector('[data-testid="waiting-host"]').textContent.includes('in the call')`, 5*time.Second)
	pat.click("prejoin-camera")
	doc.waitFor("the list in the call", waitingCount+` === 1`, 5*time.Second)
	doc.screenshot("call-waiting-list.png")
	doc.click("admit")
	pat.waitScreen("call", 15*time.Second)
	doc.waitFor("the list emptied", waitingCount+` === 0`, 5*time.Second)
	doc.waitVideoOf(patientName, 15*time.Second)
	pat.waitVideoOf(doctorName, 15*time.Second)
}

// Ensure a declined patient gets the page that says so.
func TestCallWaitingRoomDecline(t *testing.T) {
	s := startServer(t, map[string]string{"WAITING_ROOM": "true"})
	v := openVisit(t, s, 30*time.Minute)
	pat := openTab(t, "patient")
	doc := openTab(t, "doctor")
	openWaiting(t, pat, v.Patient)
	doc.navigate(v.Doctor)
	doc.waitScreen("prejoin", 10*time.Second)
	doc.waitFor("the patient in the waiting list", waitingCount+` === 1`, 10*time.Second)
	// With the keyboard: the focus stays in the waiting room's panel.
	doc.do(chromedp.Focus(chromedp.CSS(`[data-testid="decline"]`)), chromedp.KeyEvent("\r"))
	pat.waitScreen("end-declined", 10*time.Second)
	doc.waitFor("the focus on the panel", `document.activeElement && document.activeElement.id === 'lobby-title'`, 5*time.Second)
	if got := eval[string](pat, `document.querySelector('h1').textContent`); got != "You were not let in" {
		t.Errorf("declined page title %q", got)
	}
	doc.waitFor("the list emptied", waitingCount+` === 0`, 5*time.Second)
	if n := eval[int](pat, `window.__pcs.length`); n != 0 {
		t.Errorf("the declined page made %d peer connections", n)
	}
}
