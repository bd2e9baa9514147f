package sqlstore

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

func testUploads(t *testing.T, f *fixture) {
	ctx := context.Background()
	a := newTC("", newParticipant(f.keys, "doc-1", "Dr. A", "", teleconsult.RolePlus, "doctor"))
	b := newTC("", newParticipant(f.keys, "doc-2", "Dr. B", "", teleconsult.RolePlus, "doctor"))
	create(t, f.db, a, b)
	const secretName = "Mario_Rossi_referto_cardiologico.pdf"
	ups := []*teleconsult.Upload{
		{ID: teleconsult.NewID(), TeleconsultationID: a.ID, UploadedBy: "u_1", Name: secretName, ContentType: "application/pdf", Size: 10, CreatedAt: base},
		{ID: teleconsult.NewID(), TeleconsultationID: a.ID, UploadedBy: "u_2", Name: "b.png", ContentType: "image/png", Size: 20, CreatedAt: base.Add(time.Second)},
		{ID: teleconsult.NewID(), TeleconsultationID: b.ID, UploadedBy: "u_3", Name: "c.txt", ContentType: "text/plain", Size: 30, CreatedAt: base.Add(2 * time.Second)},
	}
	for _, u := range ups {
		if err := f.db.AddUpload(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.db.Uploads(ctx, a.ID)
	if err != nil || len(got) != 2 || got[0] != *ups[0] || got[1] != *ups[1] {
		t.Fatalf("Uploads(a) = %+v, %v", got, err)
	}
	if u, err := f.db.FindUpload(ctx, a.ID, ups[1].ID); err != nil || *u != *ups[1] {
		t.Errorf("FindUpload = %+v, %v", u, err)
	}
	// An upload of another teleconsultation is not found through this one.
	_, err = f.db.FindUpload(ctx, a.ID, ups[2].ID)
	wantCode(t, err, teleconsult.ENOTFOUND)
	// The file name is stored encrypted.
	var raw []byte
	if err := f.db.r.QueryRowContext(ctx, "SELECT name FROM uploads WHERE id = $1", ups[0].ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("Rossi")) {
		t.Error("upload name stored in plain text")
	}
	ids, err := f.db.UploadIDs(ctx)
	if err != nil || len(ids) != 3 || !ids[ups[2].ID] {
		t.Errorf("UploadIDs = %v, %v", ids, err)
	}
	gone, err := f.db.DeleteUploads(ctx, a.ID)
	if err != nil || len(gone) != 2 {
		t.Fatalf("DeleteUploads = %v, %v", gone, err)
	}
	if got, _ := f.db.Uploads(ctx, a.ID); len(got) != 0 {
		t.Errorf("after delete: %v", got)
	}
	if got, _ := f.db.Uploads(ctx, b.ID); len(got) != 1 {
		t.Errorf("other teleconsultation's uploads touched: %v", got)
	}
}
