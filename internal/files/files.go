// Package files keeps uploaded files encrypted (see stream.go for the
// format). A [Store] encrypts and decrypts; it keeps the encrypted bytes in
// a [Blobs]: a directory ([Dir], one node's disk: the default, with SQLite)
// or a database table that every replica reads (the SQL store's, with
// PostgreSQL). Either way a file is complete and durable once it is stored,
// or absent: a crash leaves at most an unfinished file or a file without a
// database record, both removed by the service's sweep at start.
//
// In a directory each file is under its random id: written to "<id>.part",
// synced, then renamed to "<id>" and the directory synced.
package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Blobs keeps the encrypted bytes of stored files, by id. Its methods use
// standard types only, so that an adapter implements it without importing
// this package. Implementations are safe for concurrent use.
type Blobs interface {
	// Create stores what fill writes as the bytes of file id. Each Write
	// of fill is the file's header or one sealed chunk, which a store may
	// keep as a unit; the file is their concatenation in order. Once
	// Create returns nil the file is durable and complete; when fill or
	// the store fails, Create returns the first error and the file is
	// absent (for Open), though a leftover may remain for List and Delete.
	// Ids are never reused: a store may refuse an id that is stored.
	Create(ctx context.Context, id string, fill func(w io.Writer) error) error
	// Open returns the bytes of complete file id, to be read in order;
	// ENOTFOUND when there is none.
	Open(ctx context.Context, id string) (io.ReadCloser, error)
	// Delete removes file id, complete or left unfinished; a missing file
	// is not an error.
	Delete(ctx context.Context, id string) error
	// List returns the ids of the stored files, complete or left
	// unfinished. A store shared by several processes may leave out the
	// files created recently, which another process may still be writing
	// or about to record.
	List(ctx context.Context) ([]string, error)
}

// Store is a [teleconsult.FileStore]: files encrypted with the per-file key
// scheme of stream.go, kept in a [Blobs].
type Store struct {
	blobs Blobs
	key   []byte
}

var _ teleconsult.FileStore = (*Store)(nil)

// New returns the store of files in b. key is the 32-byte key the files'
// content is encrypted under ([teleconsult.Keyring.FileKey]).
func New(b Blobs, key []byte) (*Store, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("files: the key must be 32 bytes, got %d", len(key))
	}
	if b == nil {
		return nil, errors.New("files: no blob store")
	}
	return &Store{blobs: b, key: bytes.Clone(key)}, nil
}

// Open returns the store of files in directory dir (see [OpenDir]).
func Open(dir string, key []byte) (*Store, error) {
	d, err := OpenDir(dir)
	if err != nil {
		return nil, err
	}
	return New(d, key)
}

