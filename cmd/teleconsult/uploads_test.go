package main

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scanAtRest fails the test if any file under dir (database, WAL, uploads)
// holds needle.
func scanAtRest(t *testing.T, dir string, needle []byte) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, needle) {
			t.Errorf("%s holds the uploaded content in plain", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// upload sends content as file name, with the API key acting for user.
func (s *testServer) upload(t *testing.T, id, user, name string, content []byte) (status int, fileID string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", name)
	if _, err := fw.Write(content); err != nil {
		t.Fatal(err)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", s.URL+api+"/teleconsultation/"+id+"/uploads", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+s.Key)
	req.Header.Set("miauserid", user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var up struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&up); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, up.ID
}

func (s *testServer) download(t *testing.T, id, user, fileID string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+api+"/teleconsultation/"+id+"/uploads/"+fileID, nil)
	req.Header.Set("Authorization", "Bearer "+s.Key)
	req.Header.Set("miauserid", user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || err != nil {
		t.Fatalf("download: %d %v %s", resp.StatusCode, err, b)
	}
	return b
}

// Ensure the whole service keeps uploaded content encrypted at rest
// (nothing under DATA_DIR holds it), and that a start encrypts a file
// stored in plain by an earlier version, which then downloads the same.
func TestUploadsEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATA_DIR": dir, "IMMUTABLE_PERIOD_MS": "600000"}
	s := startServer(t, env)
	start := s.Clock.Now().Add(5 * time.Minute).Truncate(time.Second)
	create := map[string]any{
		"start_date": start.Format(time.RFC3339), "duration_in_seconds": 1800,
		"participants": map[string]any{"number": 2, "data": []map[string]any{
			{"userId": "doc-1", "groups": []string{"doctor"}, "fullName": "Dr. Anna Verdi", "language": "it"},
			{"userId": "pat-1", "groups": []string{"patient"}, "fullName": "Mario Rossi", "language": "en"},
		}},
	}
	var created struct{ RoomID string }
	if code := s.do(t, "POST", api+"/teleconsultation", "", create, &created); code != 201 {
		t.Fatalf("create: %d", code)
	}
	id := created.RoomID
	content := []byte(strings.Repeat("REFERTO Mario Rossi: emocromo nella norma.\n", 3000))
	code, fileID := s.upload(t, id, "doc-1", "referto.txt", content)
	if code != 201 {
		t.Fatalf("upload: %d", code)
	}
	scanAtRest(t, dir, []byte("REFERTO Mario Rossi"))
	if got := s.download(t, id, "pat-1", fileID); !bytes.Equal(got, content) {
		t.Fatal("download differs")
	}

	// As an earlier version stored a file of that size: in plain.
	legacy := []byte(strings.Repeat("REFERTO legacy: radiografia del torace.\n", 4000))[:len(content)]
	if err := os.WriteFile(filepath.Join(dir, "uploads", fileID), legacy, 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	s2 := startServerLogged(t, env, &log)
	if !strings.Contains(log.String(), "encrypted the uploaded files stored in plain") || !strings.Contains(log.String(), "files=1") {
		t.Errorf("no migration logged:\n%s", log.String())
	}
	scanAtRest(t, dir, []byte("REFERTO legacy"))
	if got := s2.download(t, id, "pat-1", fileID); !bytes.Equal(got, legacy) {
		t.Error("the migrated file differs")
	}
}
