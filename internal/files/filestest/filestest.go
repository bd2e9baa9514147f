// Package filestest is the contract of a [files.Blobs]: the tests that every
// place the uploads' content is kept (a directory, a database) passes, with
// the encryption of [files.Store] over it. An implementation's tests call
// [Run] with a [Harness].
package filestest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/teleconsult/teleconsult/internal/files"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// chunk is the plaintext size of a chunk of the format (stream.go).
const chunk = 64 << 10

// Harness makes the stores under test.
type Harness struct {
	// New returns a new, empty store, whose List reports every file (no
	// grace for files being written elsewhere).
	New func(t *testing.T) files.Blobs
	// Edit replaces the units of stored file id (its header, then each
	// sealed chunk, in order) with what edit returns, as an attacker with
	// write access to the storage would.
	Edit func(t *testing.T, b files.Blobs, id string, edit func(units [][]byte) [][]byte)
}

// Key is the uploads key of the contract's stores.
var Key = bytes.Repeat([]byte{7}, 32)

// Sample returns n bytes of recognisable content, no two chunks alike.
func Sample(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "REFERTO Mario Rossi riga %06d: pressione 120/80, nessuna anomalia.\n", i)
	}
	return b.Bytes()[:n]
}

// Run runs the contract.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"RoundTrip", testRoundTrip},
		{"EncryptedAtRest", testAtRest},
		{"NothingLeftOnFailure", testFailure},
		{"AbsentUntilComplete", testAbsentUntilComplete},
		{"Damage", testDamage},
		{"OtherKey", testOtherKey},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, h) })
	}
}

func store(t *testing.T, b files.Blobs) *files.Store {
	t.Helper()
	s, err := files.New(b, Key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ReadAll opens file id of s and reads it whole; it returns what was read
// before an error.
func ReadAll(s teleconsult.FileStore, id string) ([]byte, error) {
	rc, err := s.Open(context.Background(), id)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	var got bytes.Buffer
	_, err = io.Copy(&got, rc)
	return got.Bytes(), err
}

// raw returns the stored bytes of file id.
func raw(t *testing.T, b files.Blobs, id string) []byte {
	t.Helper()
	rc, err := b.Open(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Ensure files of sizes around the chunk boundaries read back whole, are
// listed, and are gone once deleted.
func testRoundTrip(t *testing.T, h Harness) {
	ctx := context.Background()
	b := h.New(t)
	s := store(t, b)
	var ids []string
	for _, size := range []int{1, 100, chunk - 1, chunk, chunk + 1, 3*chunk + 5} {
		content := Sample(size)
		id := teleconsult.NewID()
		n, err := s.Put(ctx, id, bytes.NewReader(content), 1<<30)
		if err != nil || n != int64(size) {
			t.Fatalf("Put(%d bytes) = %d, %v", size, n, err)
		}
		got, err := ReadAll(s, id)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("%d bytes: read %d bytes, %v", size, len(got), err)
		}
		ids = append(ids, id)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(list)
	slices.Sort(ids)
	if !slices.Equal(list, ids) {
		t.Errorf("List = %v, want %v", list, ids)
	}
	for _, id := range ids {
		if err := s.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, id); err != nil {
			t.Errorf("deleting a missing file: %v", err)
		}
		if _, err := s.Open(ctx, id); teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
			t.Errorf("Open after Delete: %v", err)
		}
	}
	if list, _ := s.List(ctx); len(list) != 0 {
		t.Errorf("List after deleting everything = %v", list)
	}
	for _, id := range []string{"", "../../etc/passwd", "0123", teleconsult.NewID()} {
		if _, err := s.Open(ctx, id); teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
			t.Errorf("Open(%q): %v, want ENOTFOUND", id, err)
		}
	}
}

// Ensure no piece of the content is in the stored bytes.
func testAtRest(t *testing.T, h Harness) {
	b := h.New(t)
	s := store(t, b)
	content := Sample(2*chunk + 77)
	id := teleconsult.NewID()
	if _, err := s.Put(context.Background(), id, bytes.NewReader(content), 1<<30); err != nil {
		t.Fatal(err)
	}
	stored := raw(t, b, id)
	if bytes.Contains(stored, []byte("REFERTO")) || bytes.Contains(stored, []byte("Mario Rossi")) {
		t.Fatal("the content is stored in plain")
	}
	for i := 0; i+24 <= len(content); i += 24 {
		if bytes.Contains(stored, content[i:i+24]) {
			t.Fatalf("bytes %d-%d of the content are stored in plain", i, i+24)
		}
	}
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

// Ensure a file over the limit, an interrupted upload and a cancelled one
// leave nothing: not to open, not to list.
func testFailure(t *testing.T, h Harness) {
	b := h.New(t)
	s := store(t, b)
	ctx := context.Background()
	boom := errors.New("connection reset")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		r    io.Reader
		max  int64
		code string
	}{
		{"over the limit", ctx, bytes.NewReader(Sample(2*chunk + 1)), 2 * chunk, teleconsult.ETOOLARGE},
		{"interrupted", ctx, io.MultiReader(bytes.NewReader(Sample(chunk+10)), failingReader{boom}), 1 << 30, teleconsult.EINVALID},
		{"cancelled", cancelled, bytes.NewReader(Sample(10)), 1 << 30, ""},
	}
	for _, c := range cases {
		id := teleconsult.NewID()
		_, err := s.Put(c.ctx, id, c.r, c.max)
		if err == nil || (c.code != "" && teleconsult.ErrorCode(err) != c.code) {
			t.Errorf("%s: Put: %v, want %s", c.name, err, c.code)
		}
		if c.name == "interrupted" && !errors.Is(err, boom) {
			t.Errorf("%s: the cause is not in the chain: %v", c.name, err)
		}
		if _, err := s.Open(ctx, id); teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
			t.Errorf("%s: Open: %v, want ENOTFOUND", c.name, err)
		}
	}
	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("List after failures = %v, %v; want nothing", list, err)
	}
	// Exactly the limit is fine.
	if n, err := s.Put(ctx, teleconsult.NewID(), bytes.NewReader(Sample(2*chunk)), 2*chunk); err != nil || n != 2*chunk {
		t.Errorf("Put at the limit = %d, %v", n, err)
	}
}

