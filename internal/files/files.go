// Package files keeps uploaded files on disk, under one directory, each
// under its random id. A file is written to "<id>.part", synced, then
// renamed to "<id>" and the directory synced: once Put returns, the file
// is durable and complete, and a crash leaves at most a ".part" file or a
// file without a database record, both removed by the service's sweep at
// start.
package files

import (
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
}

var _ teleconsult.FileStore = (*Dir)(nil)

// Open returns the store in dir, creating it with mode 0700 if needed.
func Open(dir string) (*Dir, error) {
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

// Put implements [teleconsult.FileStore.Put].
func (d *Dir) Put(ctx context.Context, id string, r io.Reader, max int64) (int64, []byte, error) {
	final, err := d.name(id)
	if err != nil || strings.HasSuffix(id, partSuffix) {
		return 0, nil, teleconsult.Errorf(teleconsult.EINTERNAL, "files: bad id")
	}
	part := final + partSuffix
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, nil, fmt.Errorf("files: %w", err)
	}
	fail := func(err error) (int64, []byte, error) {
		f.Close()
		os.Remove(part)
		return 0, nil, err
	}
	hw := &headWriter{}
	n, err := io.Copy(io.MultiWriter(f, hw), io.LimitReader(&ctxReader{ctx, r}, max+1))
	if err != nil {
		// The cause stays in the chain: the HTTP layer tells a body over
		// its own limit (413) from a dropped connection.
		return fail(&teleconsult.Error{Code: teleconsult.EINVALID, Message: "the upload was interrupted", Err: err})
	}
	if n > max {
		return fail(tooLarge(max))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("files: sync: %w", err))
	}
	if err := f.Close(); err != nil {
		os.Remove(part)
		return 0, nil, fmt.Errorf("files: %w", err)
	}
	if err := os.Rename(part, final); err != nil {
		os.Remove(part)
		return 0, nil, fmt.Errorf("files: %w", err)
	}
	if err := syncDir(d.path); err != nil {
		return 0, nil, err
	}
	return n, hw.head, nil
}

func tooLarge(max int64) error {
	return teleconsult.Errorf(teleconsult.ETOOLARGE, "the file is larger than the limit of %d bytes", max)
}

// Open implements [teleconsult.FileStore.Open].
func (d *Dir) Open(_ context.Context, id string) (io.ReadCloser, error) {
	name, err := d.name(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "file not found")
	}
	return f, err
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
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("files: sync dir: %w", err)
	}
	return nil
}

// headWriter keeps the first 512 bytes written, for type detection.
type headWriter struct{ head []byte }

func (h *headWriter) Write(p []byte) (int, error) {
	if room := 512 - len(h.head); room > 0 {
		h.head = append(h.head, p[:min(room, len(p))]...)
	}
	return len(p), nil
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
