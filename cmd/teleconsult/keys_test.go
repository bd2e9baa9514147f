package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// checkMode fails the test unless path has mode perm (where the system has
// Unix permissions).
func checkMode(t *testing.T, path string, perm fs.FileMode) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != perm {
		t.Errorf("%s: mode %04o, want %04o", path, got, perm)
	}
}

// checkOnlyFiles fails the test unless dir holds exactly the named files
// (no temporary file left behind).
func checkOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

// Ensure the encryption key is generated once, with mode 0600 in a 0700
// directory, and reused.
func TestEncryptionKeyCreatedAndReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "sub")
	key, generated, err := LoadOrCreateEncryptionKey(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !generated || len(key) != 32 {
		t.Fatalf("generated = %v, len = %d; want true, 32", generated, len(key))
	}
	path := filepath.Join(dir, EncryptionKeyFile)
	checkMode(t, path, 0o600)
	checkMode(t, dir, 0o700)
	checkOnlyFiles(t, dir, EncryptionKeyFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(data)); got != base64.StdEncoding.EncodeToString(key) {
		t.Errorf("file holds %q, want the key in standard base64", got)
	}

	again, generated, err := LoadOrCreateEncryptionKey(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if generated || !bytes.Equal(again, key) {
		t.Errorf("second call: generated = %v, same key = %v; want false, true", generated, bytes.Equal(again, key))
	}
	// The same key from the environment agrees with the file.
	if got, generated, err := LoadOrCreateEncryptionKey(dir, key); err != nil || generated || !bytes.Equal(got, key) {
		t.Errorf("env key equal to the file's: %v, generated = %v", err, generated)
	}
}

// Ensure concurrent first starts agree on one key.
func TestEncryptionKeyConcurrentCreation(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	keys := make([][]byte, n)
	gens := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], gens[i], errs[i] = LoadOrCreateEncryptionKey(dir, nil) })
	}
	wg.Wait()
	generated := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Errorf("call %d got another key", i)
		}
		if gens[i] {
			generated++
		}
	}
	if generated != 1 {
		t.Errorf("%d calls report generating the key, want 1", generated)
	}
	checkOnlyFiles(t, dir, EncryptionKeyFile)
}

// Ensure ENCRYPTION_KEY is used as is, without writing a file.
func TestEncryptionKeyFromEnv(t *testing.T) {
	dir := t.TempDir()
	env := []byte("0123456789abcdef0123456789abcdef")
	key, generated, err := LoadOrCreateEncryptionKey(dir, env)
	if err != nil || generated || !bytes.Equal(key, env) {
		t.Fatalf("got %q, %v, %v", key, generated, err)
	}
	checkOnlyFiles(t, dir)
	if _, _, err := LoadOrCreateEncryptionKey(dir, env[:16]); err == nil || !strings.Contains(err.Error(), "ENCRYPTION_KEY") {
		t.Errorf("16-byte key: %v", err)
	}
}

// Ensure an ENCRYPTION_KEY different from the key file is refused.
func TestEncryptionKeyMismatch(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := LoadOrCreateEncryptionKey(dir, nil); err != nil {
		t.Fatal(err)
	}
	other := []byte("0123456789abcdef0123456789abcdef")
	_, _, err := LoadOrCreateEncryptionKey(dir, other)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"ENCRYPTION_KEY differs", filepath.Join(dir, EncryptionKeyFile), "cannot be read"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(other)) {
		t.Error("error shows the key")
	}
}

// Ensure a key file readable by group or others is refused, with the fix.
func TestEncryptionKeyFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660} {
		dir := t.TempDir()
		if _, _, err := LoadOrCreateEncryptionKey(dir, nil); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, EncryptionKeyFile)
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateEncryptionKey(dir, nil)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: error %v, want one telling to chmod 600", mode, err)
		}
	}
}

// Ensure a damaged key file is refused, naming it, without showing it.
func TestEncryptionKeyBadFile(t *testing.T) {
	for _, content := range []string{"", "not base64\n", base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		dir := t.TempDir()
		path := filepath.Join(dir, EncryptionKeyFile)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateEncryptionKey(dir, nil)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("content %q: error %v, want one naming the file", content, err)
		}
		if err != nil && content != "" && strings.Contains(err.Error(), content) {
			t.Errorf("error shows the file's content: %v", err)
		}
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, EncryptionKeyFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateEncryptionKey(dir, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory in place of the key: %v", err)
	}
}

