package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Files kept under DATA_DIR.
const (
	// EncryptionKeyFile holds the generated master key, in standard base64,
	// when ENCRYPTION_KEY is not set.
	EncryptionKeyFile = "encryption.key"
	// APIKeysFile holds the SHA-256 hashes (hex, one per line) of the API
	// keys when API_KEYS is not set.
	APIKeysFile = "api-keys.sha256" //nolint:gosec // G101: a file name, not a key
)

// APIKeyPrefix starts every generated API key.
const APIKeyPrefix = "tc_"

// maxKeyFileSize bounds what is read from a key file.
const maxKeyFileSize = 1 << 20

// LoadOrCreateEncryptionKey returns the 32-byte master key: fromEnv
// (ENCRYPTION_KEY) when set; else the key in DATA_DIR/encryption.key; else a
// new random key, written there (mode 0600, DATA_DIR created with mode
// 0700) and reported with generated=true. The key file must not be
// accessible to group or others. When fromEnv is set and the file holds a
// different key the error says so: data encrypted with one key cannot be
// read with the other.
func LoadOrCreateEncryptionKey(dataDir string, fromEnv []byte) (key []byte, generated bool, err error) {
	if len(fromEnv) > 0 && len(fromEnv) != teleconsult.KeySize {
		return nil, false, fmt.Errorf("ENCRYPTION_KEY: %d bytes; expected exactly %d", len(fromEnv), teleconsult.KeySize)
	}
	path := filepath.Join(dataDir, EncryptionKeyFile)
	fileKey, err := readEncryptionKeyFile(path)
	if err != nil {
		return nil, false, err
	}
	switch {
	case len(fromEnv) > 0 && fileKey != nil && subtle.ConstantTimeCompare(fromEnv, fileKey) != 1:
		return nil, false, fmt.Errorf("ENCRYPTION_KEY differs from the key in %s: data stored with one cannot be read with the other; "+
			"unset ENCRYPTION_KEY to keep using the file's key, or set it to the file's content, "+
			"or remove the file if no data was ever stored with it", path)
	case len(fromEnv) > 0:
		return bytes.Clone(fromEnv), false, nil
	case fileKey != nil:
		return fileKey, false, nil
	}
	key = make([]byte, teleconsult.KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("generate encryption key: %w", err)
	}
	created, err := createFileOnce(dataDir, EncryptionKeyFile, []byte(base64.StdEncoding.EncodeToString(key)+"\n"))
	if err != nil {
		return nil, false, fmt.Errorf("write encryption key: %w", err)
	}
	if !created { // another process wrote it first: use its key
		fileKey, err := readEncryptionKeyFile(path)
		if err == nil && fileKey == nil {
			err = fmt.Errorf("%s: disappeared while being created", path)
		}
		return fileKey, false, err
	}
	return key, true, nil
}

// readEncryptionKeyFile reads the key file at path; nil, nil when there is
// none.
func readEncryptionKeyFile(path string) ([]byte, error) {
	data, err := readPrivateFile(path, 0o077)
	if data == nil || err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil || len(key) != teleconsult.KeySize {
		return nil, fmt.Errorf("%s: expected %d bytes in standard base64, as teleconsult writes it; the file is damaged", path, teleconsult.KeySize)
	}
	return key, nil
}

// APIKeys holds the SHA-256 hashes of the trusted callers' API keys, never
// the keys.
type APIKeys struct {
	hashes [][]byte
}

// Hashes returns a copy of the SHA-256 hashes of the keys.
func (k *APIKeys) Hashes() [][]byte {
	out := make([][]byte, len(k.hashes))
	for i, h := range k.hashes {
		out[i] = bytes.Clone(h)
	}
	return out
}

// Len returns the number of keys.
func (k *APIKeys) Len() int { return len(k.hashes) }

// Match reports whether key is one of the API keys, in time independent of
// which one and of where it differs.
func (k *APIKeys) Match(key string) bool {
	h := sha256.Sum256([]byte(key))
	found := 0
	for _, want := range k.hashes {
		found |= subtle.ConstantTimeCompare(h[:], want)
	}
	return found == 1
}

