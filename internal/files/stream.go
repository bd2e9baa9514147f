package files

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// A stored file is encrypted with the STREAM construction (Hoang,
// Reyhanitabar, Rogaway and Vizár, "Online Authenticated-Encryption and its
// Nonce-Reuse Misuse-Resistance", CRYPTO 2015) over AES-256-GCM:
//
//	header  magic (8) | version 1 (1) | log2 chunk size 16 (1) | 0 (2) | salt (32)
//	chunk i AES-256-GCM(file key, nonce = 0 (3) | i (8, big endian) | last (1), plaintext, header)
//
// The file key is HKDF-SHA256 of the uploads key ([teleconsult.Keyring.FileKey])
// with the file's random salt, bound to the file's id: a file copied over
// another id does not open. Every chunk holds 64 KiB of plaintext but the
// last, which holds 0 to 64 KiB and is sealed with last = 1. The chunk
// index in the nonce detects reordered, repeated or dropped chunks; the
// last flag detects a file cut at a chunk boundary or extended; the header
// as additional data detects an edited header. Neither writing nor reading
// holds more than a chunk in memory.
const (
	chunkSize  = 64 << 10
	chunkShift = 16
	tagSize    = 16
	saltSize   = 32
	headerSize = len(magic) + 4 + saltSize
	version    = 1
)

// magic begins every encrypted file (in the manner of PNG's signature:
// a non-ASCII byte, then line endings and a DOS end-of-file that text
// conversions would alter). A file without it is a plain file stored by an
// earlier version, which [Dir.Migrate] encrypts.
const magic = "\x89TCF\r\n\x1a\n"

// errDamaged is the error for a stored file that fails authentication:
// cut, extended, edited, moved to another id, or not encrypted.
var errDamaged = teleconsult.Errorf(teleconsult.EDAMAGED,
	"the stored file is damaged or was altered: it cannot be served")

// ErrDamaged reports whether err says a stored file failed authentication.
func ErrDamaged(err error) bool { return errors.Is(err, errDamaged) }

// fileAEAD returns the AEAD of file id with salt, under the uploads key.
func fileAEAD(key []byte, id string, salt []byte) cipher.AEAD {
	k, err := hkdf.Key(sha256.New, key, salt, "teleconsult upload file v1 "+id, 32)
	if err != nil {
		panic(err) // only for lengths over 255*32 bytes
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		panic(err) // only for a key that is not 16, 24 or 32 bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// newHeader returns a header with a fresh random salt.
func newHeader() []byte {
	h := make([]byte, headerSize)
	copy(h, magic)
	h[len(magic)] = version
	h[len(magic)+1] = chunkShift
	_, _ = rand.Read(h[len(magic)+4:]) // never fails (crypto/rand)
	return h
}

func chunkNonce(nonce []byte, i uint64, last bool) []byte {
	clear(nonce[:3])
	binary.BigEndian.PutUint64(nonce[3:11], i)
	nonce[11] = 0
	if last {
		nonce[11] = 1
	}
	return nonce
}

// sealer encrypts what is written to it into w, a chunk at a time. A full
// chunk is sealed only when more data comes, so that Close seals the last
// one, full or not, with the last flag.
type sealer struct {
	w      io.Writer
	aead   cipher.AEAD
	header []byte
	buf    []byte // plaintext of the chunk being filled
	out    []byte
	nonce  [12]byte
	i      uint64
}

// newSealer writes a new header to w and returns the writer of file id's
// content under the uploads key; Close it to seal the last chunk. Each
// Write to w is the header or one whole sealed chunk.
func newSealer(w io.Writer, key []byte, id string) (*sealer, error) {
	h := newHeader()
	if _, err := w.Write(h); err != nil {
		return nil, err
	}
	return &sealer{w: w, aead: fileAEAD(key, id, h[len(magic)+4:]), header: h,
		buf: make([]byte, 0, chunkSize), out: make([]byte, 0, chunkSize+tagSize)}, nil
}

func (s *sealer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(s.buf) == chunkSize {
			if err := s.seal(false); err != nil {
				return n - len(p), err
			}
		}
		k := copy(s.buf[len(s.buf):chunkSize], p)
		s.buf = s.buf[:len(s.buf)+k]
		p = p[k:]
	}
	return n, nil
}

// Close seals the last chunk. It does not close the underlying writer.
func (s *sealer) Close() error { return s.seal(true) }

func (s *sealer) seal(last bool) error {
	s.out = s.aead.Seal(s.out[:0], chunkNonce(s.nonce[:], s.i, last), s.buf, s.header)
	s.i++
	s.buf = s.buf[:0]
	_, err := s.w.Write(s.out)
	return err
}

// opener decrypts a stored file a chunk at a time. It returns only
// plaintext that authenticated: a damaged chunk is an error that wraps
// errDamaged, and nothing of it or after it is returned.
type opener struct {
	r      *bufio.Reader
	c      io.Closer
	aead   cipher.AEAD
	header []byte
	in     []byte
	plain  []byte // authenticated plaintext not yet read
	nonce  [12]byte
	i      uint64
	last   bool // the last chunk is open
	err    error
}

// newOpener reads the header of file id from f and authenticates its first
// chunk under the uploads key, so that a file damaged at its start is
// refused before anything is served. On error f is not closed.
func newOpener(f io.ReadCloser, key []byte, id string) (*opener, error) {
	r := bufio.NewReaderSize(f, chunkSize+tagSize+1)
	h := make([]byte, headerSize)
	if _, err := io.ReadFull(r, h); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, errDamaged
		}
		return nil, err
	}
	if !bytes.HasPrefix(h, []byte(magic)) || h[len(magic)] != version || h[len(magic)+1] != chunkShift {
		return nil, errDamaged
	}
	o := &opener{r: r, c: f, aead: fileAEAD(key, id, h[len(magic)+4:]), header: h, in: make([]byte, chunkSize+tagSize)}
	if err := o.next(); err != nil {
		return nil, err
	}
	return o, nil
}

// next opens the next chunk.
func (o *opener) next() error {
	n, err := io.ReadFull(o.r, o.in[:chunkSize+tagSize])
	switch {
	case errors.Is(err, io.EOF): // nothing after a chunk that was not the last: cut
		return errDamaged
	case errors.Is(err, io.ErrUnexpectedEOF): // a short chunk is the last
		o.last = true
	case err != nil:
		return err
	default: // a full chunk is the last if nothing follows
		if _, err := o.r.Peek(1); err == io.EOF {
			o.last = true
		} else if err != nil {
			return err
		}
	}
	if n < tagSize {
		return errDamaged
	}
	pt, err := o.aead.Open(o.in[:0], chunkNonce(o.nonce[:], o.i, o.last), o.in[:n], o.header)
	if err != nil {
		return errDamaged
	}
	o.i++
	o.plain = pt
	return nil
}

func (o *opener) Read(p []byte) (int, error) {
	for len(o.plain) == 0 {
		switch {
		case o.err != nil:
			return 0, o.err
		case o.last:
			return 0, io.EOF
		}
		o.err = o.next()
	}
	n := copy(p, o.plain)
	o.plain = o.plain[n:]
	return n, nil
}

func (o *opener) Close() error { return o.c.Close() }