// Ensure an API key is generated once, only its hash is stored, and the
// hash is reused.
func TestAPIKeysGenerated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	keys, newKey, err := LoadOrCreateAPIKeys(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(newKey, APIKeyPrefix) || len(newKey) != len(APIKeyPrefix)+43 {
		t.Errorf("new key %q: want tc_ and 43 base64url characters", newKey)
	}
	if err := checkAPIKey(newKey); err != nil {
		t.Errorf("generated key refused by API_KEYS validation: %v", err)
	}
	if !keys.Match(newKey) || keys.Match(newKey+"x") || keys.Match("") || keys.Len() != 1 {
		t.Error("Match/Len wrong for the generated key")
	}
	path := filepath.Join(dir, APIKeysFile)
	checkMode(t, path, 0o600)
	checkOnlyFiles(t, dir, APIKeysFile)
	sum := sha256.Sum256([]byte(newKey))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), hex.EncodeToString(sum[:])+"\n"; got != want {
		t.Errorf("file holds %q, want %q", got, want)
	}
	// The plaintext key is in no file under DATA_DIR.
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && (bytes.Contains(b, []byte(newKey)) || bytes.Contains(b, []byte(strings.TrimPrefix(newKey, APIKeyPrefix)))) {
			t.Errorf("%s holds the plaintext key", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	again, newKey2, err := LoadOrCreateAPIKeys(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if newKey2 != "" {
		t.Error("second call generated another key")
	}
	if h := again.Hashes(); len(h) != 1 || !bytes.Equal(h[0], sum[:]) || !again.Match(newKey) {
		t.Errorf("second call: hashes %x, want [%x]", h, sum)
	}
	// Hashes returns copies.
	again.Hashes()[0][0] ^= 1
	if !again.Match(newKey) {
		t.Error("Hashes exposes the internal slices")
	}
}

// Ensure API_KEYS is used instead of the file, which is neither read nor
// written.
func TestAPIKeysFromEnv(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, APIKeysFile), []byte("garbage\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	env := []string{"abcdefghijklmnop", "qrstuvwxyz0123456789"}
	keys, newKey, err := LoadOrCreateAPIKeys(dir, env)
	if err != nil {
		t.Fatal(err)
	}
	if newKey != "" || keys.Len() != 2 || !keys.Match(env[0]) || !keys.Match(env[1]) || keys.Match("abcdefghijklmnopq") {
		t.Errorf("newKey %q, %d keys", newKey, keys.Len())
	}
	for i, h := range keys.Hashes() {
		if want := sha256.Sum256([]byte(env[i])); !bytes.Equal(h, want[:]) {
			t.Errorf("hash %d = %x, want %x", i, h, want)
		}
	}
	checkOnlyFiles(t, dir, APIKeysFile)
	if _, _, err := LoadOrCreateAPIKeys(dir, []string{"short"}); err == nil || !strings.Contains(err.Error(), "API_KEYS: key 1 of 1") {
		t.Errorf("short key: %v", err)
	}
}

// Ensure the hashes file accepts comments and sha256sum output, and that
// bad files are refused with the file and line named.
func TestAPIKeysFile(t *testing.T) {
	h1 := sha256.Sum256([]byte("key-number-one-123"))
	h2 := sha256.Sum256([]byte("key-number-two-456"))
	for _, tt := range []struct {
		name, content string
		mode          fs.FileMode
		want          string // error; "" for success
	}{
		{"comments and sha256sum", "# CI\n" + hex.EncodeToString(h1[:]) + "  -\n\n" + strings.ToUpper(hex.EncodeToString(h2[:])) + "\n", 0o600, ""},
		{"group readable is fine", hex.EncodeToString(h1[:]) + "\n", 0o644, ""},
		{"not hex", "# CI\nzz\n", 0o600, APIKeysFile + ":2: expected the SHA-256"},
		{"short hash", hex.EncodeToString(h1[:16]), 0o600, APIKeysFile + ":1: expected the SHA-256"},
		{"no hash", "# nothing\n\n", 0o600, "no key hash"},
		{"world writable", hex.EncodeToString(h1[:]) + "\n", 0o666, "chmod 600"},
		{"group writable", hex.EncodeToString(h1[:]) + "\n", 0o620, "chmod 600"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && tt.mode != 0o600 {
				t.Skip("no Unix permissions")
			}
			dir := t.TempDir()
			path := filepath.Join(dir, APIKeysFile)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			keys, newKey, err := LoadOrCreateAPIKeys(dir, nil)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if newKey != "" || !keys.Match("key-number-one-123") {
				t.Errorf("newKey %q, match %v", newKey, keys.Match("key-number-one-123"))
			}
		})
	}
}