// LoadOrCreateAPIKeys returns the API keys' hashes: of fromEnv (API_KEYS)
// when set, ignoring the file; else those in DATA_DIR/api-keys.sha256 (hex,
// one per line; blank lines and lines starting with # are skipped, and
// `sha256sum` output is accepted); else it generates one key, stores only
// its hash there (mode 0600) and returns the key as newKey: the only time it
// is known, for the caller to print once.
func LoadOrCreateAPIKeys(dataDir string, fromEnv []string) (keys *APIKeys, newKey string, err error) {
	if len(fromEnv) > 0 {
		keys = &APIKeys{}
		for i, key := range fromEnv {
			if err := checkAPIKey(key); err != nil {
				return nil, "", fmt.Errorf("API_KEYS: key %d of %d: %w", i+1, len(fromEnv), err)
			}
			h := sha256.Sum256([]byte(key))
			keys.hashes = append(keys.hashes, h[:])
		}
		return keys, "", nil
	}
	path := filepath.Join(dataDir, APIKeysFile)
	hashes, err := readAPIKeyHashes(path)
	if err != nil {
		return nil, "", err
	}
	if hashes != nil {
		return &APIKeys{hashes: hashes}, "", nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", fmt.Errorf("generate API key: %w", err)
	}
	newKey = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	h := sha256.Sum256([]byte(newKey))
	created, err := createFileOnce(dataDir, APIKeysFile, []byte(hex.EncodeToString(h[:])+"\n"))
	if err != nil {
		return nil, "", fmt.Errorf("write API key hash: %w", err)
	}
	if !created { // another process wrote it first: use its keys
		hashes, err := readAPIKeyHashes(path)
		if err == nil && hashes == nil {
			err = fmt.Errorf("%s: disappeared while being created", path)
		}
		if err != nil {
			return nil, "", err
		}
		return &APIKeys{hashes: hashes}, "", nil
	}
	return &APIKeys{hashes: [][]byte{h[:]}}, newKey, nil
}

// readAPIKeyHashes reads the hashes file at path; nil, nil when there is
// none. The file must not be writable by group or others: whoever can
// write it can add a key.
func readAPIKeyHashes(path string) ([][]byte, error) {
	data, err := readPrivateFile(path, 0o022)
	if data == nil || err != nil {
		return nil, err
	}
	hashes := [][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		h, err := hex.DecodeString(fields[0])
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("%s:%d: expected the SHA-256 of a key in hex (64 characters), e.g. from: printf %%s \"$KEY\" | sha256sum", path, n)
		}
		hashes = append(hashes, h)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(hashes) == 0 {
		return nil, fmt.Errorf("%s: no key hash; add one (printf %%s \"$KEY\" | sha256sum), or delete the file to have a key generated", path)
	}
	return hashes, nil
}

// readPrivateFile reads the regular file at path, refusing it when its
// mode has any of the bits in forbidden (on systems with Unix
// permissions). It returns nil, nil when the file does not exist.
func readPrivateFile(path string, forbidden fs.FileMode) ([]byte, error) {
	f, err := os.Open(path) //nolint:gosec // G304: a key file in the data directory the operator configured
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&forbidden != 0 {
		return nil, fmt.Errorf("%s: mode %04o gives access to group or others; run: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxKeyFileSize)
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// createFileOnce writes data to dir/name with mode 0600 unless that file
// exists, creating dir with mode 0700 if needed. The file appears whole or
// not at all: data goes to a temporary file, is synced, and is then linked
// into place, which fails if another process created the file meanwhile
// (created=false, nil: the caller reads the winner's file). Where hard
// links are unsupported it is renamed into place instead.
func createFileOnce(dir, name string, data []byte) (created bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return false, err
	}
	tmpName := tmp.Name()
	// Gone after the rename below; on failure, removing the half-written
	// file is best effort and the first error is the one to report.
	defer func() { _ = os.Remove(tmpName) }()
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		_ = tmp.Close()
		return false, err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	final := filepath.Join(dir, name)
	if err := os.Link(tmpName, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		// No hard links on this file system: rename, unless the file
		// appeared meanwhile.
		if _, serr := os.Lstat(final); serr == nil {
			return false, nil
		}
		if err := os.Rename(tmpName, final); err != nil {
			return false, err
		}
	}
	syncDir(dir)
	return true, nil
}

// syncDir makes a new directory entry durable, where the system allows.
func syncDir(dir string) {
	d, err := os.Open(dir) //nolint:gosec // G304: the data directory the operator configured
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
