package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sample returns the value of one series (name and labels exactly as the
// exposition writes them, e.g. `x{a="b"}`) in a scrape, or -1.
func sample(text, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

// Ensure a call between two Chromium participants shows in /metrics: the
// call, its participants and tracks, media both ways, the SFU's keyframe
// requests, the two link exchanges; and, once both tabs are closed, two
// connection durations, and the signalling sockets counted as upgrades
// but absent from the request-latency histogram.
func TestCallMetricsInChromium(t *testing.T) {
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

	_, text := scrapeFamilies(t, s)
	callRoute := `route="/api/v1/telecons-be/teleconsultation/{id}/call"`
	for series, want := range map[string]float64{
		`teleconsult_sfu_calls`:                           1,
		`teleconsult_sfu_connections`:                     2,
		`teleconsult_sfu_participants{state="connected"}`: 2,
		`teleconsult_sfu_tracks{kind="audio"}`:            2,
		`teleconsult_sfu_tracks{kind="video"}`:            2,
		`teleconsult_sfu_forwarded_tracks{kind="video"}`:  2,
		`teleconsult_link_exchanges_total{outcome="ok"}`:  2,
	} {
		if got := sample(text, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for _, series := range []string{
		`teleconsult_sfu_rtp_packets_total{direction="in",kind="video"}`,
		`teleconsult_sfu_rtp_packets_total{direction="out",kind="video"}`,
		`teleconsult_sfu_rtp_bytes_total{direction="in",kind="audio"}`,
		`teleconsult_sfu_rtp_bytes_total{direction="out",kind="audio"}`,
		`teleconsult_sfu_rtcp_feedback_total{direction="out",type="pli"}`,
	} {
		if got := sample(text, series); got <= 0 {
			t.Errorf("%s = %v, want more than 0", series, got)
		}
	}
	doc.close()
	pat.close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, text = scrapeFamilies(t, s)
		if sample(text, `teleconsult_sfu_connection_duration_seconds_count`) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := sample(text, `teleconsult_sfu_connection_duration_seconds_count`); got != 2 {
		t.Errorf("%v connection durations, want 2", got)
	}
	if got := sample(text, `teleconsult_sfu_connection_duration_seconds_sum`); got <= 0 || got > 120 {
		t.Errorf("connections lasted %v s in all", got)
	}
	// The sockets' requests are counted once they end, outside the
	// latency histogram.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, text = scrapeFamilies(t, s)
		if sample(text, `teleconsult_http_requests_total{method="GET",`+callRoute+`,status="101"}`) == 2 || time.Now().After(deadline) {
			break
		}
	}
	if got := sample(text, `teleconsult_http_requests_total{method="GET",`+callRoute+`,status="101"}`); got != 2 {
		t.Errorf("%v signalling upgrades counted, want 2", got)
	}
	if strings.Contains(text, `teleconsult_http_request_duration_seconds_count{method="GET",`+callRoute+`}`) {
		t.Error("the signalling sockets are in the request-latency histogram")
	}
}
