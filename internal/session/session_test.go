package session

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func newTokens(t testing.TB) (*Tokens, []byte) {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	tok, err := New(key, "http://127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	return tok, key
}

func valid() teleconsult.SessionClaims {
	return teleconsult.SessionClaims{Kind: teleconsult.SessionParticipant, TeleconsultationID: "abc", UserID: "pat-1",
		ProviderUserID: "u_1", RoomRevision: 2, IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
}

func TestRoundTrip(t *testing.T) {
	tok, _ := newTokens(t)
	s, err := tok.Issue(valid())
	if err != nil {
		t.Fatal(err)
	}
	got, err := tok.Verify(s, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := valid()
	if got.Kind != want.Kind || got.TeleconsultationID != want.TeleconsultationID || got.UserID != want.UserID ||
		got.ProviderUserID != want.ProviderUserID || got.RoomRevision != want.RoomRevision || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("claims %+v, want %+v", got, want)
	}
}

// Ensure the token matrix of the security checklist (A2) is refused.
func TestVerifyRefuses(t *testing.T) {
	tok, key := newTokens(t)
	other, _ := newTokens(t)
	sign := func(method jwt.SigningMethod, k any, c jwt.MapClaims, hdr map[string]any) string {
		j := jwt.NewWithClaims(method, c)
		for h, v := range hdr {
			j.Header[h] = v
		}
		s, err := j.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"typ": "participant", "tc": "abc", "sub": "pat-1", "aud": []string{Audience},
			"iss": "http://127.0.0.1:8080", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims { c := base(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := base(); delete(c, k); return c }
	good, _ := tok.Issue(valid())
	parts := strings.Split(good, ".")
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	tests := []struct {
		name  string
		token string
	}{
		{"alg none", noneHeader + "." + parts[1] + "."},
		{"HS512", sign(jwt.SigningMethodHS512, key, base(), nil)},
		{"other key", func() string { s, _ := other.Issue(valid()); return s }()},
		{"bad signature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))},
		{"expired", sign(jwt.SigningMethodHS256, key, with("exp", now.Add(-time.Second).Unix()), nil)},
		{"not yet valid", sign(jwt.SigningMethodHS256, key, with("nbf", now.Add(time.Hour).Unix()), nil)},
		{"issued in the future", sign(jwt.SigningMethodHS256, key, with("iat", now.Add(time.Hour).Unix()), nil)},
		{"no expiry", sign(jwt.SigningMethodHS256, key, without("exp"), nil)},
		{"wrong audience", sign(jwt.SigningMethodHS256, key, with("aud", "daily"), nil)},
		{"wrong issuer", sign(jwt.SigningMethodHS256, key, with("iss", "https://evil.example"), nil)},
		{"unknown type", sign(jwt.SigningMethodHS256, key, with("typ", "admin"), nil)},
		{"participant without teleconsultation", sign(jwt.SigningMethodHS256, key, without("tc"), nil)},
		{"no subject", sign(jwt.SigningMethodHS256, key, without("sub"), nil)},
		{"kid header", sign(jwt.SigningMethodHS256, key, base(), map[string]any{"kid": "1"})},
		{"jku header", sign(jwt.SigningMethodHS256, key, base(), map[string]any{"jku": "https://evil.example/jwks"})},
		{"garbage", "123"},
		{"empty", ""},
		{"truncated", good[:len(good)-5]},
		{"huge", strings.Repeat("a", 5000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tok.Verify(tt.token, now)
			if teleconsult.ErrorCode(err) != teleconsult.EUNAUTHORIZED {
				t.Errorf("Verify = %v, want unauthorized", err)
			}
			if err != nil && teleconsult.ErrorMessage(err) != "invalid or expired session token" {
				t.Errorf("message %q tells too much", teleconsult.ErrorMessage(err))
			}
		})
	}
	if _, err := tok.Verify(good, now.Add(15*time.Minute)); err == nil {
		t.Error("token accepted at its expiry")
	}
}

// respell changes the unused low bits of the last character of a
// base64url segment (unpadded): the decoded bytes stay the same. ok is
// false when the segment has no unused bits.
func respell(seg string) (string, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	unused := map[int]int{2: 4, 3: 2}[len(seg)%4] // 1 byte in 2 chars, 2 bytes in 3
	if unused == 0 {
		return seg, false
	}
	i := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[i^1]), true
}

// A token whose segments are spelt differently (same decoded bytes, other
// unused bits in a last character) is refused: one token, one string.
func TestVerifyStrictBase64(t *testing.T) {
	tok, _ := newTokens(t)
	good, err := tok.Issue(valid())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	names := []string{"header", "claims", "signature"}
	tried := 0
	for i := range parts {
		seg, ok := respell(parts[i])
		if !ok {
			continue
		}
		tried++
		a, _ := base64.RawURLEncoding.DecodeString(parts[i])
		b, _ := base64.RawURLEncoding.DecodeString(seg)
		if string(a) != string(b) {
			t.Fatalf("%s: respelling changed the bytes", names[i])
		}
		mutated := slices.Clone(parts)
		mutated[i] = seg
		if _, err := tok.Verify(strings.Join(mutated, "."), now); teleconsult.ErrorCode(err) != teleconsult.EUNAUTHORIZED {
			t.Errorf("%s respelt (last character %q for %q): Verify = %v, want unauthorized",
				names[i], seg[len(seg)-1], parts[i][len(parts[i])-1], err)
		}
	}
	if tried == 0 || len(parts[2])%4 != 3 {
		t.Fatalf("an HS256 signature is 43 characters with 2 unused bits; got %d characters", len(parts[2]))
	}
	if _, err := tok.Verify(good, now); err != nil {
		t.Fatalf("the token as issued: %v", err)
	}
}

func TestNewShortKey(t *testing.T) {
	if _, err := New(make([]byte, 16), "x"); err == nil {
		t.Error("16-byte key accepted")
	}
}

func FuzzVerify(f *testing.F) {
	tok, _ := newTokens(f)
	good, _ := tok.Issue(valid())
	for _, s := range []string{good, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", good + "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Only the issued token may pass, spelt exactly as issued: with
		// strict decoding one token has one string.
		c, err := tok.Verify(s, now)
		if err == nil && s != good {
			t.Fatalf("accepted %q, not the issued token: %+v", s, c)
		}
	})
}
