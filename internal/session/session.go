// Package session signs and checks Teleconsult's session tokens: JWTs
// (RFC 7519) signed with HMAC-SHA256 under a key derived from the master
// key. Only HS256 is accepted; alg=none, other algorithms, key-id headers,
// a wrong audience or token type, missing or past expiry, and segments not
// in strict base64url (so that one token has exactly one spelling) are
// refused.
package session

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Audience is the aud claim of every session token.
const Audience = "teleconsult-session"

// Tokens implements [teleconsult.SessionTokens].
type Tokens struct {
	key    []byte
	issuer string
}

var _ teleconsult.SessionTokens = (*Tokens)(nil)

// New returns a signer with key (at least 32 bytes) and issuer (the
// service's public URL).
func New(key []byte, issuer string) (*Tokens, error) {
	if len(key) < 32 {
		return nil, errors.New("session: key must be at least 32 bytes")
	}
	return &Tokens{key: key, issuer: issuer}, nil
}

type claims struct {
	Kind               string `json:"typ"`
	TeleconsultationID string `json:"tc,omitempty"`
	ProviderUserID     string `json:"puid,omitempty"`
	RoomRevision       int    `json:"rev,omitempty"`
	jwt.RegisteredClaims
}

// Issue implements [teleconsult.SessionTokens.Issue].
func (t *Tokens) Issue(c teleconsult.SessionClaims) (string, error) {
	if c.ExpiresAt.IsZero() || c.UserID == "" {
		return "", errors.New("session: claims need a user and an expiry")
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{
		Kind:               c.Kind,
		TeleconsultationID: c.TeleconsultationID,
		ProviderUserID:     c.ProviderUserID,
		RoomRevision:       c.RoomRevision,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Subject:   c.UserID,
			Audience:  jwt.ClaimStrings{Audience},
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			NotBefore: jwt.NewNumericDate(c.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
			ID:        teleconsult.NewID(),
		},
	})
	return tok.SignedString(t.key)
}

// errInvalid is the one message every refused token gets: the caller learns
// nothing about why.
var errInvalid = teleconsult.Errorf(teleconsult.EUNAUTHORIZED, "invalid or expired session token")

// Verify implements [teleconsult.SessionTokens.Verify].
func (t *Tokens) Verify(token string, now time.Time) (teleconsult.SessionClaims, error) {
	if len(token) > 4096 {
		return teleconsult.SessionClaims{}, errInvalid
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(tok *jwt.Token) (any, error) {
		if len(tok.Header) != 2 { // exactly alg and typ: no kid, jku, jwk, x5u
			return nil, errors.New("unexpected header")
		}
		return t.key, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(Audience),
		jwt.WithIssuer(t.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
		// Unused bits of a segment's last base64 character must be zero:
		// otherwise one token has several spellings that all pass.
		jwt.WithStrictDecoding(),
	)
	if err != nil {
		return teleconsult.SessionClaims{}, &teleconsult.Error{Code: errInvalid.Code, Message: errInvalid.Message, Err: err}
	}
	if c.Kind != teleconsult.SessionParticipant && c.Kind != teleconsult.SessionUser ||
		c.Kind == teleconsult.SessionParticipant && c.TeleconsultationID == "" || c.Subject == "" {
		return teleconsult.SessionClaims{}, errInvalid
	}
	return teleconsult.SessionClaims{
		Kind:               c.Kind,
		TeleconsultationID: c.TeleconsultationID,
		UserID:             c.Subject,
		ProviderUserID:     c.ProviderUserID,
		RoomRevision:       c.RoomRevision,
		IssuedAt:           c.IssuedAt.Time,
		ExpiresAt:          c.ExpiresAt.Time,
	}, nil
}
