package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// outboundLayers counts, in a tab's peer connections, the video RTP
// streams sent with an RTP stream id (simulcast layers) that have encoded
// frames.
const outboundLayers = `(async () => {
	const rids = new Set();
	for (const pc of window.__pcs) {
		if (pc.connectionState === 'closed') continue;
		(await pc.getStats()).forEach((r) => { if (r.type === 'outbound-rtp' && r.kind === 'video' && r.rid && r.framesEncoded > 0) rids.add(r.rid); });
	}
	return rids.size;
})()`

// framesDecoded sums the video frames a tab decoded.
const framesDecoded = `(async () => {
	let n = 0;
	for (const pc of window.__pcs) {
		if (pc.connectionState === 'closed') continue;
		(await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded || 0; });
	}
	return n;
})()`

// A browser publishes its camera in simulcast layers (the server offers
// q, h and f; the page scales them) and the other receives one video,
// decoded; an ICE restart (what the page asks when media stall or ICE
// disconnects) gives the session new ICE credentials and the video goes
// on, on the same connection, with no reconnecting banner.
func TestCallSimulcastAndICERestart(t *testing.T) {
	s := startServer(t, nil)
	v := openVisit(t, s, 30*time.Minute)
	doc := openTab(t, "doctor")
	pat := openTab(t, "patient")
	joinCall(t, doc, v.Doctor, false, true)
	joinCall(t, pat, v.Patient, false, true)
	pat.waitVideoOf(doctorName, 15*time.Second)
	doc.waitVideoOf(patientName, 15*time.Second)
	doc.waitFor("two simulcast layers or more sent", outboundLayers+`.then((n) => n >= 2)`, 10*time.Second)
	t.Logf("doctor's camera: %d simulcast layers", int(eval[float64](doc, outboundLayers)))
	if n := eval[float64](pat, `document.querySelectorAll('[data-testid="remote-video"]').length`); n != 1 {
		t.Errorf("the patient shows %v remote videos, want 1", n)
	}

	// The browsers' downlink estimates (REMB) reach the SFU.
	const rembIn = `teleconsult_sfu_rtcp_feedback_total{direction="in",type="remb"}`
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, text := scrapeFamilies(t, s)
		if n := sample(text, rembIn); n > 0 {
			t.Logf("%v REMB from the subscribers", n)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no REMB from the subscribers in 10 s")
		}
	}
	width := `(async () => {
		let w = 0;
		for (const pc of window.__pcs) (await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') w = Math.max(w, r.frameWidth || 0); });
		return w;
	})()`
	t.Logf("the patient decodes the doctor's video %v pixels wide", eval[float64](pat, width))

	ufrag := `(window.__pcs.at(-1).remoteDescription?.sdp.match(/a=ice-ufrag:(\S+)/) || [])[1] || ''`
	before := eval[string](pat, ufrag)
	pat.do(chromedp.Evaluate[chromedp.Void](`window.__sockets.filter((s) => s.readyState === 1).forEach((s) => s.send(JSON.stringify({type: 'restart-ice'})))`))
	pat.waitFor("new ICE credentials", `(`+ufrag+`) !== `+jsString(before), 10*time.Second)
	frames := eval[float64](pat, framesDecoded)
	pat.waitFor("video after the restart", framesDecoded+`.then((n) => n > `+strconv.Itoa(int(frames)+30)+`)`, 10*time.Second)
	doc.waitVideoOf(patientName, 5*time.Second)
	if n := eval[float64](pat, `window.__sockets.length`); n != 1 {
		t.Errorf("%v sockets: the ICE restart made a new connection", n)
	}
	if eval[bool](pat, `(() => { const b = document.querySelector('[data-testid="reconnecting"]'); return !!b && !b.hidden && b.dataset.state === 'lost'; })()`) {
		t.Error("the reconnecting banner shows after an ICE restart")
	}
}
