package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

func testUploads(t *testing.T, f *fixture) {
	ctx := context.Background()
	a := NewTC("", NewParticipant(f.keys, "doc-1", "Dr. A", "", teleconsult.RolePlus, "doctor"))
	b := NewTC("", NewParticipant(f.keys, "doc-2", "Dr. B", "", teleconsult.RolePlus, "doctor"))
	Create(t, f.s, a, b)
	const secretName = "Mario_Rossi_referto_cardiologico.pdf" //nolint:gosec // G101: a patient's file name, which must not leak, not a credential
	ups := []*teleconsult.Upload{
		{ID: teleconsult.NewID(), TeleconsultationID: a.ID, UploadedBy: "u_1", Name: secretName, ContentType: "application/pdf", Size: 10, CreatedAt: Base},
		{ID: teleconsult.NewID(), TeleconsultationID: a.ID, UploadedBy: "u_2", Name: "b.png", ContentType: "image/png", Size: 20, CreatedAt: Base.Add(time.Second)},
		{ID: teleconsult.NewID(), TeleconsultationID: b.ID, UploadedBy: "u_3", Name: "c.txt", ContentType: "text/plain", Size: 30, CreatedAt: Base.Add(2 * time.Second)},
	}
	for _, u := range ups {
		if err := f.Uploads.AddUpload(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.Uploads.Uploads(ctx, a.ID)
	if err != nil || len(got) != 2 || got[0] != *ups[0] || got[1] != *ups[1] {
		t.Fatalf("Uploads(a) = %+v, %v", got, err)
	}
	// Oldest first, whatever the order they were added in; times are
	// stored in UTC, to the microsecond.
	early := &teleconsult.Upload{ID: teleconsult.NewID(), TeleconsultationID: a.ID, UploadedBy: "u_1", Name: "early.txt",
		ContentType: "text/plain", Size: 1, CreatedAt: Base.Add(-time.Minute + 1500*time.Nanosecond).In(Rome)}
	if err := f.Uploads.AddUpload(ctx, early); err != nil {
		t.Fatal(err)
	}
	if want := Base.Add(-time.Minute + time.Microsecond); early.CreatedAt != want {
		t.Errorf("added upload: CreatedAt %v, want %v", early.CreatedAt, want)
	}
	got, err = f.Uploads.Uploads(ctx, a.ID)
	if err != nil || len(got) != 3 || got[0] != *early || got[1] != *ups[0] || got[2] != *ups[1] {
		t.Fatalf("Uploads(a) after an earlier one = %+v, %v", got, err)
	}
	if u, err := f.Uploads.FindUpload(ctx, a.ID, ups[1].ID); err != nil || *u != *ups[1] {
		t.Errorf("FindUpload = %+v, %v", u, err)
	}
	// An upload of another teleconsultation is not found through this one.
	_, err = f.Uploads.FindUpload(ctx, a.ID, ups[2].ID)
	WantCode(t, err, teleconsult.ENOTFOUND)
	ids, err := f.Uploads.UploadIDs(ctx)
	if err != nil || len(ids) != 4 || !ids[ups[2].ID] {
		t.Errorf("UploadIDs = %v, %v", ids, err)
	}
	gone, err := f.Uploads.DeleteUploads(ctx, a.ID)
	if err != nil || len(gone) != 3 {
		t.Fatalf("DeleteUploads = %v, %v", gone, err)
	}
	if got, _ := f.Uploads.Uploads(ctx, a.ID); len(got) != 0 {
		t.Errorf("after delete: %v", got)
	}
	if got, _ := f.Uploads.Uploads(ctx, b.ID); len(got) != 1 {
		t.Errorf("other teleconsultation's uploads touched: %v", got)
	}
}
