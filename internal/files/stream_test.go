package files

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// sample returns n bytes of recognisable content: a patient's report line
// repeated, each line numbered so that no two chunks are alike.
func sample(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "REFERTO Mario Rossi riga %06d: pressione 120/80, nessuna anomalia.\n", i)
	}
	return b.Bytes()[:n]
}

// scanAtRest fails the test if any file under dir holds a 24-byte piece of
// content (every piece, at a stride of 24), or the marker text.
func scanAtRest(t *testing.T, dir string, content []byte) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("REFERTO")) || bytes.Contains(b, []byte("Mario Rossi")) {
			t.Errorf("%s holds the known content in plain", p)
			return nil
		}
		for i := 0; i+24 <= len(content); i += 24 {
			if bytes.Contains(b, content[i:i+24]) {
				t.Errorf("%s holds bytes %d-%d of the content", p, i, i+24)
				return nil
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Ensure the content is encrypted at rest and reads back whole, for sizes
// around the chunk boundaries, and that the reported size is the
// plaintext's.
func TestEncryptedAtRest(t *testing.T) {
	for _, size := range []int{1, 100, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 17, 4 * chunkSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			d := open(t, t.TempDir())
			content := sample(size)
			id := teleconsult.NewID()
			n, err := d.Put(ctx, id, bytes.NewReader(content), 1<<30)
			if err != nil || n != int64(size) {
				t.Fatalf("Put = %d, %v", n, err)
			}
			scanAtRest(t, d.path, content)
			raw, _ := os.ReadFile(filepath.Join(d.path, id))
			chunks := size/chunkSize + 1
			if size%chunkSize == 0 {
				chunks = size / chunkSize
			}
			if want := headerSize + size + chunks*tagSize; len(raw) != want || !bytes.HasPrefix(raw, []byte(magic)) {
				t.Errorf("on disk %d bytes, want %d with the magic", len(raw), want)
			}
			if got := readAll(t, d, id); !bytes.Equal(got, content) {
				t.Error("content differs")
			}
		})
	}
	// The same content stored twice is encrypted differently.
	d := open(t, t.TempDir())
	a, b := teleconsult.NewID(), teleconsult.NewID()
	if _, err := d.Put(ctx, a, bytes.NewReader(sample(1000)), 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Put(ctx, b, bytes.NewReader(sample(1000)), 1<<20); err != nil {
		t.Fatal(err)
	}
	ra, _ := os.ReadFile(filepath.Join(d.path, a))
	rb, _ := os.ReadFile(filepath.Join(d.path, b))
	if bytes.Equal(ra[headerSize:headerSize+32], rb[headerSize:headerSize+32]) {
		t.Error("two files share a key stream")
	}
	// Another key opens nothing.
	other, _ := Open(d.path, bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(ctx, a); !ErrDamaged(err) || teleconsult.ErrorCode(err) != teleconsult.EDAMAGED {
		t.Errorf("open with another key: %v", err)
	}
}

func readAll(t *testing.T, d *testStore, id string) []byte {
	t.Helper()
	rc, err := d.Open(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Ensure a file cut, extended, edited, reordered or moved is detected:
// Open or a Read fails with EDAMAGED, and what was read before is a prefix
// of the content made of whole intact chunks only.
func TestDamageDetected(t *testing.T) {
	const size = 4*chunkSize + 100 // five chunks, the last short
	ct := chunkSize + tagSize
	chunk := func(i int) int { return headerSize + i*ct } // offset of chunk i
	flip := func(off int) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= 1; return b }
	}
	tests := []struct {
		name string
		edit func([]byte) []byte
		// intact is how many leading chunks may be served.
		intact int
	}{
		{"magic edited", flip(0), 0},
		{"version edited", flip(len(magic)), 0},
		{"salt edited", flip(headerSize - 1), 0},
		{"a byte of the first chunk", flip(chunk(0) + 5), 0},
		{"the first chunk's tag", flip(chunk(1) - 1), 0},
		{"a byte of the third chunk", flip(chunk(2) + 1000), 2},
		{"a byte of the last chunk", flip(chunk(4) + 3), 4},
		{"cut mid-chunk", func(b []byte) []byte { return b[:chunk(2)+500] }, 2},
		// The chunk before the cut opens as the last, and fails.
		{"cut at a chunk boundary", func(b []byte) []byte { return b[:chunk(3)] }, 2},
		{"cut by one byte", func(b []byte) []byte { return b[:len(b)-1] }, 4},
		{"cut to the header", func(b []byte) []byte { return b[:headerSize] }, 0},
		{"cut inside the header", func(b []byte) []byte { return b[:10] }, 0},
		{"emptied", func(b []byte) []byte { return nil }, 0},
		{"a byte appended", func(b []byte) []byte { return append(b, 0) }, 4},
		{"a chunk appended", func(b []byte) []byte { return append(b, b[chunk(1):chunk(2)]...) }, 4},
		{"two chunks swapped", func(b []byte) []byte {
			c := bytes.Clone(b)
			copy(c[chunk(1):], b[chunk(2):chunk(3)])
			copy(c[chunk(2):], b[chunk(1):chunk(2)])
			return c
		}, 1},
		{"a chunk dropped", func(b []byte) []byte { return append(b[:chunk(1):chunk(1)], b[chunk(2):]...) }, 1},
		{"a chunk repeated", func(b []byte) []byte {
			return append(append(b[:chunk(2):chunk(2)], b[chunk(1):chunk(2)]...), b[chunk(2):]...)
		}, 2},
	}
	content := sample(size)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := open(t, t.TempDir())
			id := teleconsult.NewID()
			if _, err := d.Put(ctx, id, bytes.NewReader(content), 1<<30); err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(d.path, id)
			raw, _ := os.ReadFile(name)
			if err := os.WriteFile(name, tt.edit(raw), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readDamaged(d, id)
			if !ErrDamaged(err) || teleconsult.ErrorCode(err) != teleconsult.EDAMAGED {
				t.Fatalf("read %d bytes, then %v; want EDAMAGED", len(got), err)
			}
			if len(got) != tt.intact*chunkSize || !bytes.Equal(got, content[:len(got)]) {
				t.Errorf("served %d bytes before the error, want the %d intact chunks (%d bytes)", len(got), tt.intact, tt.intact*chunkSize)
			}
		})
	}
	// A file moved to another id does not open.
	d := open(t, t.TempDir())
	a, b := teleconsult.NewID(), teleconsult.NewID()
	if _, err := d.Put(ctx, a, bytes.NewReader(content), 1<<30); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(d.path, a), filepath.Join(d.path, b)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, b); !ErrDamaged(err) {
		t.Errorf("a file under another id: %v", err)
	}
}

