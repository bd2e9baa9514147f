package main

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// modButton is the expression of the doctor's moderation button testid on
// the patient's tile.
func modButton(testid string) string {
	return `document.querySelector('.tile.remote [data-testid="` + testid + `"]')`
}

// Ensure in-call moderation in two real browsers, and that the waiting
// room's screens pass axe-core: the patient waits (axe), the doctor sees
// them on the pre-join screen (axe) and in GET's details, admits them from
// the call (axe, with the moderation buttons); mutes them (the patient is
// told, the microphone goes off and stays off until allowed, the doctor
// hears nothing more), allows it again, turns their camera off and on; and
// removes them: the patient's page says so, goes back to the waiting room,
// and the doctor lets them in again.
func TestCallModeration(t *testing.T) {
	s := startServer(t, map[string]string{"WAITING_ROOM": "true", "LIVE_TELECONSULTATION": "false"})
	v := openVisit(t, s, 30*time.Minute)
	pat := openTab(t, "patient")
	doc := openTab(t, "doctor")

	openWaiting(t, pat, v.Patient)
	pat.click("prejoin-mic")
	pat.cameraOn()
	pat.axe("the waiting screen")

	doc.navigate(v.Doctor)
	doc.waitScreen("prejoin", 10*time.Second)
	doc.waitFor("the patient in the waiting list", waitingCount+` === 1`, 10*time.Second)
	doc.axe("the pre-join screen with the waiting list")
	var g struct {
		Details struct {
			Waiting []struct{ BandyerUserID, FullName, Since string }
		}
	}
	if code := s.do(t, "GET", api+"/teleconsultation/"+v.ID, "doc-1", nil, &g); code != 200 || len(g.Details.Waiting) != 1 ||
		g.Details.Waiting[0].FullName != patientName || g.Details.Waiting[0].Since == "" {
		t.Errorf("GET as the doctor: %d %+v", code, g.Details)
	}

	doc.cameraOn()
	doc.click("join")
	doc.waitScreen("call", 15*time.Second)
	doc.waitFor("the list in the call", waitingCount+` === 1`, 5*time.Second)
	doc.click("admit")
	pat.waitScreen("call", 15*time.Second)
	doc.waitVideoOf(patientName, 15*time.Second)
	doc.waitAudio(10 * time.Second)
	doc.waitFor("the moderation buttons", `!!`+modButton("mod-mute"), 5*time.Second)
	doc.axe("the call with the waiting list and the moderation buttons")
	doc.screenshot("call-moderation.png")
	if n := eval[int](pat, `document.querySelectorAll('[data-testid="moderation"]').length`); n != 0 {
		t.Errorf("the patient has %d moderation button groups", n)
	}

	// Mute: the patient is told, their microphone goes off and stays off.
	doc.do(chromeClick(modButton("mod-mute")))
	pat.waitFor("the notice", `document.querySelector('[data-testid="moderation-notice"]').textContent.includes('muted your microphone')`, 5*time.Second)
	pat.waitFor("the microphone off", `document.querySelector('[data-testid="mic"]').getAttribute('aria-pressed') === 'false'
		&& document.querySelector('[data-testid="mic"]').getAttribute('aria-disabled') === 'true'`, 5*time.Second)
	doc.waitFor("the mute button pressed", modButton("mod-mute")+`.getAttribute('aria-pressed') === 'true'`, 5*time.Second)
	pat.click("mic")
	pat.waitFor("the held notice", `document.querySelector('[data-testid="moderation-notice"]').textContent.includes('stays off until the doctor allows it')`, 5*time.Second)
	if on := eval[string](pat, `document.querySelector('[data-testid="mic"]').getAttribute('aria-pressed')`); on != "false" {
		t.Errorf("the muted patient turned the microphone on: aria-pressed %s", on)
	}
	doc.waitNoAudio(3 * time.Second)
	pat.screenshot("call-muted-by-doctor.png")
	pat.axe("the call, muted by the doctor")

	// Allowed again: the patient chooses to unmute, the doctor hears them.
	doc.do(chromeClick(modButton("mod-mute")))
	pat.waitFor("allowed", `document.querySelector('[data-testid="moderation-notice"]').textContent.includes('allows you to unmute')
		&& !document.querySelector('[data-testid="mic"]').hasAttribute('aria-disabled')`, 5*time.Second)
	pat.click("mic")
	pat.waitFor("the microphone on", `document.querySelector('[data-testid="mic"]').getAttribute('aria-pressed') === 'true'`, 5*time.Second)
	doc.waitAudio(10 * time.Second)

	// Camera off and allowed again.
	doc.do(chromeClick(modButton("mod-camera")))
	pat.waitFor("the camera off", `document.querySelector('[data-testid="camera"]').getAttribute('aria-pressed') === 'false'
		&& document.querySelector('[data-testid="moderation-notice"]').textContent.includes('turned off your camera')`, 5*time.Second)
	doc.do(chromeClick(modButton("mod-camera")))
	pat.waitFor("camera allowed", `document.querySelector('[data-testid="moderation-notice"]').textContent.includes('turn your camera on again')`, 5*time.Second)

	// Removal: back to the waiting room, let in again.
	doc.do(chromeClick(modButton("mod-remove")))
	pat.waitScreen("end-removed", 10*time.Second)
	if got := eval[string](pat, `document.querySelector('h1').textContent`); got != "You were removed from the call" {
		t.Errorf("removed page title %q", got)
	}
	doc.waitFor("the patient's tile gone", `!document.querySelector('.tile.remote')`, 10*time.Second)
	pat.axe("the removed page")
	pat.click("wait-again")
	pat.waitScreen("waiting-room", 10*time.Second)
	doc.waitFor("the patient waiting again", waitingCount+` === 1`, 10*time.Second)
	doc.click("admit")
	pat.waitScreen("call", 15*time.Second)
	doc.waitFor("the patient's tile again", `!!document.querySelector('.tile.remote')`, 15*time.Second)
}

// chromeClick clicks the element of a JavaScript expression (one that
// chromedp's selectors cannot name simply).
func chromeClick(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](expr + `.click()`)
}

// inboundAudioBytes is the bytes of audio RTP the tab's live peer
// connections received.
const inboundAudioBytes = `(async () => {
	let n = 0;
	for (const pc of window.__pcs) {
		if (pc.connectionState === 'closed') continue;
		(await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'audio') n += r.bytesReceived; });
	}
	return n;
})()`

// waitNoAudio waits until the tab's inbound audio stops: no more bytes
// over a second, within timeout.
func (tt *tab) waitNoAudio(timeout time.Duration) {
	tt.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		before := eval[float64](tt, inboundAudioBytes)
		time.Sleep(time.Second)
		if eval[float64](tt, inboundAudioBytes) == before {
			return
		}
		if time.Now().After(deadline) {
			tt.tb.Fatalf("%s: inbound audio still flows after %v", tt.name, timeout)
		}
	}
}
