package sqlstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/files"
	"github.com/teleconsult/teleconsult/internal/files/filestest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// The contract of internal/files on the database, both dialects.
func TestFileBlobsContract(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			filestest.Run(t, filestest.Harness{
				New: func(t *testing.T) files.Blobs {
					return openDB(t, be.dsn(t), testKeys(t, 1)).FileBlobs(0)
				},
				Edit: editChunks,
			})
		})
	}
}

// editChunks rewrites the rows of file id, as someone with write access to
// the database would.
func editChunks(t *testing.T, b files.Blobs, id string, edit func([][]byte) [][]byte) {
	t.Helper()
	ctx := context.Background()
	db := b.(*FileBlobs).db
	rows, err := db.r.QueryContext(ctx, "SELECT data FROM upload_chunks WHERE upload_id = $1 ORDER BY seq", id)
	if err != nil {
		t.Fatal(err)
	}
	var units [][]byte
	for rows.Next() {
		var u []byte
		if err := rows.Scan(&u); err != nil {
			t.Fatal(err)
		}
		units = append(units, u)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	units = edit(units)
	if _, err := db.w.ExecContext(ctx, "DELETE FROM upload_chunks WHERE upload_id = $1", id); err != nil {
		t.Fatal(err)
	}
	for i, u := range units {
		if _, err := db.w.ExecContext(ctx, "INSERT INTO upload_chunks (upload_id, seq, data) VALUES ($1, $2, $3)", id, i, u); err != nil {
			t.Fatal(err)
		}
	}
}

// Ensure editing one chunk row in place (an UPDATE of its bytes) is told
// as damage, with the rows before it served.
func TestFileBlobsRowEdited(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, backends[1].dsn(t), testKeys(t, 1))
	s, err := files.New(db.FileBlobs(0), filestest.Key)
	if err != nil {
		t.Fatal(err)
	}
	content := filestest.Sample(3<<16 + 9)
	id := teleconsult.NewID()
	if _, err := s.Put(ctx, id, bytes.NewReader(content), 1<<30); err != nil {
		t.Fatal(err)
	}
	// Row 2 is the second chunk: flip its 100th byte.
	if _, err := db.w.ExecContext(ctx, "UPDATE upload_chunks SET data = overlay(data placing '\\xff'::bytea from 100 for 1) WHERE upload_id = $1 AND seq = 2", id); err != nil {
		t.Fatal(err)
	}
	got, err := filestest.ReadAll(s, id)
	if !files.ErrDamaged(err) || !bytes.Equal(got, content[:1<<16]) {
		t.Fatalf("read %d bytes, then %v; want the first chunk, then EDAMAGED", len(got), err)
	}
	if want := "the stored file is damaged or was altered: it cannot be served"; teleconsult.ErrorMessage(err) != want {
		t.Errorf("message %q", teleconsult.ErrorMessage(err))
	}
}

// Ensure a file deleted while it is read ends in an error, not early as if
// complete, and List leaves out files newer than the grace.
func TestFileBlobsDeletedWhileRead(t *testing.T) {
	ctx := context.Background()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			db := openDB(t, be.dsn(t), testKeys(t, 1))
			s, err := files.New(db.FileBlobs(0), filestest.Key)
			if err != nil {
				t.Fatal(err)
			}
			id := teleconsult.NewID()
			if _, err := s.Put(ctx, id, bytes.NewReader(filestest.Sample(3<<16)), 1<<30); err != nil {
				t.Fatal(err)
			}
			rc, err := s.Open(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
				t.Errorf("reading on after the delete: %v, want ENOTFOUND", err)
			}
			other := teleconsult.NewID()
			if _, err := s.Put(ctx, other, bytes.NewReader(filestest.Sample(10)), 1<<30); err != nil {
				t.Fatal(err)
			}
			if ids, err := db.FileBlobs(time.Hour).List(ctx); err != nil || len(ids) != 0 {
				t.Errorf("List with an hour's grace = %v, %v; want nothing", ids, err)
			}
		})
	}
}

// Ensure a 10 MiB file goes in and out of PostgreSQL without being held
// in memory: each way allocates far less than the file.
func TestFileBlobsStreamingMemory(t *testing.T) {
	const size = 10 << 20
	ctx := context.Background()
	db := openDB(t, backends[1].dsn(t), testKeys(t, 1))
	s, err := files.New(db.FileBlobs(0), filestest.Key)
	if err != nil {
		t.Fatal(err)
	}
	content := filestest.Sample(size)
	id := teleconsult.NewID()
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	put := allocated(func() {
		if n, err := s.Put(ctx, id, bytes.NewReader(content), size); err != nil || n != size {
			t.Fatalf("Put = %d, %v", n, err)
		}
	})
	want := sha256.Sum256(content)
	read := allocated(func() {
		rc, err := s.Open(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil || n != size || !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("read %d, %v", n, err)
		}
	})
	t.Logf("allocated %d KiB to store 10 MiB, %d KiB to read it", put>>10, read>>10)
	if !raceEnabled && (put > 2<<20 || read > 2<<20) {
		t.Errorf("allocated %d KiB to store and %d KiB to read a 10 MiB file: want under 2 MiB", put>>10, read>>10)
	}
}

