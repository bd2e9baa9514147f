package teleconsult_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/files"
	"github.com/teleconsult/teleconsult/internal/inmem"
	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
)

func TestSanitizeFileName(t *testing.T) {
	tests := map[string]string{
		"report.pdf":               "report.pdf",
		"../../etc/passwd":         "passwd",
		`C:\Users\bob\scan.png`:    "scan.png",
		"a\r\nContent-Type: x.txt": "aContent-Type: x.txt",
		`"quoted".txt`:             "quoted.txt",
		"":                         "file",
		"..":                       "file",
		"/":                        "file",
		"dir/":                     "dir",
		strings.Repeat("é", 300):   strings.Repeat("é", 200),
		// Bidirectional overrides and other format characters (Cf) go:
		// "report\u202Egpj.exe" shows as "reportexe.jpg".
		"report\u202Egpj.exe":                  "reportgpj.exe",
		"\u2066a\u2069\u200e\u200f.pdf":        "a.pdf",
		"x\u200b\ufeff\u00ad\u061c\u2060y.txt": "xy.txt",
		"\u202a\u202b\u202c\u202d":             "file",
	}
	for in, want := range tests {
		if got := tc.SanitizeFileName(in); got != want {
			t.Errorf("SanitizeFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

// failingUploads refuses to record, as a database down would.
type failingUploads struct{ tc.UploadStore }

func (*failingUploads) AddUpload(context.Context, *tc.Upload) error {
	return tc.Errorf(tc.EUNAVAILABLE, "database unavailable")
}

func uploadFixture(t *testing.T, deleteUploads bool) (*fixture, string, string, *tc.Admission) {
	t.Helper()
	f := newFixture(t, func(s *tc.Settings) { s.DeleteUploads = deleteUploads })
	dir := filepath.Join(t.TempDir(), "uploads")
	fs, err := files.Open(dir, f.svc.Keys.FileKey())
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Uploads, f.svc.Files = &inmem.Uploads{}, fs
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(start)
	a, err := f.svc.AdmitUser(ctx, id, "doc-1")
	if err != nil {
		t.Fatal(err)
	}
	return f, dir, id, a
}

// Ensure a record that cannot be committed leaves no file, and that the
// sweep removes what a crash leaves: a half-written file and a file whose
// record never committed.
func TestUploadCrashSafety(t *testing.T) {
	f, dir, _, a := uploadFixture(t, false)
	f.svc.Uploads = &failingUploads{&inmem.Uploads{}}
	if _, err := f.svc.AddUpload(ctx, a, "x.txt", strings.NewReader("hello")); tc.ErrorCode(err) != tc.EUNAVAILABLE {
		t.Fatalf("AddUpload with the database down: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("file left after a failed record: %v", entries)
	}
	f.svc.Uploads = &inmem.Uploads{}
	kept, err := f.svc.AddUpload(ctx, a, "kept.txt", strings.NewReader("kept"))
	if err != nil {
		t.Fatal(err)
	}
	orphan, part := tc.NewID(), tc.NewID()+".part"
	for _, name := range []string{orphan, part} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("crash"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := f.svc.SweepUploads(ctx)
	if err != nil || removed != 2 {
		t.Fatalf("SweepUploads = %d, %v; want 2", removed, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != kept.ID {
		t.Errorf("after the sweep: %v, want only %s", entries, kept.ID)
	}
}

func TestUploadRules(t *testing.T) {
	f, _, id, a := uploadFixture(t, true)
	basic := *a
	basic.Tools.FileUpload = false
	if _, err := f.svc.AddUpload(ctx, &basic, "x.txt", strings.NewReader("x")); tc.ErrorCode(err) != tc.EFORBIDDEN {
		t.Errorf("without file_upload: %v", err)
	}
	f.svc.Settings.UploadMaxBytes = 4
	if _, err := f.svc.AddUpload(ctx, a, "x.txt", strings.NewReader("12345")); tc.ErrorCode(err) != tc.ETOOLARGE {
		t.Errorf("over the limit: %v", err)
	}
	f.svc.Settings.UploadMaxBytes = 0 // the default
	u, err := f.svc.AddUpload(ctx, a, "notes.csv", strings.NewReader("a,b\n1,2\n"))
	if err != nil || u.ContentType != "text/csv; charset=utf-8" || u.UploadedBy != a.ParticipantID {
		t.Fatalf("upload %+v, %v", u, err)
	}
	// The LIVE rule's call end deletes the uploads when configured.
	if err := f.svc.CallStarted(ctx, id); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(start.Add(time.Minute))
	if err := f.svc.CallEnded(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ups, _ := f.svc.ListUploads(ctx, a); len(ups) != 0 {
		t.Errorf("uploads after the call ended: %v", ups)
	}
	if _, _, err := f.svc.OpenUpload(ctx, a, u.ID); tc.ErrorCode(err) != tc.ENOTFOUND {
		t.Errorf("deleted upload still opens: %v", err)
	}
	f.svc.Settings.DeleteUploads = false
	if res, err := f.svc.DeleteUploads(ctx, id, ""); err != nil || res != nil {
		t.Errorf("DeleteUploads with the setting off: %+v, %v; want nothing done", res, err)
	}
}

// Ensure the rule of who may delete a visit's uploads: a trusted caller
// acting for nobody, or a participant admitted now who has file_upload;
// any other caller is refused and nothing is deleted.
func TestDeleteUploadsWho(t *testing.T) {
	tests := []struct {
		name string
		// caller is the user a trusted caller acts for ("" for nobody), or
		// with session, the participant admitted by a session token.
		caller  string
		session bool
		want    string // error code; "" deletes
	}{
		{"trusted, acting for nobody", "", false, ""},
		{"trusted, acting for the doctor", "doc-1", false, ""},
		{"trusted, acting for the patient without file_upload", "pat-1", false, tc.EFORBIDDEN},
		{"trusted, acting for a user of no visit", "someone-else", false, tc.EUNAUTHORIZED},
		{"the doctor's session", "doc-1", true, ""},
		{"the patient's session, without file_upload", "pat-1", true, tc.EFORBIDDEN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, dir, id, a := uploadFixture(t, true)
			f.svc.Settings.Config.Privileges.Basic.Tools.FileUpload = false
			for _, n := range []string{"a.txt", "b.txt"} {
				if _, err := f.svc.AddUpload(ctx, a, n, strings.NewReader("hello")); err != nil {
					t.Fatal(err)
				}
			}
			var res *tc.UploadsDeleted
			var err error
			if tt.session {
				who, aerr := f.svc.AdmitUser(ctx, id, tt.caller)
				if aerr != nil {
					t.Fatal(aerr)
				}
				res, err = f.svc.DeleteUploadsAs(ctx, who)
			} else {
				res, err = f.svc.DeleteUploads(ctx, id, tt.caller)
			}
			wantCode(t, err, tt.want)
			entries, _ := os.ReadDir(dir)
			switch {
			case tt.want == "" && (res == nil || res.Deleted != 2 || len(entries) != 0):
				t.Errorf("deleted %+v, %d files left", res, len(entries))
			case tt.want != "" && len(entries) != 2:
				t.Errorf("refused, yet %d files of 2 are left", len(entries))
			}
		})
	}
}
