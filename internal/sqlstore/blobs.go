package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Uploaded files' content in the database (tables upload_blobs and
// upload_chunks, migration 00012): on PostgreSQL, where every replica reads
// it. The bytes are already encrypted (internal/files); this store keeps
// them in order, a row per Write, and never holds a file whole in memory
// nor a database connection while the client is slow: each chunk is one
// statement of its own, written or read as the transfer goes.

// maxChunkRow bounds a row of upload_chunks: a longer Write is split.
const maxChunkRow = 1 << 20

// discardTimeout bounds the removal of an unfinished file after a failed
// Create (its request may be gone).
const discardTimeout = 10 * time.Second

// DefaultBlobGrace is how old a stored file must be before [FileBlobs.List]
// reports it when replicas share the database: an upload in progress on
// another replica, or one whose record is about to be committed, is not a
// leftover for the sweep of a replica that starts meanwhile.
const DefaultBlobGrace = 24 * time.Hour

// FileBlobs keeps uploaded files' encrypted bytes in the database. It has
// the methods of the Blobs interface of internal/files, which it implements
// for the service's files.Store.
type FileBlobs struct {
	db    *DB
	grace time.Duration
}

// FileBlobs returns the database's store of file content. List leaves out
// the files created less than grace ago (see [DefaultBlobGrace]; 0 lists
// every file, for a single process).
func (db *DB) FileBlobs(grace time.Duration) *FileBlobs {
	return &FileBlobs{db: db, grace: grace}
}

// Create stores what fill writes as file id's bytes, a row per Write (a
// Write over 1 MiB is split), each row committed as it comes; the file is
// marked complete, and only then opens, once fill returns nil. When fill or
// the database fails, the rows written are deleted (best effort: the sweep
// removes what is left). An unfinished file under id is replaced; a
// complete one is an error.
func (b *FileBlobs) Create(ctx context.Context, id string, fill func(io.Writer) error) error {
	if err := b.begin(ctx, id); err != nil {
		return err
	}
	w := &blobWriter{ctx: ctx, db: b.db, id: id}
	if err := fill(w); err != nil {
		b.discard(ctx, id)
		return err
	}
	return b.complete(ctx, id)
}

// begin makes the row of a new file id, replacing an unfinished one.
func (b *FileBlobs) begin(ctx context.Context, id string) error {
	defer b.db.observe(opCreateBlob, time.Now())
	if _, err := b.db.w.ExecContext(ctx, "DELETE FROM upload_blobs WHERE id = $1 AND NOT complete", id); err != nil {
		return dbErr("create file", err)
	}
	_, err := b.db.w.ExecContext(ctx, "INSERT INTO upload_blobs (id, complete, created_at) VALUES ($1, FALSE, $2)",
		id, b.db.timeArg(time.Now(), false))
	if isUniqueViolation(err) {
		return teleconsult.Errorf(teleconsult.ECONFLICT, "file %s is stored already", id)
	}
	return dbErr0("create file", err)
}

// complete marks file id complete.
func (b *FileBlobs) complete(ctx context.Context, id string) error {
	defer b.db.observe(opCreateBlob, time.Now())
	res, err := b.db.w.ExecContext(ctx, "UPDATE upload_blobs SET complete = TRUE WHERE id = $1 AND NOT complete", id)
	if err != nil {
		b.discard(ctx, id)
		return dbErr("complete file", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return teleconsult.Errorf(teleconsult.ECONFLICT, "file %s was deleted while it was being stored", id)
	}
	return nil
}

// discard deletes what a failed Create left, even when ctx is done.
func (b *FileBlobs) discard(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discardTimeout)
	defer cancel()
	_ = b.Delete(ctx, id) // best effort: the sweep at start removes leftovers
}

// blobWriter writes each Write as rows of upload_chunks.
type blobWriter struct {
	ctx  context.Context
	db   *DB
	id   string
	seq  int
	copy copyRow
}

func (w *blobWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		row := p[:min(len(p), maxChunkRow)]
		start := time.Now()
		err := w.insert(row)
		w.db.observe(opWriteChunk, start)
		if err != nil {
			return n, dbErr("write file", err)
		}
		w.seq++
		n += len(row)
		p = p[len(row):]
	}
	return n, nil
}

const insertChunk = "INSERT INTO upload_chunks (upload_id, seq, data) VALUES ($1, $2, $3)"

