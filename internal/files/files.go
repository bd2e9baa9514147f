// Package files keeps uploaded files on disk, under one directory, each
// under its random id, encrypted (see stream.go for the format). A file is
// written to "<id>.part", synced, then renamed to "<id>" and the directory
// synced: once Put returns, the file is durable and complete, and a crash
// leaves at most a ".part" file or a file without a database record, both
// removed by the service's sweep at start.
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

// partSuffix marks a file being written.
const partSuffix = ".part"

// Dir is a [teleconsult.FileStore] in a directory.
type Dir struct {
	path string
	key  []byte
}

var _ teleconsult.FileStore = (*Dir)(nil)

// Open returns the store in dir, creating it with mode 0700 if needed.
// key is the 32-byte key the files' content is encrypted under
// ([teleconsult.Keyring.FileKey]).
func Open(dir string, key []byte) (*Dir, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("files: the key must be 32 bytes, got %d", len(key))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	return &Dir{path: dir, key: bytes.Clone(key)}, nil
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

// Put implements [teleconsult.FileStore.Put]: it encrypts r into the file
// a chunk at a time.
func (d *Dir) Put(ctx context.Context, id string, r io.Reader, max int64) (int64, error) {
	final, err := d.name(id)
	if err != nil || strings.HasSuffix(id, partSuffix) {
		return 0, teleconsult.Errorf(teleconsult.EINTERNAL, "files: bad id")
	}
	var n int64
	err = d.write(final, id, func(w io.Writer) error {
		var err error
		n, err = io.Copy(w, io.LimitReader(&ctxReader{ctx, r}, max+1))
		if err != nil {
			// The cause stays in the chain: the HTTP layer tells a body
			// over its own limit (413) from a dropped connection.
			return &teleconsult.Error{Code: teleconsult.EINVALID, Message: "the upload was interrupted", Err: err}
		}
		if n > max {
			return tooLarge(max)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := syncDir(d.path); err != nil {
		return 0, err
	}
	return n, nil
}

// write makes final, file id, from what fill writes, encrypted: into
// final's part file, synced, then renamed over final. On failure nothing is
// left but final as it was. The caller syncs the directory.
func (d *Dir) write(final, id string, fill func(io.Writer) error) error {
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
	s, err := d.newSealer(f, id)
	if err != nil {
		return fail(fmt.Errorf("files: %w", err))
	}
	if err := fill(s); err != nil {
		return fail(err)
	}
	if err := s.Close(); err != nil {
		return fail(fmt.Errorf("files: %w", err))
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

func tooLarge(max int64) error {
	return teleconsult.Errorf(teleconsult.ETOOLARGE, "the file is larger than the limit of %d bytes", max)
}

// Open implements [teleconsult.FileStore.Open]. The content is decrypted
// as it is read, and only what authenticates is returned: a file cut,
// extended or edited is an EDAMAGED error, from Open if its first chunk
// (64 KiB) is damaged, else from the Read that reaches the damage (after
// returning the intact chunks before it). [ErrDamaged] tells this error.
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
	o, err := d.newOpener(f, id)
	if err != nil {
		_ = f.Close() // read only: nothing to lose
		return nil, err
	}
	return o, nil
}

// Migrate encrypts in place the files stored in plain by versions before
// encryption: each complete file that does not begin with the header's
// magic is encrypted into its part file, synced and renamed over it, then
// the directory is synced. It is idempotent (an encrypted file is left as
// it is) and crash-safe (until the rename the plain file is intact, and a
// part file left by a crash is replaced, or removed by the sweep). Run it
// at start, before serving and after the sweep. It returns how many files
// it encrypted. The blocks the plain files occupied are freed, not wiped.
func (d *Dir) Migrate(ctx context.Context) (int, error) {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return 0, fmt.Errorf("files: %w", err)
	}
	n := 0
	for _, e := range entries {
		id := e.Name()
		if !e.Type().IsRegular() || !validID.MatchString(id) || strings.HasSuffix(id, partSuffix) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		done, err := d.migrate(id)
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

// migrate encrypts file id if it is plain, and reports whether it was.
func (d *Dir) migrate(id string) (bool, error) {
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
	err = d.write(final, id, func(w io.Writer) error {
		_, err := io.Copy(w, f)
		return err
	})
	if err != nil {
		return false, err
	}
	return true, nil
}

// Delete implements [teleconsult.FileStore.Delete].
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

// List implements [teleconsult.FileStore.List]: every file, complete
// ("<id>") or left half-written by a crash ("<id>.part").
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
