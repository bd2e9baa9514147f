package sqlstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/teleconsult/teleconsult/internal/pgtest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// testUploadName: an upload's file name is stored encrypted.
func testUploadName(t *testing.T, f *fixture) {
	ctx := context.Background()
	tc := newTC("", newParticipant(f.keys, "doc-1", "Dr. A", "", teleconsult.RolePlus, "doctor"))
	create(t, f.db, tc)
	u := &teleconsult.Upload{ID: teleconsult.NewID(), TeleconsultationID: tc.ID, UploadedBy: "u_1",
		Name: "Mario_Rossi_referto_cardiologico.pdf", ContentType: "application/pdf", Size: 10, CreatedAt: base}
	if err := f.db.AddUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := f.db.r.QueryRowContext(ctx, "SELECT name FROM uploads WHERE id = $1", u.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 || bytes.Contains(raw, []byte("Rossi")) {
		t.Errorf("upload name stored as %q: want ciphertext", raw)
	}
}

// testProviderLink: a participant's provider link never reaches the
// database in plain text (nor in the hex form pg_dump gives bytea).
func testProviderLink(t *testing.T, f *fixture) {
	doc := newParticipant(f.keys, "doc-1", "Dr. Anna Bianchi", "", teleconsult.RolePlus, "doctor")
	doc.ProviderLink = "https://acme.bandyer.test/eu/direct-rest-call-handler/SECRET-LINK-TOKEN-42"
	tc := newTC("appt-ev", doc, newParticipant(f.keys, "pat-1", "Mario Rossi", "", teleconsult.RoleBasic, "patient"))
	tc.Provider, tc.ProviderRoomID, tc.ProviderRoomURL = "daily", "AbCdEf0123456789-_xy", "https://acme.daily.test/AbCdEf0123456789-_xy"
	create(t, f.db, tc)
	leaks := func(b []byte) bool {
		return bytes.Contains(b, []byte("SECRET-LINK-TOKEN")) || bytes.Contains(b, []byte(hex.EncodeToString([]byte("SECRET-LINK-TOKEN"))))
	}
	if f.db.Dialect() == DialectSQLite {
		if err := f.db.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(f.dsn)
		if err != nil {
			t.Fatal(err)
		}
		if leaks(data) || !bytes.Contains(data, []byte("doc-1")) {
			t.Error("the SQLite file holds the provider link in plain text (or not the data at all)")
		}
		return
	}
	dump := pgtest.Dump(t, f.dsn)
	if leaks(dump) || !bytes.Contains(dump, []byte("doc-1")) {
		t.Error("pg_dump shows the provider link in plain text (or not the data at all)")
	}
}

// testOutboxFlags: the participants' Invited flags and the calendar
// sequence are in the row, not only in the cache.
func testOutboxFlags(t *testing.T, f *fixture) {
	doc := newParticipant(f.keys, "doc-1", "Dr. A", "a@example.org", teleconsult.RolePlus, "doctor")
	doc.Invited = true
	tc := newTC("appt-1", doc)
	tc.CalendarSequence = 1
	apply(t, f.db, teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc},
		Outbox: []teleconsult.OutboxMessage{message(tc.ID, "doc-1", teleconsult.InvitationInvite, 0)}})
	f.db.cache.forget([]string{tc.ID})
	back := mustFind(t, f.db, tc.ID)
	if !back.Participants[0].Invited || back.CalendarSequence != 1 {
		t.Errorf("Invited %v, CalendarSequence %d", back.Participants[0].Invited, back.CalendarSequence)
	}
}

// testOutboxReason: a failure reason is stored with control characters
// blanked (PostgreSQL refuses NUL), cut to maxReasonLen bytes of UTF-8.
func testOutboxReason(t *testing.T, f *fixture) {
	ctx := context.Background()
	tc := newTC("")
	create(t, f.db, tc)
	ch := teleconsult.Change{Outbox: []teleconsult.OutboxMessage{message(tc.ID, "u", teleconsult.InvitationInvite, 0)}}
	apply(t, f.db, ch)
	m := ch.Outbox[0]
	m.Status, m.Attempts, m.LastError = teleconsult.DeliveryFailed, 1, "\x00bad\r\n"+strings.Repeat("é", 1000)
	if err := f.db.MarkOutbox(ctx, &m); err != nil {
		t.Fatal(err)
	}
	msgs, err := f.db.FindOutbox(ctx, tc.ID)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FindOutbox: %v, %v", msgs, err)
	}
	if got := msgs[0].LastError; len(got) > maxReasonLen || !utf8.ValidString(got) || !strings.HasPrefix(got, " bad  éé") {
		t.Errorf("stored reason %q (%d bytes): want control characters blanked, cut to %d bytes of UTF-8", got[:20], len(got), maxReasonLen)
	}
}
