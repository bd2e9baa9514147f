package teleconsult

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// KeySize is the size of the master key (ENCRYPTION_KEY): 32 bytes.
const KeySize = 32

// ErrDecrypt is returned by [Keyring.Open] when a ciphertext was not sealed
// with this key for this field, or was altered.
var ErrDecrypt = errors.New("teleconsult: cannot decrypt: wrong key or altered data")

// Keyring holds the keys derived from the master key (ENCRYPTION_KEY) with
// HKDF-SHA256 (RFC 5869), one per purpose, so that no key serves two.
type Keyring struct {
	aead    cipher.AEAD
	blind   []byte
	link    []byte
	session []byte
	naming  []byte
	files   []byte
	print   []byte
	audit   []byte
}

// NewKeyring derives the keys from a 32-byte master key.
func NewKeyring(master []byte) (*Keyring, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("teleconsult: encryption key must be %d bytes, got %d", KeySize, len(master))
	}
	derive := func(purpose string) []byte {
		k, err := hkdf.Key(sha256.New, master, nil, "teleconsult "+purpose, KeySize)
		if err != nil {
			panic(err) // only for lengths over 255*32 bytes
		}
		return k
	}
	block, err := aes.NewCipher(derive("data encryption v1"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keyring{
		aead:    aead,
		blind:   derive("blind index v1"),
		link:    derive("personal link v1"),
		session: derive("session token v1"),
		naming:  derive("provider names v1"),
		files:   derive("upload files v1"),
		print:   derive("settings fingerprint v1"),
		audit:   derive("audit chain v1"),
	}, nil
}

// Seal encrypts plaintext with AES-256-GCM and a random 96-bit nonce. field
// is bound as additional data, so a value cannot be moved to another column.
// The result is nonce || ciphertext || tag. An empty plaintext seals to nil.
func (k *Keyring) Seal(field string, plaintext []byte) []byte {
	if len(plaintext) == 0 {
		return nil
	}
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	_, _ = rand.Read(nonce) // never fails (crypto/rand)
	return k.aead.Seal(nonce, nonce, plaintext, []byte(field))
}

// Open decrypts what Seal returned for the same field. nil opens to nil.
func (k *Keyring) Open(field string, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	ns := k.aead.NonceSize()
	if len(sealed) < ns+k.aead.Overhead() {
		return nil, ErrDecrypt
	}
	pt, err := k.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(field))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Blind returns a keyed hash (HMAC-SHA256) of value for equality look-ups
// of encrypted data, without storing the value.
func (k *Keyring) Blind(field, value string) []byte {
	m := hmac.New(sha256.New, k.blind)
	m.Write([]byte(field))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// Fingerprint returns a keyed hash (HMAC-SHA256 under a key of its own) of
// the value of setting, which replicas of one deployment compare to find
// out whether they share it without telling it: without the master key the
// fingerprint says nothing of the value. The fingerprint of the master key
// itself is Fingerprint("ENCRYPTION_KEY", nil): replicas with different
// keys get different fingerprints for every setting.
func (k *Keyring) Fingerprint(setting string, value []byte) []byte {
	m := hmac.New(sha256.New, k.print)
	m.Write([]byte(setting))
	m.Write([]byte{0})
	m.Write(value)
	return m.Sum(nil)
}

// NewLinkNonce returns 128 random bits for a personal link.
func NewLinkNonce() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

// LinkCode returns the personal link code for a nonce: HMAC-SHA256 under
// the link key, base64url (43 characters). Without the key, the stored
// nonce does not give the code away.
func (k *Keyring) LinkCode(nonce []byte) string {
	m := hmac.New(sha256.New, k.link)
	m.Write(nonce)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// LinkHash is what is stored and looked up for a link code: SHA-256.
func LinkHash(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}

// SessionKey is the HMAC key that signs session tokens.
func (k *Keyring) SessionKey() []byte { return k.session }

// NamingKey is the HMAC key with which hosted video providers derive the
// names they choose at the platform (room names, user ids) from our ids, so
// that a retried or repeated creation finds what an earlier attempt made,
// and the names say nothing without the key.
func (k *Keyring) NamingKey() []byte { return k.naming }

// FileKey is the key under which uploaded files are encrypted at rest
// (each file under its own key derived from it).
func (k *Keyring) FileKey() []byte { return k.files }

// NewID returns a random 128-bit id in hex, for teleconsultations and
// provider user ids.
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
