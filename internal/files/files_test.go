package files

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

var ctx = context.Background()

// testKey is the uploads key of the tests.
var testKey = bytes.Repeat([]byte{7}, 32)

// testStore is a store in a directory, with the directory at hand.
type testStore struct {
	*Store
	dir  *Dir
	path string
}

func open(tb testing.TB, dir string) *testStore {
	tb.Helper()
	d, err := OpenDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(d, testKey)
	if err != nil {
		tb.Fatal(err)
	}
	return &testStore{Store: s, dir: d, path: dir}
}

func TestPutOpenDelete(t *testing.T) {
	d := open(t, filepath.Join(t.TempDir(), "uploads"))
	id := teleconsult.NewID()
	body := bytes.Repeat([]byte("%PDF-1.7 hello "), 100)
	n, err := d.Put(ctx, id, bytes.NewReader(body), 10000)
	if err != nil || n != int64(len(body)) {
		t.Fatalf("Put = %d, %v", n, err)
	}
	rc, err := d.Open(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, body) {
		t.Error("content differs")
	}
	if fi, _ := os.Stat(filepath.Join(d.path, id)); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if ids, _ := d.List(ctx); !slices.Equal(ids, []string{id}) {
		t.Errorf("List = %v", ids)
	}
	if err := d.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, id); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
	if _, err := d.Open(ctx, id); teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
		t.Errorf("Open after delete: %v", err)
	}
}

// Ensure a file over the limit, or one whose reader fails half-way, leaves
// nothing behind.
func TestPutLeavesNothingOnFailure(t *testing.T) {
	d := open(t, t.TempDir())
	_, err := d.Put(ctx, teleconsult.NewID(), strings.NewReader(strings.Repeat("x", 101)), 100)
	if teleconsult.ErrorCode(err) != teleconsult.ETOOLARGE {
		t.Errorf("over the limit: %v", err)
	}
	boom := errors.New("connection reset")
	_, err = d.Put(ctx, teleconsult.NewID(), io.MultiReader(strings.NewReader("abc"), iotestErr{boom}), 100)
	if !errors.Is(err, boom) || teleconsult.ErrorCode(err) != teleconsult.EINVALID {
		t.Errorf("failing reader: %v", err)
	}
	if entries, _ := os.ReadDir(d.path); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
	// Exactly the limit is fine.
	if n, err := d.Put(ctx, teleconsult.NewID(), strings.NewReader(strings.Repeat("x", 100)), 100); err != nil || n != 100 {
		t.Errorf("at the limit: %d %v", n, err)
	}
}

// Ensure no id can name a path outside the directory.
func TestPathTricks(t *testing.T) {
	d := open(t, t.TempDir())
	for _, id := range []string{"../etc/passwd", "/etc/passwd", "..", "", "ABCDEF0123456789ABCDEF0123456789", strings.Repeat("a", 31)} {
		if _, err := d.Open(ctx, id); teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
			t.Errorf("Open(%q): %v", id, err)
		}
		if _, err := d.Put(ctx, id, strings.NewReader("x"), 10); err == nil {
			t.Errorf("Put(%q) accepted", id)
		}
	}
}

// Ensure List reports what a crash mid-upload leaves (a .part file), so
// that the sweep removes it.
func TestListPartFiles(t *testing.T) {
	d := open(t, t.TempDir())
	part := teleconsult.NewID() + partSuffix
	if err := os.WriteFile(filepath.Join(d.path, part), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.path, "README"), []byte("not ours"), 0o600); err != nil {
		t.Fatal(err)
	}
	ids, _ := d.List(ctx)
	if !slices.Equal(ids, []string{part}) {
		t.Fatalf("List = %v", ids)
	}
	if err := d.Delete(ctx, part); err != nil {
		t.Fatal(err)
	}
	if ids, _ := d.List(ctx); len(ids) != 0 {
		t.Errorf("after delete: %v", ids)
	}
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }
