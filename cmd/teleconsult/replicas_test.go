package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/pgtest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// replicaEnv is the environment of replicas of one deployment on the
// PostgreSQL database at dsn: what the README says they must share.
func replicaEnv(dsn string) map[string]string {
	return map[string]string{
		"DATABASE_URL":                    dsn,
		"ENCRYPTION_KEY":                  testKey,
		"PUBLIC_URL":                      "https://visite.clinica.test",
		"IMMUTABLE_PERIOD_MS":             "600000",
		"TELECONSULTATION_DELETE_UPLOADS": "true",
	}
}

// with returns env with more settings on top.
func with(env map[string]string, more ...string) map[string]string {
	out := maps.Clone(env)
	for i := 0; i+1 < len(more); i += 2 {
		out[more[i]] = more[i+1]
	}
	return out
}

// openReplica runs Main.Open as startServer does and returns its error;
// the replica is closed when the test ends.
func openReplica(t *testing.T, env map[string]string, log io.Writer) error {
	t.Helper()
	_, err := openReplicaMain(t, env, log)
	return err
}

// onceMain is a Main that closes once.
type onceMain struct {
	*Main
	once sync.Once
}

func (m *onceMain) Close() { m.once.Do(m.Main.Close) }

// openReplicaMain is openReplica that returns the replica, to close early.
func openReplicaMain(t *testing.T, env map[string]string, log io.Writer) (*onceMain, error) {
	t.Helper()
	full := with(map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "DATA_DIR": t.TempDir(), "API_KEYS": testAPIKey})
	maps.Copy(full, env)
	cfg, err := LoadConfig(func(k string) string { return full[k] })
	if err != nil {
		t.Fatal(err)
	}
	m := &onceMain{Main: &Main{Config: cfg, Logger: newLogger(cfg, log), Stdout: io.Discard}}
	err = m.Open(context.Background())
	t.Cleanup(m.Close)
	return m, err
}

// createVisit creates a visit that is open now through s, with a doctor
// (doc-1) and a patient (pat-1), and returns its id.
func createVisit(t *testing.T, s *testServer) string {
	t.Helper()
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
	return created.RoomID
}

// Ensure two replicas on one PostgreSQL share the uploads: a file uploaded
// through one downloads through the other, nothing of it is on either's
// disk, and deleting through one deletes it for both.
func TestReplicasShareUploads(t *testing.T) {
	env := replicaEnv(pgtest.URL(t))
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startServer(t, with(env, "DATA_DIR", dirA))
	b := startServer(t, with(env, "DATA_DIR", dirB))
	id := createVisit(t, a)
	content := []byte(strings.Repeat("REFERTO Mario Rossi: emocromo nella norma.\n", 5000)) // 215 KB: 4 chunks
	code, fileID := a.upload(t, id, "doc-1", "referto.txt", content)
	if code != 201 {
		t.Fatalf("upload through A: %d", code)
	}
	if got := b.download(t, id, "pat-1", fileID); !bytes.Equal(got, content) {
		t.Fatalf("downloaded %d bytes through B, want the %d uploaded through A", len(got), len(content))
	}
	var list struct{ Files []struct{ ID string } }
	if st := b.do(t, "GET", api+"/teleconsultation/"+id+"/uploads", "pat-1", nil, &list); st != 200 || len(list.Files) != 1 || list.Files[0].ID != fileID {
		t.Errorf("list through B: %d %+v", st, list)
	}
	for _, dir := range []string{dirA, dirB} {
		scanAtRest(t, dir, []byte("REFERTO Mario Rossi"))
		if entries, _ := os.ReadDir(filepath.Join(dir, "uploads")); len(entries) != 0 {
			t.Errorf("%d files under %s/uploads: the content belongs in the database", len(entries), dir)
		}
	}
	if st := b.do(t, "DELETE", api+"/teleconsultation/"+id+"/uploads", "", nil, nil); st != 200 {
		t.Fatalf("delete through B: %d", st)
	}
	req, _ := http.NewRequest("GET", a.URL+api+"/teleconsultation/"+id+"/uploads/"+fileID, nil)
	req.Header.Set("Authorization", "Bearer "+a.Key)
	req.Header.Set("miauserid", "pat-1")
	if st := statusOf(t, req); st != 404 {
		t.Errorf("download through A after the delete through B: %d, want 404", st)
	}
}