// Ensure a file being written does not open until it is complete.
func testAbsentUntilComplete(t *testing.T, h Harness) {
	b := h.New(t)
	ctx := context.Background()
	id := teleconsult.NewID()
	wrote, resume := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- b.Create(ctx, id, func(w io.Writer) error {
			for i := range 3 {
				if _, err := w.Write(bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
					return err
				}
			}
			close(wrote)
			<-resume
			_, err := w.Write([]byte("end"))
			return err
		})
	}()
	<-wrote
	if _, err := b.Open(ctx, id); teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
		t.Errorf("Open of a file being written: %v, want ENOTFOUND", err)
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(bytes.Repeat([]byte{0}, 100), bytes.Repeat([]byte{1}, 100), bytes.Repeat([]byte{2}, 100), []byte("end"))
	if got := raw(t, b, id); !bytes.Equal(got, want) {
		t.Errorf("stored %d bytes, want the %d written in order", len(got), len(want))
	}
}

// Ensure stored bytes edited, cut, reordered or extended are refused: Open
// or a Read fails with EDAMAGED ("damaged or altered"), and what came
// before is whole intact chunks of the content only.
func testDamage(t *testing.T, h Harness) {
	flip := func(unit, off int) func([][]byte) [][]byte {
		return func(u [][]byte) [][]byte { u[unit][off] ^= 1; return u }
	}
	// Units: 0 the header, 1 to 5 the chunks (the last short).
	cases := []struct {
		name   string
		edit   func([][]byte) [][]byte
		intact int
	}{
		{"header edited", flip(0, 9), 0},
		{"first chunk edited", flip(1, 100), 0},
		{"third chunk edited", flip(3, 5000), 2},
		{"last chunk edited", flip(5, 3), 4},
		{"a chunk removed", func(u [][]byte) [][]byte { return slices.Delete(u, 2, 3) }, 1},
		{"the last chunk removed", func(u [][]byte) [][]byte { return u[:5] }, 3},
		{"two chunks swapped", func(u [][]byte) [][]byte { u[2], u[3] = u[3], u[2]; return u }, 1},
		{"a chunk repeated", func(u [][]byte) [][]byte { return slices.Insert(u, 3, bytes.Clone(u[2])) }, 2},
		{"a chunk cut", func(u [][]byte) [][]byte { u[2] = u[2][:1000]; return u }, 1},
		{"a byte appended", func(u [][]byte) [][]byte { return append(u, []byte{0}) }, 4},
		{"emptied", func(u [][]byte) [][]byte { return nil }, 0},
	}
	content := Sample(4*chunk + 100)
	b := h.New(t)
	s := store(t, b)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := teleconsult.NewID()
			if _, err := s.Put(context.Background(), id, bytes.NewReader(content), 1<<30); err != nil {
				t.Fatal(err)
			}
			h.Edit(t, b, id, func(units [][]byte) [][]byte {
				if len(units) != 6 {
					t.Fatalf("%d units, want the header and 5 chunks", len(units))
				}
				return c.edit(units)
			})
			got, err := ReadAll(s, id)
			if !files.ErrDamaged(err) || teleconsult.ErrorCode(err) != teleconsult.EDAMAGED {
				t.Fatalf("read %d bytes, then %v; want EDAMAGED", len(got), err)
			}
			if len(got) != c.intact*chunk || !bytes.Equal(got, content[:len(got)]) {
				t.Errorf("served %d bytes before the error, want the %d intact chunks", len(got), c.intact)
			}
		})
	}
}

// Ensure files do not open under another key.
func testOtherKey(t *testing.T, h Harness) {
	b := h.New(t)
	id := teleconsult.NewID()
	if _, err := store(t, b).Put(context.Background(), id, bytes.NewReader(Sample(500)), 1<<30); err != nil {
		t.Fatal(err)
	}
	other, err := files.New(b, bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAll(other, id); !files.ErrDamaged(err) {
		t.Errorf("opened under another key: %v", err)
	}
}

// Ensure files written and read at once stay apart.
func testConcurrent(t *testing.T, h Harness) {
	b := h.New(t)
	s := store(t, b)
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			content := Sample(chunk*(i%3) + 1000*i + 1)
			id := teleconsult.NewID()
			if _, err := s.Put(context.Background(), id, bytes.NewReader(content), 1<<30); err != nil {
				errs <- err
				return
			}
			got, err := ReadAll(s, id)
			if err == nil && !bytes.Equal(got, content) {
				err = fmt.Errorf("file %d read back differs", i)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
