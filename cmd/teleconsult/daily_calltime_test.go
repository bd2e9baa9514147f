package main

import (
	"context"
	"encoding/base64"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/daily"
	"github.com/teleconsult/teleconsult/internal/daily/dailytest"
)

// Ensure durationUsedInSeconds and the call state follow calls at Daily,
// through the Daily fake's signed webhooks, the whole service and both
// databases: two calls in one room add up, the LIVE rule ends a call when
// one of two leaves (the other is ejected, and the events that follow
// change nothing), replays are duplicates, and events out of order count
// from the first start.
func TestDailyCallTime(t *testing.T) {
	databases(t, testDailyCallTime)
}

func testDailyCallTime(t *testing.T, env map[string]string) {
	fake := dailytest.New(t, dailyKey)
	maps.Copy(env, map[string]string{"VIDEO_PROVIDER": "daily", "DAILY_API_KEY": dailyKey, "DAILY_API_URL": fake.URL,
		"DAILY_WEBHOOK_SECRET": base64.StdEncoding.EncodeToString(webhookSecret)})
	s := startServer(t, env)
	fake.Now = s.Clock.Now
	id := createOK(t, s, scenarioCreate(s))
	room := roomOf(t, s, id)
	tc, err := s.Main.DB.FindByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	doc, pat := tc.Participants[0].ProviderUserID, tc.Participants[1].ProviderUserID
	t0 := s.Clock.Now().Add(2 * time.Hour).Truncate(time.Second) // the visit's start
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

	deliver := func(evs []dailytest.WebhookEvent, want string) {
		t.Helper()
		for _, ev := range evs {
			ts := strconv.FormatInt(s.Clock.Now().Unix(), 10)
			var out struct{ Status, Error string }
			st := s.doRaw(t, "POST", api+"/webhooks/daily", ev.Body, map[string]string{
				daily.SignatureHeader: dailytest.Sign(webhookSecret, ts, ev.Body), daily.TimestampHeader: ts}, &out)
			if st != 200 || (want != "" && out.Status != want) {
				t.Fatalf("%s %s: %d %q %q, want %q", ev.Type, ev.ID, st, out.Status, out.Error, want)
			}
		}
	}
	details := func(when string, status string, used int) {
		t.Helper()
		var g getBody
		if st := s.do(t, "GET", api+"/teleconsultation/"+id, "pat-1", nil, &g); st != 200 ||
			g.Details.Status != status || g.Details.DurationUsedInSeconds != used {
			t.Errorf("%s: %d %q, %d s used; want %q, %d s", when, st, g.Details.Status, g.Details.DurationUsedInSeconds, status, used)
		}
	}

	// Call 1: the doctor, then the patient; ten minutes later the patient
	// leaves, and the LIVE rule (on by default) ends the call: the doctor
	// is ejected at Daily two seconds later.
	s.Clock.Set(at(0))
	fake.Join(room, "s1", doc, at(0))
	fake.Join(room, "s2", pat, at(60))
	s.Clock.Set(at(300))
	first := fake.TakeEvents()
	deliver(first, "applied") // meeting.started, participant.joined ×2
	details("call 1 running", "in_progress", 300)
	fake.Leave(room, "s2", at(600))
	s.Clock.Set(at(602))
	left := fake.TakeEvents()
	deliver(left, "applied")
	if ej := fake.Ejects(room); len(ej) != 1 || len(ej[0]) != 2 {
		t.Fatalf("ejects %v, want the LIVE rule to eject once", ej)
	}
	ejected := fake.TakeEvents() // the doctor's leave at 602, meeting.ended
	if len(ejected) != 2 {
		t.Fatalf("events after the eject: %d", len(ejected))
	}
	deliver(ejected, "applied")
	details("call 1 over", "ended", 600)
	// Daily's retries of every event so far: no second effect.
	deliver(append(append(first, left...), ejected...), "duplicate")
	details("call 1 replayed", "ended", 600)

	// Call 2, twenty minutes in: its start events arrive in reverse order.
	fake.Join(room, "s3", doc, at(1200))
	fake.Join(room, "s4", pat, at(1260))
	s.Clock.Set(at(1500))
	second := fake.TakeEvents()
	for i, j := 0, len(second)-1; i < j; i, j = i+1, j-1 {
		second[i], second[j] = second[j], second[i]
	}
	deliver(second, "")
	details("call 2 running", "in_progress", 900)
	fake.Leave(room, "s3", at(1800))
	s.Clock.Set(at(1801))
	deliver(fake.TakeEvents(), "")
	deliver(fake.TakeEvents(), "") // the patient's ejection
	details("call 2 over", "ended", 1200)
	if ej := fake.Ejects(room); len(ej) != 2 {
		t.Errorf("ejects %v, want one per call", ej)
	}

	// Call 3, forty minutes in, with a webhook subscribed to the ends only
	// (meeting.ended, participant.left): the first leave, having no one
	// else known in the room, ends it, counted from that participant's
	// join; the rest of the meeting overlaps it and adds nothing.
	fake.Join(room, "s5", doc, at(2400))
	fake.Join(room, "s6", pat, at(2400))
	fake.Leave(room, "s6", at(2700))
	fake.Leave(room, "s5", at(2705))
	s.Clock.Set(at(2710))
	var ends []dailytest.WebhookEvent
	for _, ev := range fake.TakeEvents() {
		if ev.Type == "participant.left" || ev.Type == "meeting.ended" {
			ends = append(ends, ev)
		}
	}
	deliver(ends, "applied")
	details("call 3, ends only", "ended", 1500)
}