// copyChunk is insertChunk on PostgreSQL: a one-row COPY in binary format,
// which pgx streams from the caller's bytes through a pooled buffer. An
// INSERT's parameters would be copied twice into fresh buffers per row
// (pgx keeps only small ones), 2 MiB allocated for every MiB stored.
const copyChunk = "COPY upload_chunks (upload_id, seq, data) FROM STDIN (FORMAT binary)"

// insert writes one row. On PostgreSQL the row's commit does not wait for
// the WAL to reach the disk (synchronous_commit off, for its transaction
// only): the commit that marks the file complete waits, and it flushes the
// WAL up to its own record, so every chunk's with it
// (https://www.postgresql.org/docs/current/wal-async-commit.html). A crash
// before it may lose chunks of a file that is not complete: the sweep
// removes it. Without this each 64 KiB chunk waits for an fsync.
func (w *blobWriter) insert(row []byte) error {
	if w.db.dialect != DialectPostgres {
		_, err := w.db.w.ExecContext(w.ctx, insertChunk, w.id, w.seq, row)
		return err
	}
	conn, err := w.db.w.Conn(w.ctx)
	if err != nil {
		return err
	}
	// Returns it to the pool, which drops it if a failure below left its
	// transaction open.
	defer func() { _ = conn.Close() }()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn().PgConn()
		if _, err := pc.Exec(w.ctx, "BEGIN; SET LOCAL synchronous_commit TO off").ReadAll(); err != nil {
			return err
		}
		w.copy.reset(w.id, w.seq, row)
		tag, err := pc.CopyFrom(w.ctx, &w.copy, copyChunk)
		if err == nil && tag.RowsAffected() != 1 {
			err = fmt.Errorf("COPY wrote %d rows, want 1", tag.RowsAffected())
		}
		if err != nil {
			_, _ = pc.Exec(w.ctx, "ROLLBACK").ReadAll() // the COPY's error is the one to report
			return err
		}
		_, err = pc.Exec(w.ctx, "COMMIT").ReadAll()
		return err
	})
}

// copyRow reads one row of upload_chunks in PostgreSQL's binary COPY
// format (https://www.postgresql.org/docs/current/sql-copy.html, "Binary
// Format"): the signature, flags and header extension length, one tuple
// (the field count, then each field's length and bytes: upload_id as text,
// seq as a 4-byte integer, data as bytea), and the trailer.
type copyRow struct {
	head  []byte // everything before data
	data  []byte
	tail  [2]byte
	parts [3][]byte
	i     int
}

const copySignature = "PGCOPY\n\xff\r\n\x00"

func (c *copyRow) reset(id string, seq int, data []byte) {
	h := append(c.head[:0], copySignature...)
	h = binary.BigEndian.AppendUint32(h, 0)               // flags
	h = binary.BigEndian.AppendUint32(h, 0)               // header extension length
	h = binary.BigEndian.AppendUint16(h, 3)               // fields
	h = binary.BigEndian.AppendUint32(h, uint32(len(id))) //nolint:gosec // G115: an id is 32 characters
	h = append(h, id...)
	h = binary.BigEndian.AppendUint32(h, 4)
	h = binary.BigEndian.AppendUint32(h, uint32(seq))       //nolint:gosec // G115: seq < 2^31 (a file is at most a few GiB)
	h = binary.BigEndian.AppendUint32(h, uint32(len(data))) //nolint:gosec // G115: len(data) <= maxChunkRow
	c.head, c.data = h, data
	binary.BigEndian.PutUint16(c.tail[:], 0xffff) // -1: no more tuples
	c.parts = [3][]byte{c.head, c.data, c.tail[:]}
	c.i = 0
}

func (c *copyRow) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && c.i < len(c.parts) {
		k := copy(p[n:], c.parts[c.i])
		c.parts[c.i] = c.parts[c.i][k:]
		n += k
		if len(c.parts[c.i]) == 0 {
			c.i++
		}
	}
	if n == 0 && c.i == len(c.parts) {
		return 0, io.EOF
	}
	return n, nil
}

// errFileGone is the error of a file deleted while it was being read.
var errFileGone = teleconsult.Errorf(teleconsult.ENOTFOUND, "the file was deleted while it was being read")

