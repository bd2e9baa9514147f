//go:build chromiumsdp

package sfu

// This file regenerates testdata/chromium: the SFU's two offers of a call
// (the first, receiving only; the second, adding another participant's
// microphone and camera) and Chromium's answers and ICE candidates to
// them, made as the call page makes them. The fuzz tests seed from them.
// It needs Chromium and runs only when asked, inside a loopback-only
// network namespace so that the candidates carry only 127.0.0.1:
//
//	unshare -rn sh -c 'ip link set lo up && exec go test -tags chromiumsdp -run TestChromiumSDP -count=1 ./internal/sfu'

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// chromiumPage answers offers as internal/web/static/assets/call.js does:
// max-bundle, its first three transceivers (microphone, camera, screen)
// turned sendonly with the fake camera's tracks on the first two, the
// camera's simulcast layers scaled down by 4, 2 and 1.
const chromiumPage = `<!doctype html><title>sdp</title><script>
window.cands = [];
window.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
pc.addEventListener('icecandidate', (ev) => { if (ev.candidate && ev.candidate.candidate) cands.push(ev.candidate.toJSON()); });
window.answerOffer = async (sdp) => {
  const first = pc.getTransceivers().length === 0;
  await pc.setRemoteDescription({ type: 'offer', sdp });
  if (first) {
    const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    const trs = pc.getTransceivers();
    for (const tr of trs.slice(0, 3)) tr.direction = 'sendonly';
    await trs[0].sender.replaceTrack(media.getAudioTracks()[0]);
    await trs[1].sender.replaceTrack(media.getVideoTracks()[0]);
  }
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  const cam = pc.getTransceivers()[1].sender, p = cam.getParameters();
  if (first && p.encodings.length > 1) {
    p.encodings.forEach((e, i) => { e.scaleResolutionDownBy = 2 ** (p.encodings.length - 1 - i); });
    await cam.setParameters(p);
  }
  window.encodings = JSON.stringify(cam.getParameters().encodings);
  return pc.localDescription.sdp;
};
</script>`

func TestChromiumSDP(t *testing.T) {
	api, closer, err := newAPI(Config{LoopbackCandidates: true, Logger: slog.New(slog.DiscardHandler)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if closer != nil {
		defer closer.Close()
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(chromiumPage))
	}))
	defer srv.Close()
	opts := []chromedp.ExecAllocatorOption{chromedp.UserDataDir(t.TempDir())}
	for _, f := range []string{"headless", "no-sandbox", "disable-gpu", "disable-quic", "no-first-run",
		"disable-background-networking", "disable-component-update", "disable-sync",
		"use-fake-device-for-media-stream", "use-fake-ui-for-media-stream", "allow-loopback-in-peer-connection"} {
		opts = append(opts, chromedp.Flag(f, true))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join("testdata", "chromium")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	round := func(name string) {
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := pc.SetLocalDescription(offer); err != nil {
			t.Fatal(err)
		}
		// What the page gets: the camera offered in simulcast layers
		// (conn.negotiate).
		var sent sdp.SessionDescription
		if err := sent.UnmarshalString(offer.SDP); err != nil {
			t.Fatal(err)
		}
		if offerSimulcast(&sent, pc.GetTransceivers()[1].Mid()) {
			b, err := sent.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			offer.SDP = string(b)
		}
		js, _ := json.Marshal(offer.SDP)
		answer, err := chromedp.Run(ctx, chromedp.Evaluate[string]("answerOffer("+string(js)+")", chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		var parsed sdp.SessionDescription
		if err := parsed.UnmarshalString(offer.SDP); err != nil {
			t.Fatal(err)
		}
		if err := checkAnswer(&parsed, answer); err != nil {
			t.Fatalf("%s: checkAnswer refuses Chromium's answer: %v\n%s", name, err, answer)
		}
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for file, text := range map[string]string{name + "-offer.sdp": offer.SDP, name + "-answer.sdp": answer} {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	round("first")
	enc, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`encodings`))
	t.Logf("camera encodings: %s", enc)

	// Another participant's microphone and camera, forwarded.
	for _, c := range []webrtc.RTPCodecCapability{{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}} {
		tr, err := webrtc.NewTrackLocalStaticRTP(c, "t-"+c.MimeType, "u_peer-media")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	round("second")

	cands, err := chromedp.Run(ctx, chromedp.Poll[[]map[string]any](`cands.length > 0 && pc.iceGatheringState === 'complete' && cands`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(cands, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "candidates.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	ver, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	t.Logf("%s: %d candidates", ver, len(cands))
}
