package sqlstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/pgtest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure the hosted-provider data round-trips on both databases: the room
// URL, the per-participant provider links (encrypted at rest), the look-up
// by room, event claims and presence.
func TestProviderEvents(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := b.dsn(t)
			keys := testKeys(t, 1)
			db := openDB(t, dsn, keys)

			const link = "https://acme.bandyer.test/eu/direct-rest-call-handler/SECRET-LINK-TOKEN-42"
			doc := newParticipant(keys, "doc-1", "Dr. Anna Bianchi", "", teleconsult.RolePlus, "doctor")
			doc.ProviderLink = link
			pat := newParticipant(keys, "pat-1", "Mario Rossi", "", teleconsult.RoleBasic, "patient")
			tc := newTC("appt-ev", doc, pat)
			tc.Provider, tc.ProviderRoomID, tc.ProviderRoomURL = "daily", "AbCdEf0123456789-_xy", "https://acme.daily.test/AbCdEf0123456789-_xy"
			tc.State = teleconsult.StateScheduled
			create(t, db, tc)
			got := mustFind(t, db, tc.ID)
			if d := diff(got, tc); d != "" {
				t.Fatalf("FindByID:%s", d)
			}
			// Updates keep them too.
			tc.ProviderRoomURL = "https://acme.daily.test/other"
			tc.Participants[1].ProviderLink = "https://x.test/2"
			apply(t, db, teleconsult.Change{Update: []*teleconsult.Teleconsultation{tc}})
			if got := mustFind(t, db, tc.ID); got.ProviderRoomURL != tc.ProviderRoomURL || got.Participants[1].ProviderLink != "https://x.test/2" {
				t.Errorf("after update: %q %q", got.ProviderRoomURL, got.Participants[1].ProviderLink)
			}

			if got, err := db.FindByProviderRoom(ctx, "daily", tc.ProviderRoomID); err != nil || got.ID != tc.ID {
				t.Errorf("FindByProviderRoom: %v %v", got, err)
			}
			for _, q := range [][2]string{{"kaleyra", tc.ProviderRoomID}, {"daily", "nope"}, {"daily", ""}} {
				_, err := db.FindByProviderRoom(ctx, q[0], q[1])
				wantCode(t, err, teleconsult.ENOTFOUND)
			}

			// Claims: once per (provider, id); a released claim can be
			// made again; old claims are pruned.
			now := base
			claim := func(provider, id string, at time.Time, want bool) {
				t.Helper()
				if got, err := db.ClaimEvent(ctx, provider, id, at); err != nil || got != want {
					t.Errorf("ClaimEvent(%s, %s) = %v, %v; want %v", provider, id, got, err, want)
				}
			}
			claim("daily", "e1", now, true)
			claim("daily", "e1", now, false)
			claim("kaleyra", "e1", now, true)
			if err := db.ReleaseEvent(ctx, "daily", "e1"); err != nil {
				t.Fatal(err)
			}
			claim("daily", "e1", now, true)
			claim("daily", "e2", now.Add(8*24*time.Hour), true) // prunes e1
			claim("daily", "e1", now.Add(8*24*time.Hour), true)

			// Presence: joins count once, a leave wins even when it comes
			// first, rooms are separate, clearing forgets.
			pres := func(room, session string, present bool, want int) {
				t.Helper()
				if got, err := db.Presence(ctx, "daily", room, session, present, now); err != nil || got != want {
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
			if err := db.ClearPresence(ctx, "daily", "r1"); err != nil {
				t.Fatal(err)
			}
			pres("r1", "s9", true, 1)
			pres("r2", "s2", true, 2)

			// The link never reaches the database in plain text (nor in
			// the hex form pg_dump gives bytea).
			leaks := func(b []byte) bool {
				return bytes.Contains(b, []byte("SECRET-LINK-TOKEN")) || bytes.Contains(b, []byte(hex.EncodeToString([]byte("SECRET-LINK-TOKEN"))))
			}
			if db.Dialect() == DialectSQLite {
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				data, err := os.ReadFile(dsn)
				if err != nil {
					t.Fatal(err)
				}
				if leaks(data) || !bytes.Contains(data, []byte("doc-1")) {
					t.Error("the SQLite file holds the provider link in plain text (or not the data at all)")
				}
				return
			}
			dump := pgtest.Dump(t, dsn)
			if leaks(dump) || !bytes.Contains(dump, []byte("doc-1")) {
				t.Error("pg_dump shows the provider link in plain text (or not the data at all)")
			}
		})
	}
}