// Open returns complete file id's bytes, read a row at a time, each row by
// a query of its own; ENOTFOUND when there is no complete file id. A file
// deleted while it is read ends in an ENOTFOUND error rather than early.
func (b *FileBlobs) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	defer b.db.observe(opOpenBlob, time.Now())
	var complete bool
	err := b.db.r.QueryRowContext(ctx, "SELECT complete FROM upload_blobs WHERE id = $1", id).Scan(&complete)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !complete) {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "file not found")
	}
	if err != nil {
		return nil, dbErr("open file", err)
	}
	return &blobReader{ctx: ctx, b: b, id: id, seq: -1}, nil
}

// blobReader reads a file's rows in order of seq. It asks for the row after
// the last one read rather than for the next number, so that a row missing
// from the middle shows as damage to the decryption, as a cut file does.
type blobReader struct {
	ctx  context.Context
	b    *FileBlobs
	id   string
	seq  int64
	buf  []byte // the current row; its capacity is reused
	off  int    // what of buf is read
	done bool
}

func (r *blobReader) Read(p []byte) (int, error) {
	for r.off == len(r.buf) {
		if r.done {
			return 0, io.EOF
		}
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

const nextChunkQuery = "SELECT seq, data FROM upload_chunks WHERE upload_id = $1 AND seq > $2 ORDER BY seq LIMIT 1"

// next loads the row after r.seq into r.buf, or sets r.done.
func (r *blobReader) next() error {
	defer r.b.db.observe(opReadChunk, time.Now())
	r.buf, r.off = r.buf[:0], 0
	var (
		found bool
		err   error
	)
	if r.b.db.dialect == DialectPostgres {
		found, err = r.nextPostgres()
	} else {
		found, err = r.nextSQL()
	}
	if err != nil {
		return dbErr("read file", err)
	}
	if found {
		return nil
	}
	// No more rows: the end, unless the file is gone.
	var one int
	err = r.b.db.r.QueryRowContext(r.ctx, "SELECT 1 FROM upload_blobs WHERE id = $1", r.id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errFileGone
	case err != nil:
		return dbErr("read file", err)
	}
	r.done = true
	return nil
}

// nextSQL reads the next row through database/sql.
func (r *blobReader) nextSQL() (bool, error) {
	rows, err := r.b.db.r.QueryContext(r.ctx, nextChunkQuery, r.id, r.seq)
	if err != nil {
		return false, err
	}
	defer func() { _ = rows.Close() }() // read only; rows.Err below reports
	if !rows.Next() {
		return false, rows.Err()
	}
	var data sql.RawBytes
	if err := rows.Scan(&r.seq, &data); err != nil {
		return false, err
	}
	r.buf = append(r.buf, data...)
	return true, rows.Err()
}

// nextPostgres reads the next row with pgx itself, straight into r.buf:
// database/sql would allocate every row anew.
func (r *blobReader) nextPostgres() (bool, error) {
	conn, err := r.b.db.r.Conn(r.ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = conn.Close() }() // returns it to the pool
	found := false
	err = conn.Raw(func(dc any) error {
		rows, err := dc.(*stdlib.Conn).Conn().Query(r.ctx, nextChunkQuery, r.id, r.seq)
		if err != nil {
			return err
		}
		defer rows.Close()
		if rows.Next() {
			data := pgtype.PreallocBytes(r.buf[:cap(r.buf)])
			if err := rows.Scan(&r.seq, &data); err != nil {
				return err
			}
			r.buf, found = data, true
		}
		return rows.Err()
	})
	return found, err
}

// Close implements [io.Closer]; there is nothing to release.
func (r *blobReader) Close() error { return nil }

// Delete removes file id, complete or not; a missing file is not an error.
func (b *FileBlobs) Delete(ctx context.Context, id string) error {
	defer b.db.observe(opDeleteBlob, time.Now())
	if _, err := b.db.w.ExecContext(ctx, "DELETE FROM upload_blobs WHERE id = $1", id); err != nil {
		return dbErr("delete file", err)
	}
	return nil
}

// List returns the ids of the files, complete or not, created at least the
// grace given to [DB.FileBlobs] ago.
func (b *FileBlobs) List(ctx context.Context) ([]string, error) {
	defer b.db.observe(opListBlobs, time.Now())
	rows, err := b.db.r.QueryContext(ctx, "SELECT id FROM upload_blobs WHERE created_at <= $1 ORDER BY id",
		b.db.timeArg(time.Now().Add(-b.grace), false))
	if err != nil {
		return nil, dbErr("list files", err)
	}
	defer func() { _ = rows.Close() }() // read only; rows.Err below reports
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, dbErr("list files", err)
		}
		ids = append(ids, id)
	}
	return ids, dbErr0("list files", rows.Err())
}