// fileID accepts the ids the service makes: 128-bit hex.
var fileID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Put implements [teleconsult.FileStore.Put]: it encrypts r into the blob
// store a chunk at a time.
func (s *Store) Put(ctx context.Context, id string, r io.Reader, max int64) (int64, error) {
	if !fileID.MatchString(id) {
		return 0, teleconsult.Errorf(teleconsult.EINTERNAL, "files: bad id")
	}
	var n int64
	err := s.blobs.Create(ctx, id, func(w io.Writer) error {
		sl, err := newSealer(w, s.key, id)
		if err != nil {
			return fmt.Errorf("files: %w", err)
		}
		n, err = io.Copy(sl, io.LimitReader(&ctxReader{ctx, r}, max+1))
		if err != nil {
			// The cause stays in the chain: the HTTP layer tells a body
			// over its own limit (413) from a dropped connection.
			return &teleconsult.Error{Code: teleconsult.EINVALID, Message: "the upload was interrupted", Err: err}
		}
		if n > max {
			return tooLarge(max)
		}
		if err := sl.Close(); err != nil {
			return fmt.Errorf("files: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func tooLarge(max int64) error {
	return teleconsult.Errorf(teleconsult.ETOOLARGE, "the file is larger than the limit of %d bytes", max)
}

// Open implements [teleconsult.FileStore.Open]. The content is decrypted
// as it is read, and only what authenticates is returned: a file cut,
// extended or edited is an EDAMAGED error, from Open if its first chunk
// (64 KiB) is damaged, else from the Read that reaches the damage (after
// returning the intact chunks before it). [ErrDamaged] tells this error.
func (s *Store) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	if !fileID.MatchString(id) {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "file not found")
	}
	rc, err := s.blobs.Open(ctx, id)
	if err != nil {
		return nil, err
	}
	o, err := newOpener(rc, s.key, id)
	if err != nil {
		_ = rc.Close() // read only: nothing to lose
		return nil, err
	}
	return o, nil
}

// Delete implements [teleconsult.FileStore.Delete].
func (s *Store) Delete(ctx context.Context, id string) error { return s.blobs.Delete(ctx, id) }

// List implements [teleconsult.FileStore.List].
func (s *Store) List(ctx context.Context) ([]string, error) { return s.blobs.List(ctx) }

// partSuffix marks a file being written in a [Dir].
const partSuffix = ".part"

// Dir is the [Blobs] of one directory on this node's disk.
type Dir struct {
	path string
}

var _ Blobs = (*Dir)(nil)

// OpenDir returns the blobs in dir, creating it with mode 0700 if needed.
func OpenDir(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	return &Dir{path: dir}, nil
}

// validID accepts the ids the service makes (128-bit hex), with or without
// the part suffix: nothing else can name a path.
var validID = regexp.MustCompile(`^[0-9a-f]{32}(\.part)?$`)

func (d *Dir) name(id string) (string, error) {
	if !validID.MatchString(id) {
		return "", teleconsult.Errorf(teleconsult.ENOTFOUND, "file not found")
	}
	return filepath.Join(d.path, id), nil
}

// Create implements [Blobs.Create]: fill writes into "<id>.part", which is
// synced and renamed to "<id>", and the directory synced.
func (d *Dir) Create(_ context.Context, id string, fill func(io.Writer) error) error {
	final, err := d.name(id)
	if err != nil || strings.HasSuffix(id, partSuffix) {
		return teleconsult.Errorf(teleconsult.EINTERNAL, "files: bad id")
	}
	if err := d.write(final, fill); err != nil {
		return err
	}
	return syncDir(d.path)
}

// write makes final from what fill writes: into final's part file, synced,
// then renamed over final. On failure nothing is left but final as it was.
// The caller syncs the directory.
func (d *Dir) write(final string, fill func(io.Writer) error) error {
	part := final + partSuffix
	// final is d.name(id) (a validated id under the directory) or a file
	// found in it by migrate.
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // G304: see above
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	// On failure the first error is the one to report: closing and
	// removing the part file are best effort (a leftover part file is
	// never served and is replaced by the next write).
	fail := func(err error) error {
		_ = f.Close()
		_ = os.Remove(part)
		return err
	}
	if err := fill(f); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("files: sync: %w", err))
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(part)
		return fmt.Errorf("files: %w", err)
	}
	if err := os.Rename(part, final); err != nil {
		_ = os.Remove(part)
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// Open implements [Blobs.Open].
func (d *Dir) Open(_ context.Context, id string) (io.ReadCloser, error) {
	name, err := d.name(id)
	if err != nil || strings.HasSuffix(id, partSuffix) {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "file not found")
	}
	f, err := os.Open(name) //nolint:gosec // G304: name is a validated id under the directory
	if errors.Is(err, os.ErrNotExist) {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "file not found")
	} else if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	return f, nil
}

