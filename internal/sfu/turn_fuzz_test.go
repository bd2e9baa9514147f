package sfu

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"  //nolint:gosec // RFC 5389 long-term credentials key
	"crypto/sha1" //nolint:gosec // the TURN REST API specifies HMAC-SHA1
	"encoding/base64"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzTURNAuth: the embedded TURN server's username check (TURN REST API:
// "expiry:participant") never accepts an expired or malformed username,
// gives for an accepted one the RFC 5389 key of the HMAC-SHA1 password,
// and accepts the credentials it hands out until they expire.
func FuzzTURNAuth(f *testing.F) {
	now := start.Unix()
	for _, s := range []struct {
		user string
		now  int64
	}{
		{"1795431600:3f2a9c0e5b7d4e18a6c1f09d2b3e4a5c", now},
		{"1795431600:3f2a9c0e5b7d4e18a6c1f09d2b3e4a5c", 1795431600},
		{"1795431599:u_1", 1795431600},
		{"+1795431600:u_1", now},
		{"-1:u_1", -5},
		{"01795431600:u:1", now},
		{"99999999999999999999:u_1", now},
		{"1795431600:", now},
		{":u_1", now},
		{"u_1", now},
		{"", now},
		{"1795431600:" + strings.Repeat("a", 118), now},
		{"1795431600:" + strings.Repeat("a", 117), now},
		{"1795431600:\x00\n:é", now},
	} {
		f.Add(s.user, "teleconsult", s.now)
	}
	secret := []byte("a TURN secret shared with nobody")
	f.Fuzz(func(t *testing.T, user, realm string, now int64) {
		clock := func() time.Time { return time.Unix(now, 0) }
		ts := &turnServer{secret: secret, realm: realm, now: clock, allocs: map[string]int{}}
		addr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3478}
		key, ok := ts.auth(user, realm, addr)
		exp, pid, colon := strings.Cut(user, ":")
		if ok {
			if len(user) > 128 || !colon || pid == "" {
				t.Fatalf("accepted malformed username %q", user)
			}
			// The expiry, read as an arbitrary-size decimal integer with an
			// optional sign, is after now.
			secs, isInt := new(big.Int).SetString(exp, 10)
			if !isInt || exp == "" || strings.ContainsAny(exp, "_ ") {
				t.Fatalf("accepted username %q: expiry is not a number", user)
			}
			if secs.Cmp(big.NewInt(now)) <= 0 {
				t.Fatalf("accepted expired username %q at %d", user, now)
			}
			mac := hmac.New(sha1.New, secret)
			mac.Write([]byte(user))
			pass := base64.StdEncoding.EncodeToString(mac.Sum(nil))
			sum := md5.Sum([]byte(user + ":" + realm + ":" + pass)) //nolint:gosec
			if !bytes.Equal(key, sum[:]) {
				t.Fatalf("key for %q is not MD5(username:realm:HMAC-SHA1 password)", user)
			}
		} else if key != nil {
			t.Fatal("refused with a key")
		}

		// What credentials hands out is accepted exactly while it is valid.
		if pid == "" {
			pid = user
		}
		for _, d := range []time.Duration{-time.Hour, -time.Second, 0, time.Second, time.Hour} {
			expiry := clock().Add(d)
			u, p := ts.credentials(pid, expiry)
			if p != ts.password(u) {
				t.Fatal("password is not the username's")
			}
			_, ok := ts.auth(u, realm, addr)
			want := pid != "" && len(u) <= 128 && d > 0 && expiry.Unix() > now
			if ok != want {
				t.Fatalf("credentials(%q, now%+v) = %q: accepted %v", pid, d, u, ok)
			}
		}
	})
}
