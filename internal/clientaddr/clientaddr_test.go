package clientaddr

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestParseTrusted(t *testing.T) {
	for _, tt := range []struct {
		in, want, err string
	}{
		{"", "", ""},
		{"   ", "", ""},
		{"10.0.0.0/8", "10.0.0.0/8", ""},
		{" 10.0.0.0/8 , fd00::/8 ", "10.0.0.0/8,fd00::/8", ""},
		{"192.0.2.7", "192.0.2.7/32", ""},
		{"::1", "::1/128", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{"::ffff:10.0.0.1", "10.0.0.1/32", ""},
		{"10.0.0.1/8", "", `entry 1 "10.0.0.1/8": host bits set; did you mean 10.0.0.0/8?`},
		{"10.0.0.0/8,", "", "entry 2 is empty"},
		{"10.0.0.0/33", "", `entry 1 "10.0.0.0/33": expected a CIDR`},
		{"proxy.internal", "", `entry 1 "proxy.internal": expected an IP address or a CIDR`},
		{"fe80::1%eth0", "", "expected an IP address"},
		{"::ffff:0.0.0.0/64", "", "at least /96"},
		{"10.0.0.0/8 fd00::/8", "", "entry 1"},
	} {
		got, err := ParseTrusted(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseTrusted(%q) error %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("ParseTrusted(%q): %v", tt.in, err)
		case tt.err == "" && got.String() != tt.want:
			t.Errorf("ParseTrusted(%q) = %q, want %q", tt.in, got.String(), tt.want)
		}
	}
}

func req(remote string, xff ...string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = remote
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

// Ensure the client address is the peer unless the peer is trusted, and
// then the rightmost untrusted X-Forwarded-For hop.
func TestResolve(t *testing.T) {
	tr, err := ParseTrusted("10.0.0.0/8,fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		r      *http.Request
		want   string
		viaPrx bool
	}{
		{"untrusted peer, no header", req("203.0.113.5:4000"), "203.0.113.5", false},
		{"untrusted peer: header ignored", req("203.0.113.5:4000", "198.51.100.1"), "203.0.113.5", false},
		{"trusted peer, no header", req("10.1.2.3:4000"), "10.1.2.3", true},
		{"trusted peer, one client", req("10.1.2.3:4000", "198.51.100.1"), "198.51.100.1", true},
		{"spoofed left entry ignored", req("10.1.2.3:4000", "1.1.1.1, 198.51.100.1"), "198.51.100.1", true},
		{"chain of trusted proxies", req("10.1.2.3:4000", "198.51.100.1, 10.9.9.9, 10.8.8.8"), "198.51.100.1", true},
		{"several header lines", req("10.1.2.3:4000", "1.1.1.1, 198.51.100.1", "10.9.9.9"), "198.51.100.1", true},
		{"all trusted: leftmost", req("10.1.2.3:4000", "10.7.7.7, 10.8.8.8"), "10.7.7.7", true},
		{"garbage right of client: last trusted hop", req("10.1.2.3:4000", "198.51.100.1, nonsense"), "10.1.2.3", true},
		{"garbage left of client ignored", req("10.1.2.3:4000", "nonsense, 198.51.100.1"), "198.51.100.1", true},
		{"entry with port", req("10.1.2.3:4000", "198.51.100.1:5555"), "198.51.100.1", true},
		{"bracketed v6 with port", req("10.1.2.3:4000", "[2001:db8::1]:5555"), "2001:db8::1", true},
		{"v6 peer trusted", req("[fd00::1]:4000", "2001:db8::7"), "2001:db8::7", true},
		{"mapped v4 peer trusted", req("[::ffff:10.1.2.3]:4000", "198.51.100.1"), "198.51.100.1", true},
		{"mapped v4 client unmapped", req("10.1.2.3:4000", "::ffff:198.51.100.1"), "198.51.100.1", true},
		{"empty header line", req("10.1.2.3:4000", ""), "10.1.2.3", true},
		{"unreadable peer", req("pipe"), "invalid IP", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, via := tr.Resolve(tt.r)
			if got.String() != tt.want || via != tt.viaPrx {
				t.Errorf("Resolve = %s %v, want %s %v", got, via, tt.want, tt.viaPrx)
			}
		})
	}
	var none *Trusted
	if got, via := none.Resolve(req("10.1.2.3:1", "198.51.100.1")); got.String() != "10.1.2.3" || via {
		t.Errorf("nil Trusted: %s %v", got, via)
	}
}

func TestHopLimit(t *testing.T) {
	tr, _ := ParseTrusted("10.0.0.0/8")
	long := "198.51.100.1" + strings.Repeat(", 10.0.0.1", 100)
	if got, _ := tr.Resolve(req("10.1.2.3:1", long)); got.String() != "10.0.0.1" {
		t.Errorf("past the hop limit: %s, want the last trusted hop read", got)
	}
}

func TestContextAndKey(t *testing.T) {
	r := req("192.0.2.1:1")
	if Of(r).String() != "192.0.2.1" || ViaTrustedProxy(r) {
		t.Errorf("without WithAddr: %s %v", Of(r), ViaTrustedProxy(r))
	}
	r = WithAddr(r, netip.MustParseAddr("198.51.100.9"), true)
	if Of(r).String() != "198.51.100.9" || !ViaTrustedProxy(r) {
		t.Errorf("with WithAddr: %s %v", Of(r), ViaTrustedProxy(r))
	}
	for in, want := range map[string]string{"192.0.2.1": "192.0.2.1", "2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64", "": "unknown"} {
		a, _ := netip.ParseAddr(in)
		if got := Key(a); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzResolve checks that any header gives a valid address that is the
// peer, or one of the header's entries, never a trusted one unless every
// hop read was trusted.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"", "198.51.100.1", "1.1.1.1, 10.0.0.1", "nonsense,,", "[::1]:80, ::ffff:1.2.3.4", strings.Repeat("10.0.0.1,", 40)} {
		f.Add("10.1.2.3:4000", s)
		f.Add("203.0.113.5:1", s)
	}
	tr, _ := ParseTrusted("10.0.0.0/8,fd00::/8")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := req(remote, xff)
		got, via := tr.Resolve(r)
		peer := Peer(r)
		if !via {
			if got != peer {
				t.Fatalf("untrusted peer %s gave %s", peer, got)
			}
			return
		}
		if got != peer {
			found := false
			for _, e := range strings.Split(xff, ",") {
				if Parse(strings.TrimSpace(e)) == got {
					found = true
				}
			}
			if !found {
				t.Fatalf("client %s is neither the peer %s nor an entry of %q", got, peer, xff)
			}
		}
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("address %s not normalised", got)
		}
	})
}

// FuzzParseTrusted checks that a parsed list prints as a list that parses
// to itself.
func FuzzParseTrusted(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::1", "10.0.0.0/8, fd00::/8", "::ffff:10.0.0.0/104", "x", "1.2.3.4/99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := ParseTrusted(s)
		if err != nil {
			return
		}
		again, err := ParseTrusted(tr.String())
		if err != nil || again.String() != tr.String() {
			t.Fatalf("%q → %q → %v %v", s, tr.String(), again, err)
		}
	})
}
