package teleconsult

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func newTestKeyring(t testing.TB) *Keyring {
	t.Helper()
	master := make([]byte, KeySize)
	_, _ = rand.Read(master)
	k, err := NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyring(t *testing.T) {
	k := newTestKeyring(t)
	secret := []byte("Maria Rossi <maria@example.org>")
	sealed := k.Seal("participant.full_name", secret)
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed value contains the plaintext")
	}
	if again := k.Seal("participant.full_name", secret); bytes.Equal(again, sealed) {
		t.Error("two seals of one value are equal: nonce reused")
	}
	got, err := k.Open("participant.full_name", sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := k.Open("participant.email", sealed); !errors.Is(err, ErrDecrypt) {
		t.Errorf("opening under another field: %v, want ErrDecrypt", err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if _, err := k.Open("participant.full_name", tampered); !errors.Is(err, ErrDecrypt) {
		t.Errorf("tampered: %v, want ErrDecrypt", err)
	}
	if _, err := newTestKeyring(t).Open("participant.full_name", sealed); !errors.Is(err, ErrDecrypt) {
		t.Errorf("other key: %v, want ErrDecrypt", err)
	}
	if _, err := k.Open("f", []byte{1, 2, 3}); !errors.Is(err, ErrDecrypt) {
		t.Errorf("short: %v", err)
	}
	if k.Seal("f", nil) != nil {
		t.Error("empty plaintext should seal to nil")
	}
	if !bytes.Equal(k.Blind("email", "a@b.c"), k.Blind("email", "a@b.c")) || bytes.Equal(k.Blind("email", "a@b.c"), k.Blind("name", "a@b.c")) {
		t.Error("Blind must be deterministic per field and differ across fields")
	}
	nonce := NewLinkNonce()
	code := k.LinkCode(nonce)
	if len(code) != linkCodeLen || code != k.LinkCode(nonce) || code == newTestKeyring(t).LinkCode(nonce) {
		t.Errorf("link code %q: want %d chars, stable, key-dependent", code, linkCodeLen)
	}
	if _, err := NewKeyring(make([]byte, 16)); err == nil {
		t.Error("16-byte master key accepted")
	}
}

// Ensure a setting's fingerprint is stable, depends on the setting, the
// value and the master key, and does not hold the value.
func TestFingerprint(t *testing.T) {
	k := newTestKeyring(t)
	url := []byte("https://visite.clinica.example")
	fp := k.Fingerprint("PUBLIC_URL", url)
	if !bytes.Equal(fp, k.Fingerprint("PUBLIC_URL", url)) {
		t.Error("not stable")
	}
	for name, other := range map[string][]byte{
		"another value":   k.Fingerprint("PUBLIC_URL", []byte("https://visite.clinica.example/")),
		"another setting": k.Fingerprint("PUBLIC_URLX", url),
		"another key":     newTestKeyring(t).Fingerprint("PUBLIC_URL", url),
		"the name moved":  k.Fingerprint("PUBLIC_UR", append([]byte("L"), url...)),
	} {
		if bytes.Equal(fp, other) {
			t.Errorf("%s: same fingerprint", name)
		}
	}
	if bytes.Contains(fp, url) || bytes.Contains(fp, k.print) {
		t.Error("the fingerprint holds the value or the key")
	}
	if bytes.Equal(k.Fingerprint("ENCRYPTION_KEY", nil), newTestKeyring(t).Fingerprint("ENCRYPTION_KEY", nil)) {
		t.Error("two master keys, one fingerprint")
	}
}