// statusOf sends req and returns the status.
func statusOf(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// Ensure a replica that kept uploads on its disk (an earlier version) moves
// them into the database at start, encrypting a plain one first, deletes
// the files without a record, and that doing it again changes nothing.
func TestReplicasMoveDiskUploads(t *testing.T) {
	dsn := pgtest.URL(t)
	env := replicaEnv(dsn)
	a := startServer(t, env)
	id := createVisit(t, a)
	content := []byte(strings.Repeat("REFERTO Mario Rossi: radiografia del torace.\n", 3000))
	code, fileID := a.upload(t, id, "doc-1", "referto.txt", content)
	if code != 201 {
		t.Fatalf("upload: %d", code)
	}
	// As an earlier version kept it: in plain on the node's disk, with
	// its record in the database and no content there.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("DELETE FROM upload_blobs WHERE id = $1", fileID); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	legacy := []byte(strings.Repeat("REFERTO legacy: ecografia addominale.\n", 4000))[:len(content)]
	orphan := teleconsult.NewID()
	if err := os.MkdirAll(filepath.Join(dir, "uploads"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{fileID: legacy, orphan: []byte("REFERTO orphan"), orphan + ".part": []byte("half")} {
		if err := os.WriteFile(filepath.Join(dir, "uploads", name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	b := startServerLogged(t, with(env, "DATA_DIR", dir), &log)
	for _, want := range []string{"encrypted the uploaded files stored in plain", "moved the uploaded files kept on this node's disk into the database", "moved=1", "removed_without_record=1"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, log.String())
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "uploads")); len(entries) != 0 {
		t.Errorf("%d files left on the disk", len(entries))
	}
	if got := a.download(t, id, "pat-1", fileID); !bytes.Equal(got, legacy) {
		t.Error("the moved file differs, through the other replica")
	}
	if got := b.download(t, id, "pat-1", fileID); !bytes.Equal(got, legacy) {
		t.Error("the moved file differs")
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM upload_blobs").Scan(&n); err != nil || n != 1 {
		t.Errorf("%d files in the database, %v; want 1", n, err)
	}
	log.Reset()
	startServerLogged(t, with(env, "DATA_DIR", dir), &log)
	if strings.Contains(log.String(), "moved the uploaded files") {
		t.Errorf("a second start moved files again:\n%s", log.String())
	}
}

// Ensure a session token minted by one replica is accepted by another.
func TestReplicasShareSessions(t *testing.T) {
	env := replicaEnv(pgtest.URL(t))
	a := startServer(t, env)
	b := startServer(t, env)
	if err := a.Main.Demo(context.Background(), DemoOptions{}); err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, line := range strings.Split(a.Out.String(), "\n") {
		if _, code, ok := strings.Cut(line, "https://visite.clinica.test/join/"); ok {
			codes = append(codes, strings.TrimSpace(code))
		}
	}
	if len(codes) != 2 {
		t.Fatalf("demo printed %q, want two links on PUBLIC_URL", a.Out.String())
	}
	var sess struct{ Token, TeleconsultationID string }
	if st := a.do(t, "POST", api+"/sessions", "", map[string]string{"code": codes[1]}, &sess); st != 201 || sess.Token == "" {
		t.Fatalf("session through A: %d", st)
	}
	for name, s := range map[string]*testServer{"A": a, "B": b} {
		req, _ := http.NewRequest("GET", s.URL+api+"/teleconsultation/"+sess.TeleconsultationID+"/uploads", nil)
		req.Header.Set("Authorization", "Bearer "+sess.Token)
		if st := statusOf(t, req); st != 200 {
			t.Errorf("A's session token on %s: %d, want 200", name, st)
		}
	}
}

// Ensure a replica started with another ENCRYPTION_KEY or PUBLIC_URL than a
// running one on the same database is refused with an error that names the
// setting and not its value; that another API_KEYS is logged as an error
// naming it; and that a replica that stopped no longer counts.
func TestReplicasRefuseOtherSettings(t *testing.T) {
	env := replicaEnv(pgtest.URL(t))
	startServer(t, env)
	otherKey := base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
	var log bytes.Buffer
	err := openReplica(t, with(env, "ENCRYPTION_KEY", otherKey), &log)
	if err == nil || !strings.Contains(err.Error(), "ENCRYPTION_KEY differs from the one of the replica on") {
		t.Fatalf("another ENCRYPTION_KEY: %v", err)
	}
	for _, secret := range []string{otherKey, testKey} {
		if strings.Contains(err.Error(), secret) || strings.Contains(log.String(), secret) {
			t.Error("the key is in the error or the log")
		}
	}
	err = openReplica(t, with(env, "PUBLIC_URL", "https://other.clinica.test"), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "PUBLIC_URL differs") || strings.Contains(err.Error(), "clinica.test") {
		t.Fatalf("another PUBLIC_URL: %v", err)
	}
	// Without PUBLIC_URL each replica would take its own address.
	noURL := maps.Clone(env)
	delete(noURL, "PUBLIC_URL")
	if err := openReplica(t, noURL, io.Discard); err == nil || !strings.Contains(err.Error(), "PUBLIC_URL differs") {
		t.Fatalf("PUBLIC_URL unset: %v", err)
	}
	log.Reset()
	if err := openReplica(t, with(env, "API_KEYS", "another-key-0123456789"), &log); err != nil {
		t.Fatalf("another API_KEYS: %v", err)
	}
	if !strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "setting=API_KEYS") || strings.Contains(log.String(), "another-key") {
		t.Errorf("another API_KEYS: log\n%s", log.String())
	}
}

// Ensure a replica that stopped is forgotten at once: once every replica
// has stopped, they start again with a new PUBLIC_URL.
func TestReplicasChangeSettingAfterStop(t *testing.T) {
	env := replicaEnv(pgtest.URL(t))
	first, err := openReplicaMain(t, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	moved := with(env, "PUBLIC_URL", "https://nuove-visite.clinica.test")
	if _, err := openReplicaMain(t, moved, io.Discard); err == nil {
		t.Fatal("a new PUBLIC_URL while the old replica runs: started")
	}
	first.Close()
	if _, err := openReplicaMain(t, moved, io.Discard); err != nil {
		t.Fatalf("a new PUBLIC_URL once the old replica stopped: %v", err)
	}
}