// benchFile returns 10 MiB of random content and the store of a new
// PostgreSQL database.
func benchFile(b *testing.B) ([]byte, *DB, *files.Store) {
	b.Helper()
	content := make([]byte, 10<<20)
	_, _ = rand.Read(content)
	db := openDB(b, backends[1].dsn(b), testKeys(b, 1))
	s, err := files.New(db.FileBlobs(0), filestest.Key)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(content)))
	b.ReportAllocs()
	return content, db, s
}

// BenchmarkFileBlobsPut stores a 10 MiB upload in PostgreSQL: encrypted,
// a row per 64 KiB chunk.
func BenchmarkFileBlobsPut(b *testing.B) {
	ctx := context.Background()
	content, _, s := benchFile(b)
	for b.Loop() {
		id := teleconsult.NewID()
		if _, err := s.Put(ctx, id, bytes.NewReader(content), 1<<30); err != nil {
			b.Fatal(err)
		}
		if err := s.Delete(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFileBlobsOpen reads a stored 10 MiB upload from PostgreSQL
// whole: a query per chunk, decrypted.
func BenchmarkFileBlobsOpen(b *testing.B) {
	ctx := context.Background()
	content, _, s := benchFile(b)
	id := teleconsult.NewID()
	if _, err := s.Put(ctx, id, bytes.NewReader(content), 1<<30); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		rc, err := s.Open(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}

// BenchmarkFileBlobsPutPlain is the ceiling of BenchmarkFileBlobsPut: the
// same 10 MiB in plain, in one bytea row by one statement.
func BenchmarkFileBlobsPutPlain(b *testing.B) {
	ctx := context.Background()
	content, db, _ := benchFile(b)
	for b.Loop() {
		id := teleconsult.NewID()
		if _, err := db.w.ExecContext(ctx, "INSERT INTO upload_blobs (id, complete, created_at) VALUES ($1, TRUE, now())", id); err != nil {
			b.Fatal(err)
		}
		if _, err := db.w.ExecContext(ctx, "INSERT INTO upload_chunks (upload_id, seq, data) VALUES ($1, 0, $2)", id, content); err != nil {
			b.Fatal(err)
		}
		if _, err := db.w.ExecContext(ctx, "DELETE FROM upload_blobs WHERE id = $1", id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFileBlobsOpenPlain is the ceiling of BenchmarkFileBlobsOpen:
// the same 10 MiB in plain, read as one bytea row by one query.
func BenchmarkFileBlobsOpenPlain(b *testing.B) {
	ctx := context.Background()
	content, db, _ := benchFile(b)
	id := teleconsult.NewID()
	if _, err := db.w.ExecContext(ctx, "INSERT INTO upload_blobs (id, complete, created_at) VALUES ($1, TRUE, now())", id); err != nil {
		b.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, "INSERT INTO upload_chunks (upload_id, seq, data) VALUES ($1, 0, $2)", id, content); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var got []byte
		if err := db.r.QueryRowContext(ctx, "SELECT data FROM upload_chunks WHERE upload_id = $1", id).Scan(&got); err != nil || len(got) != len(content) {
			b.Fatal(len(got), err)
		}
	}
}

// Ensure storing a file leaves every pooled connection with synchronous
// commits: the chunks' asynchronous commit is their transactions' only.
func TestFileBlobsCommitsStaySynchronous(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, backends[1].dsn(t), testKeys(t, 1))
	s, err := files.New(db.FileBlobs(0), filestest.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, teleconsult.NewID(), bytes.NewReader(filestest.Sample(5<<16)), 1<<30); err != nil {
		t.Fatal(err)
	}
	// A failed COPY (a duplicate seq) rolls back and leaves it too.
	w := &blobWriter{ctx: ctx, db: db, id: teleconsult.NewID()}
	if err := db.FileBlobs(0).begin(ctx, w.id); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("header")); err != nil {
		t.Fatal(err)
	}
	w.seq = 0
	if _, err := w.Write([]byte("again")); err == nil {
		t.Fatal("a duplicate row: no error")
	}
	var conns []*sql.Conn
	for range pgMaxOpenConns {
		c, err := db.w.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var mode string
		if err := c.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&mode); err != nil || mode != "on" {
			t.Errorf("a pooled connection has synchronous_commit %q, %v", mode, err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
}