// readDamaged reads file id whole and returns what came before the error.
func readDamaged(d *testStore, id string) ([]byte, error) {
	rc, err := d.Open(ctx, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var got bytes.Buffer
	_, err = io.Copy(&got, rc)
	if err == nil {
		err = errors.New("no error")
	}
	return got.Bytes(), err
}

// Ensure a 10 MiB file is never held whole in memory, neither when it is
// stored nor when it is read: each allocates far less than the file.
func TestStreamingMemory(t *testing.T) {
	const size = 10 << 20
	d := open(t, t.TempDir())
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
		if n, err := d.Put(ctx, id, io.LimitReader(rand.Reader, size), size); err != nil || n != size {
			t.Fatalf("Put = %d, %v", n, err)
		}
	})
	read := allocated(func() {
		rc, err := d.Open(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != size {
			t.Fatalf("read %d, %v", n, err)
		}
	})
	t.Logf("allocated %d KiB to store 10 MiB, %d KiB to read it", put>>10, read>>10)
	if put > 1<<20 || read > 1<<20 {
		t.Errorf("allocated %d KiB to store and %d KiB to read a 10 MiB file: want under 1 MiB", put>>10, read>>10)
	}
}

// Ensure Migrate encrypts the plain files of an earlier version in place,
// leaves encrypted ones, replaces a part file left by a crash, and does
// nothing the second time.
func TestMigrate(t *testing.T) {
	d := open(t, t.TempDir())
	plain := map[string][]byte{
		teleconsult.NewID(): sample(100),
		teleconsult.NewID(): sample(3*chunkSize + 5),
		teleconsult.NewID(): sample(chunkSize),
		// A plain file that begins like the magic but is not it.
		teleconsult.NewID(): append([]byte("\x89TCF\r\n"), sample(50)...),
	}
	for id, b := range plain {
		if err := os.WriteFile(filepath.Join(d.path, id), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A crash during an earlier migration left a part file beside one.
	for id := range plain {
		if err := os.WriteFile(filepath.Join(d.path, id+partSuffix), []byte("half-written"), 0o600); err != nil {
			t.Fatal(err)
		}
		break
	}
	enc := teleconsult.NewID()
	encContent := sample(2000)
	if _, err := d.Put(ctx, enc, bytes.NewReader(encContent), 1<<20); err != nil {
		t.Fatal(err)
	}
	encRaw, _ := os.ReadFile(filepath.Join(d.path, enc))
	if err := os.WriteFile(filepath.Join(d.path, "README"), []byte("REFERTO not ours"), 0o600); err != nil {
		t.Fatal(err)
	}

	n, err := d.dir.Migrate(ctx, testKey)
	if err != nil || n != len(plain) {
		t.Fatalf("Migrate = %d, %v; want %d", n, err, len(plain))
	}
	os.Remove(filepath.Join(d.path, "README"))
	for id, b := range plain {
		if got := readAll(t, d, id); !bytes.Equal(got, b) {
			t.Errorf("%s differs after the migration", id)
		}
		scanAtRest(t, d.path, b)
		if fi, _ := os.Stat(filepath.Join(d.path, id)); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v", fi.Mode().Perm())
		}
	}
	if raw, _ := os.ReadFile(filepath.Join(d.path, enc)); !bytes.Equal(raw, encRaw) {
		t.Error("an encrypted file was rewritten")
	}
	entries, _ := os.ReadDir(d.path)
	if len(entries) != len(plain)+1 {
		t.Errorf("files after the migration: %v", entries)
	}
	before := map[string][]byte{}
	for _, e := range entries {
		before[e.Name()], _ = os.ReadFile(filepath.Join(d.path, e.Name()))
	}
	if n, err := d.dir.Migrate(ctx, testKey); n != 0 || err != nil {
		t.Errorf("Migrate again = %d, %v; want nothing to do", n, err)
	}
	for name, b := range before {
		if raw, _ := os.ReadFile(filepath.Join(d.path, name)); !bytes.Equal(raw, b) {
			t.Errorf("%s changed by the second migration", name)
		}
	}
	// A plain file that was not migrated is not served as if it were the
	// upload.
	id := teleconsult.NewID()
	if err := os.WriteFile(filepath.Join(d.path, id), []byte("REFERTO plain"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, id); !ErrDamaged(err) {
		t.Errorf("a plain file opens: %v", err)
	}
}

func benchContent(b *testing.B) []byte {
	b.Helper()
	content := make([]byte, 10<<20)
	rand.Read(content)
	b.SetBytes(int64(len(content)))
	return content
}

// BenchmarkPut stores a 10 MiB file: encrypted, synced, renamed.
func BenchmarkPut(b *testing.B) {
	content := benchContent(b)
	d := open(b, b.TempDir())
	for b.Loop() {
		id := teleconsult.NewID()
		if _, err := d.Put(ctx, id, bytes.NewReader(content), 1<<30); err != nil {
			b.Fatal(err)
		}
		if err := d.Delete(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutPlain is the ceiling of BenchmarkPut: the same file copied
// to disk in plain with io.Copy, synced and renamed.
func BenchmarkPutPlain(b *testing.B) {
	content := benchContent(b)
	dir := b.TempDir()
	for b.Loop() {
		name := filepath.Join(dir, teleconsult.NewID())
		f, err := os.OpenFile(name+partSuffix, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(f, bytes.NewReader(content)); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		if err := os.Rename(name+partSuffix, name); err != nil {
			b.Fatal(err)
		}
		if err := syncDir(dir); err != nil {
			b.Fatal(err)
		}
		os.Remove(name)
	}
}

// BenchmarkOpen reads a stored 10 MiB file whole: decrypted.
func BenchmarkOpen(b *testing.B) {
	content := benchContent(b)
	d := open(b, b.TempDir())
	id := teleconsult.NewID()
	if _, err := d.Put(ctx, id, bytes.NewReader(content), 1<<30); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		rc, err := d.Open(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}

// BenchmarkOpenPlain is the ceiling of BenchmarkOpen: the same file read
// in plain with io.Copy.
func BenchmarkOpenPlain(b *testing.B) {
	content := benchContent(b)
	name := filepath.Join(b.TempDir(), "plain")
	if err := os.WriteFile(name, content, 0o600); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		f, err := os.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, f); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// FuzzOpen reads any bytes as a stored file: nothing panics, and content
// comes out only from a file that was really stored; anything else
// fails with EDAMAGED, with at most the whole intact chunks before the
// damage served.
func FuzzOpen(f *testing.F) {
	d := open(f, f.TempDir())
	const id = "0123456789abcdef0123456789abcdef"
	small := sample(100)
	if _, err := d.Put(ctx, id, bytes.NewReader(small), 1<<30); err != nil {
		f.Fatal(err)
	}
	smallRaw, _ := os.ReadFile(filepath.Join(d.path, id))
	content := sample(2*chunkSize + 10)
	if _, err := d.Put(ctx, id, bytes.NewReader(content), 1<<30); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(d.path, id))
	f.Add(smallRaw)
	f.Add(good)
	f.Add(good[:headerSize+100])
	f.Add([]byte(magic))
	f.Add([]byte("REFERTO plain"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var got []byte
		rc, err := newOpener(io.NopCloser(bytes.NewReader(raw)), testKey, id)
		if err == nil {
			got, err = io.ReadAll(rc)
			rc.Close()
		}
		if err == nil {
			// (Each fuzzing process stores its own copy, with its own salt:
			// the content is what they share.)
			if !bytes.Equal(got, content) && !bytes.Equal(got, small) {
				t.Fatalf("%d bytes that are not a stored file opened", len(raw))
			}
			return
		}
		if !ErrDamaged(err) {
			t.Fatalf("error %v, want EDAMAGED", err)
		}
		if len(got)%chunkSize != 0 || !bytes.HasPrefix(content, got) {
			t.Fatalf("served %d bytes of a damaged file", len(got))
		}
	})
}
