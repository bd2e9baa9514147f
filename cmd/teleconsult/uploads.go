package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/teleconsult/teleconsult/internal/files"
	"github.com/teleconsult/teleconsult/internal/sqlstore"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// uploadsDir is where uploads' content is kept with SQLite, under DATA_DIR.
const uploadsDir = "uploads"

// openUploads returns where uploads' content is kept. With SQLite it is
// DATA_DIR/uploads, returned as disk too, for the caller to encrypt the
// plain files of an earlier version once the sweep has run. With
// PostgreSQL it is the database, which every replica reads; the files an
// earlier version kept in this node's DATA_DIR/uploads are moved into it
// first (see [moveDiskUploads]), and disk is nil.
func (m *Main) openUploads(ctx context.Context, keys *teleconsult.Keyring) (uploads *files.Store, disk *files.Dir, err error) {
	dir := filepath.Join(m.Config.DataDir, uploadsDir)
	if m.DB.Dialect() != sqlstore.DialectPostgres {
		if disk, err = files.OpenDir(dir); err != nil {
			return nil, nil, fmt.Errorf("DATA_DIR: %w", err)
		}
		uploads, err = files.New(disk, keys.FileKey())
		return uploads, disk, err
	}
	blobs := m.DB.FileBlobs(sqlstore.DefaultBlobGrace)
	if err := m.moveDiskUploads(ctx, dir, blobs, keys); err != nil {
		return nil, nil, err
	}
	uploads, err = files.New(blobs, keys.FileKey())
	return uploads, nil, err
}

// moveDiskUploads moves the uploads that an earlier version kept under dir
// into the database: the plain ones are encrypted first, then every file
// with an uploads record is copied as it is (already encrypted, under the
// same key) and deleted from the disk, and the others (left by a crash)
// are deleted. It is idempotent and crash-safe ([files.Dir.Migrate],
// [files.Dir.MoveTo]); the directory is left, empty. Without the
// directory there is nothing to do.
func (m *Main) moveDiskUploads(ctx context.Context, dir string, dst files.Blobs, keys *teleconsult.Keyring) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	disk, err := files.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("DATA_DIR: %w", err)
	}
	if n, err := disk.Migrate(ctx, keys.FileKey()); err != nil {
		return fmt.Errorf("uploads: encrypting the files stored in plain: %w", err)
	} else if n > 0 {
		m.Logger.Info("encrypted the uploaded files stored in plain", "files", n)
	}
	known, err := m.DB.UploadIDs(ctx)
	if err != nil {
		return fmt.Errorf("uploads: %w", err)
	}
	moved, removed, err := disk.MoveTo(ctx, dst, func(id string) bool { return known[id] })
	if err != nil {
		return fmt.Errorf("uploads: moving the files under %s into the database: %w", dir, err)
	}
	if moved+removed > 0 {
		m.Logger.Info("moved the uploaded files kept on this node's disk into the database, where every replica reads them",
			"dir", dir, "moved", moved, "removed_without_record", removed)
	}
	return nil
}