// Migrate encrypts in place, under the uploads key, the files stored in
// plain by versions before encryption: each complete file that does not
// begin with the header's magic is encrypted into its part file, synced and
// renamed over it, then the directory is synced. It is idempotent (an
// encrypted file is left as it is) and crash-safe (until the rename the
// plain file is intact, and a part file left by a crash is replaced, or
// removed by the sweep). Run it at start, before serving and after the
// sweep. It returns how many files it encrypted. The blocks the plain files
// occupied are freed, not wiped.
func (d *Dir) Migrate(ctx context.Context, key []byte) (int, error) {
	if len(key) != 32 {
		return 0, fmt.Errorf("files: the key must be 32 bytes, got %d", len(key))
	}
	ids, err := d.complete(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		done, err := d.migrate(id, key)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	if n > 0 {
		if err := syncDir(d.path); err != nil {
			return n, err
		}
	}
	return n, nil
}

// complete returns the ids of the complete files.
func (d *Dir) complete(ctx context.Context) ([]string, error) {
	ids, err := d.List(ctx)
	if err != nil {
		return nil, err
	}
	out := ids[:0]
	for _, id := range ids {
		if !strings.HasSuffix(id, partSuffix) {
			out = append(out, id)
		}
	}
	return out, nil
}

// migrate encrypts file id if it is plain, and reports whether it was.
func (d *Dir) migrate(id string, key []byte) (bool, error) {
	final := filepath.Join(d.path, id)
	f, err := os.Open(final) //nolint:gosec // G304: id is a file listed in the directory
	if err != nil {
		return false, fmt.Errorf("files: %w", err)
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose
	head := make([]byte, len(magic))
	k, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("files: %w", err)
	}
	if k == len(magic) && string(head) == magic {
		return false, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, fmt.Errorf("files: %w", err)
	}
	if err := os.Remove(final + partSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("files: %w", err)
	}
	err = d.write(final, func(w io.Writer) error {
		s, err := newSealer(w, key, id)
		if err != nil {
			return err
		}
		if _, err := io.Copy(s, f); err != nil {
			return err
		}
		return s.Close()
	})
	if err != nil {
		return false, err
	}
	return true, nil
}

// MoveTo moves the complete files of the directory that keep accepts into
// dst, as they are (encrypted: run [Dir.Migrate] first), and deletes the
// others; part files are deleted. It is what a node that used to keep its
// uploads on its disk runs at start to put them where every replica reads
// them. It is idempotent and crash-safe: a file is deleted here only once
// dst has it complete (a file dst has already is not copied again), and a
// copy interrupted by a crash is made again from the start (dst replaces
// what an interrupted Create left). It returns how many files it moved and
// how many it deleted without moving.
func (d *Dir) MoveTo(ctx context.Context, dst Blobs, keep func(id string) bool) (moved, removed int, err error) {
	ids, err := d.List(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return moved, removed, err
		}
		if strings.HasSuffix(id, partSuffix) || !keep(id) {
			if err := d.Delete(ctx, id); err != nil {
				return moved, removed, err
			}
			removed++
			continue
		}
		if err := d.copyTo(ctx, dst, id); err != nil {
			return moved, removed, err
		}
		if err := d.Delete(ctx, id); err != nil {
			return moved, removed, err
		}
		moved++
	}
	if moved+removed > 0 {
		if err := syncDir(d.path); err != nil {
			return moved, removed, err
		}
	}
	return moved, removed, nil
}

// copyTo copies file id into dst unless dst has it.
func (d *Dir) copyTo(ctx context.Context, dst Blobs, id string) error {
	if rc, err := dst.Open(ctx, id); err == nil {
		_ = rc.Close() // read only: nothing to lose
		return nil
	} else if teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
		return err
	}
	src, err := d.Open(ctx, id)
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }() // read only: nothing to lose
	return dst.Create(ctx, id, func(w io.Writer) error {
		// One Write per unit of the format: the header, then each chunk.
		// A damaged file is copied as it is: it stays refused on download.
		buf := make([]byte, chunkSize+tagSize)
		for unit := headerSize; ; unit = len(buf) {
			n, err := io.ReadFull(src, buf[:unit])
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return werr
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("files: moving %s: %w", id, err)
			}
		}
	})
}

// Delete implements [Blobs.Delete].
func (d *Dir) Delete(_ context.Context, id string) error {
	name, err := d.name(id)
	if err != nil {
		return nil // nothing of ours has that name
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// List implements [Blobs.List]: every file, complete ("<id>") or left
// half-written by a crash ("<id>.part").
func (d *Dir) List(context.Context) ([]string, error) {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if e.Type().IsRegular() && validID.MatchString(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir) //nolint:gosec // G304: the configured storage directory
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	defer func() { _ = f.Close() }() // the Sync below is what counts
	if err := f.Sync(); err != nil {
		return fmt.Errorf("files: sync dir: %w", err)
	}
	return nil
}

// ctxReader stops reading when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
