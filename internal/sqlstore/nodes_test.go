package sqlstore

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// Ensure a process sees the fingerprints of the others that are alive, not
// its own, not those of a process that stopped, nor of its own earlier run
// on the same host.
func TestCheckInNode(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, backends[1].dsn(t), testKeys(t, 1))
	fpA := map[string][]byte{"PUBLIC_URL": {1}, "ENCRYPTION_KEY": {2}}
	if others, err := db.CheckInNode(ctx, "a", "host-a:8080", fpA, time.Minute); err != nil || len(others) != 0 {
		t.Fatalf("first check-in: %v, %v", others, err)
	}
	others, err := db.CheckInNode(ctx, "b", "host-b:8080", map[string][]byte{"PUBLIC_URL": {9}}, time.Minute)
	if err != nil || len(others) != 2 {
		t.Fatalf("second check-in: %v, %v", others, err)
	}
	for _, o := range others {
		if o.Node != "a" || o.Host != "host-a:8080" || !bytes.Equal(o.Fingerprint, fpA[o.Setting]) || o.Age < 0 || o.Age > time.Minute {
			t.Errorf("%+v", o)
		}
	}
	if err := db.TouchNode(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// b restarts as b2 on the same host: b's record goes.
	others, err = db.CheckInNode(ctx, "b2", "host-b:8080", map[string][]byte{"PUBLIC_URL": {9}}, time.Minute)
	if err != nil || len(others) != 2 || others[0].Node != "a" {
		t.Fatalf("restart: %v, %v", others, err)
	}
	// Not renewed for longer than live: not counted.
	time.Sleep(20 * time.Millisecond)
	if others, err := db.CheckInNode(ctx, "c", "host-c:8080", nil, 10*time.Millisecond); err != nil || len(others) != 0 {
		t.Errorf("with a 10 ms live window: %v, %v", others, err)
	}
	if err := db.RemoveNode(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	others, err = db.CheckInNode(ctx, "c", "host-c:8080", nil, time.Minute)
	if err != nil || len(others) != 1 || others[0].Node != "b2" {
		t.Errorf("after a left: %v, %v", others, err)
	}
	sq := openDB(t, backends[0].dsn(t), testKeys(t, 1))
	if _, err := sq.CheckInNode(ctx, "a", "h", fpA, time.Minute); err == nil {
		t.Error("SQLite: no error")
	}
}
