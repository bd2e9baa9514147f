package files_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/teleconsult/teleconsult/internal/files"
	"github.com/teleconsult/teleconsult/internal/files/filestest"
)

// The contract on a directory.
func TestDirContract(t *testing.T) {
	filestest.Run(t, filestest.Harness{
		New: func(t *testing.T) files.Blobs {
			d, err := files.OpenDir(filepath.Join(t.TempDir(), "uploads"))
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		Edit: func(t *testing.T, b files.Blobs, id string, edit func([][]byte) [][]byte) {
			name := filepath.Join(files.DirPath(b.(*files.Dir)), id)
			raw, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, bytes.Join(edit(files.SplitUnits(raw)), nil), 0o600); err != nil {
				t.Fatal(err)
			}
		},
	})
}
