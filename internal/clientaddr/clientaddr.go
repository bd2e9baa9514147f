// Package clientaddr finds the address of the client behind an HTTP
// request: the connection's peer, or, when the peer is a trusted proxy
// (TRUSTED_PROXIES), the rightmost address of X-Forwarded-For that is not a
// trusted proxy itself. X-Forwarded-For from any other peer is ignored, so
// a client cannot choose its own address.
//
// The HTTP server resolves the address once per request and stores it in
// the request's context ([WithAddr]); any handler, whichever package it
// lives in, reads it with [Of]. It is a library, not an adapter: it holds
// no rules of the service.
package clientaddr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxHops bounds how many X-Forwarded-For entries are read, from the
// right: no real chain of proxies is longer.
const maxHops = 32

// Trusted is a set of proxy networks. The zero value and nil trust
// nothing. It is safe for concurrent use.
type Trusted struct {
	prefixes []netip.Prefix
}

// ParseTrusted parses a comma-separated list of networks in CIDR notation
// (10.0.0.0/8, fd00::/8) or single addresses (192.0.2.7, meaning /32 or
// /128). Spaces around entries are ignored; an empty list trusts nothing.
// A network with host bits set (10.0.0.1/8) is refused as a likely typo.
// The error names the bad entry by position and quotes it.
func ParseTrusted(s string) (*Trusted, error) {
	t := &Trusted{}
	if strings.TrimSpace(s) == "" {
		return t, nil
	}
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("entry %d is empty; expected comma-separated CIDRs such as 10.0.0.0/8,fd00::/8", i+1)
		}
		p, err := parsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("entry %d %q: %w", i+1, part, err)
		}
		t.prefixes = append(t.prefixes, p)
	}
	return t, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, errors.New("expected an IP address or a CIDR such as 10.0.0.0/8")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("expected a CIDR such as 10.0.0.0/8 or fd00::/8")
	}
	if p.Addr().Is4In6() {
		// ::ffff:10.0.0.0/104 is 10.0.0.0/8: compare unmapped addresses.
		if p.Bits() < 96 {
			return netip.Prefix{}, errors.New("an IPv4-mapped network needs at least /96")
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("host bits set; did you mean %s?", p.Masked())
	}
	return p, nil
}

// Len returns the number of networks trusted.
func (t *Trusted) Len() int {
	if t == nil {
		return 0
	}
	return len(t.prefixes)
}

// String lists the trusted networks, comma-separated.
func (t *Trusted) String() string {
	if t == nil {
		return ""
	}
	s := make([]string, len(t.prefixes))
	for i, p := range t.prefixes {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// Contains reports whether a is in a trusted network.
func (t *Trusted) Contains(a netip.Addr) bool {
	if t == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Peer returns the address of r's connection peer (r.RemoteAddr), or the
// zero Addr when it cannot be read.
func Peer(r *http.Request) netip.Addr {
	return Parse(r.RemoteAddr)
}

// Parse reads an address written "host:port", "[v6]:port" or bare, as in
// r.RemoteAddr or an X-Forwarded-For entry. It returns the address
// unmapped (::ffff:192.0.2.1 is 192.0.2.1) and without zone, or the zero
// Addr when s holds none.
func Parse(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// Resolve returns the client address of r and whether r came through a
// trusted proxy. When the peer is not trusted, the client is the peer and
// X-Forwarded-For is ignored. When it is, the X-Forwarded-For entries (all
// the header's lines, in order) are read from the right: the first one that
// is not a trusted proxy is the client. A malformed entry ends the walk
// there, and the client is the last trusted hop seen: whatever stands left
// of it was written by someone we do not trust. If every entry is trusted,
// the leftmost is the client.
func (t *Trusted) Resolve(r *http.Request) (client netip.Addr, viaProxy bool) {
	peer := Peer(r)
	if !t.Contains(peer) {
		return peer, false
	}
	client = peer
	hops := 0
	vals := r.Header.Values("X-Forwarded-For")
	for i := len(vals) - 1; i >= 0; i-- {
		entries := strings.Split(vals[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			if hops++; hops > maxHops {
				return client, true
			}
			e := strings.TrimSpace(entries[j])
			if e == "" && len(entries) == 1 {
				continue // an empty header line
			}
			a := Parse(e)
			if !a.IsValid() {
				return client, true
			}
			client = a
			if !t.Contains(a) {
				return client, true
			}
		}
	}
	return client, true
}

type ctxKey struct{}

// info is what the server stores per request.
type info struct {
	addr     netip.Addr
	viaProxy bool
}

// WithAddr returns r with its client address (and whether it came through
// a trusted proxy) stored for [Of] and [ViaTrustedProxy].
func WithAddr(r *http.Request, addr netip.Addr, viaProxy bool) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), ctxKey{}, info{addr, viaProxy}))
}

// Of returns the client address of r: the one stored by the server with
// [WithAddr], or else the connection's peer. It is the zero Addr when
// neither can be read.
func Of(r *http.Request) netip.Addr {
	if in, ok := r.Context().Value(ctxKey{}).(info); ok {
		return in.addr
	}
	return Peer(r)
}

// ViaTrustedProxy reports whether the server found r to come from a
// trusted proxy.
func ViaTrustedProxy(r *http.Request) bool {
	in, _ := r.Context().Value(ctxKey{}).(info)
	return in.viaProxy
}

// Key is a rate-limit key for a client address: the IPv4 address, or the
// IPv6 /64 (one host usually holds a whole /64), or "unknown".
func Key(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
