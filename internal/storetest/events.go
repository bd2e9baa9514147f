package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// testEvents: the hosted-provider data round-trips: the room URL, the
// per-participant provider links, the look-up by room, event claims (and
// their pruning after a week) and presence.
func testEvents(t *testing.T, f *fixture) {
	ctx := context.Background()
	const link = "https://acme.bandyer.test/eu/direct-rest-call-handler/SECRET-LINK-TOKEN-42"
	doc := NewParticipant(f.keys, "doc-1", "Dr. Anna Bianchi", "", teleconsult.RolePlus, "doctor")
	doc.ProviderLink = link
	pat := NewParticipant(f.keys, "pat-1", "Mario Rossi", "", teleconsult.RoleBasic, "patient")
	tc := NewTC("appt-ev", doc, pat)
	tc.Provider, tc.ProviderRoomID, tc.ProviderRoomURL = "daily", "AbCdEf0123456789-_xy", "https://acme.daily.test/AbCdEf0123456789-_xy"
	tc.State = teleconsult.StateScheduled
	Create(t, f.s, tc)
	got := MustFind(t, f.s, tc.ID)
	if d := Diff(got, tc); d != "" {
		t.Fatalf("FindByID:%s", d)
	}
	// Updates keep them too.
	tc.ProviderRoomURL = "https://acme.daily.test/other"
	tc.Participants[1].ProviderLink = "https://x.test/2"
	Apply(t, f.s, teleconsult.Change{Update: []*teleconsult.Teleconsultation{tc}})
	if got := MustFind(t, f.s, tc.ID); got.ProviderRoomURL != tc.ProviderRoomURL || got.Participants[1].ProviderLink != "https://x.test/2" {
		t.Errorf("after update: %q %q", got.ProviderRoomURL, got.Participants[1].ProviderLink)
	}

	if got, err := f.Events.FindByProviderRoom(ctx, "daily", tc.ProviderRoomID); err != nil || got.ID != tc.ID {
		t.Errorf("FindByProviderRoom: %v %v", got, err)
	}
	for _, q := range [][2]string{{"kaleyra", tc.ProviderRoomID}, {"daily", "nope"}, {"daily", ""}} {
		_, err := f.Events.FindByProviderRoom(ctx, q[0], q[1])
		WantCode(t, err, teleconsult.ENOTFOUND)
	}

	// Claims: once per (provider, id); a released claim can be
	// made again; old claims are pruned.
	now := Base
	claim := func(provider, id string, at time.Time, want bool) {
		t.Helper()
		if got, err := f.Events.ClaimEvent(ctx, provider, id, at); err != nil || got != want {
			t.Errorf("ClaimEvent(%s, %s) = %v, %v; want %v", provider, id, got, err, want)
		}
	}
	claim("daily", "e1", now, true)
	claim("daily", "e1", now, false)
	claim("kaleyra", "e1", now, true)
	if err := f.Events.ReleaseEvent(ctx, "daily", "e1"); err != nil {
		t.Fatal(err)
	}
	claim("daily", "e1", now, true)
	claim("daily", "e2", now.Add(8*24*time.Hour), true) // prunes e1
	claim("daily", "e1", now.Add(8*24*time.Hour), true)

	// Presence: joins count once, a leave wins even when it comes
	// first, rooms are separate, clearing forgets.
	pres := func(room, session string, present bool, want int) {
		t.Helper()
		if got, err := f.Events.Presence(ctx, "daily", room, session, present, now); err != nil || got != want {
			t.Errorf("Presence(%s, %s, %v) = %d, %v; want %d", room, session, present, got, err, want)
		}
	}
	pres("r1", "s1", true, 1)
	pres("r1", "s1", true, 1)
	pres("r1", "s2", true, 2)
	pres("r2", "s1", true, 1)
	pres("r1", "s3", false, 2) // left before its join arrived
	pres("r1", "s3", true, 2)
	pres("r1", "s1", false, 1)
	pres("r1", "s1", false, 1)
	if err := f.Events.ClearPresence(ctx, "daily", "r1"); err != nil {
		t.Fatal(err)
	}
	pres("r1", "s9", true, 1)
	pres("r2", "s2", true, 2)
}
