package envvar

import (
	"errors"
	"strings"
	"testing"
)

// Ensure the shared parsers accept what they document and refuse the
// rest, saying what is expected.
func TestParsers(t *testing.T) {
	for _, tt := range []struct {
		name    string
		f       func(string) (string, error)
		in, out string // out "" means refused
	}{
		{"BaseURL", BaseURL, "https://api.daily.co/v1/", "https://api.daily.co/v1"},
		{"BaseURL", BaseURL, "HTTP://127.0.0.1:9//", "http://127.0.0.1:9"},
		{"BaseURL", BaseURL, "api.daily.co", ""},
		{"BaseURL", BaseURL, "ftp://x", ""},
		{"BaseURL", BaseURL, "https://u:p@x", ""},
		{"BaseURL", BaseURL, "https://x/?a=1", ""},
		{"BaseURL", BaseURL, "https://x/#f", ""},
		{"Origin", Origin, "https://portal.example.org/", "https://portal.example.org"},
		{"Origin", Origin, "http://127.0.0.1:9000", "http://127.0.0.1:9000"},
		{"Origin", Origin, "https://portal.example.org/app", ""},
		{"Origin", Origin, "https://*.example.org", ""},
		{"Origin", Origin, "'self'", ""},
		{"Bool", func(v string) (string, error) {
			b, err := Bool(v)
			if b {
				return "true", err
			}
			return "false", err
		}, "1", "true"},
	} {
		got, err := tt.f(tt.in)
		switch {
		case tt.out == "" && err == nil:
			t.Errorf("%s(%q) = %q, want an error", tt.name, tt.in, got)
		case tt.out != "" && (err != nil || got != tt.out):
			t.Errorf("%s(%q) = %q, %v; want %q", tt.name, tt.in, got, err, tt.out)
		case err != nil && !strings.Contains(err.Error(), "expected") && !strings.Contains(err.Error(), "is not an origin"):
			t.Errorf("%s(%q): %v does not say what is expected", tt.name, tt.in, err)
		}
	}
	for _, v := range []string{"yes", "on", ""} {
		if _, err := Bool(v); err == nil || err.Error() != "expected true or false (or 1 or 0)" {
			t.Errorf("Bool(%q): %v", v, err)
		}
	}
	for _, tt := range []struct {
		v  string
		ok bool
	}{{"ak_live_123", true}, {"", true}, {"a b", false}, {"a\tb", false}, {"clé", false}} {
		if err := HeaderSecret(tt.v); (err == nil) != tt.ok || err != nil && strings.Contains(err.Error(), tt.v) {
			t.Errorf("HeaderSecret(%q): %v", tt.v, err)
		}
	}
	if s := SecretStatus("x"); !s.Masked || s.Value != "****** (set)" {
		t.Errorf("set secret shown %+v", s)
	}
	if s := SecretStatus(""); !s.Masked || s.Value != "(not set)" {
		t.Errorf("unset secret shown %+v", s)
	}
}

// FuzzBaseURL checks that an accepted base URL has no credentials, query
// or fragment, and no trailing slash, and reads back as itself.
func FuzzBaseURL(f *testing.F) {
	for _, s := range []string{"https://api.daily.co/v1/", "http://127.0.0.1:9", "https://u:p@x", "https://x/a b", "https://x/%2F/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		u, err := BaseURL(v)
		if err != nil {
			return
		}
		if strings.ContainsAny(u, "?#@") || strings.HasSuffix(u, "/") ||
			!strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			t.Fatalf("BaseURL(%q) = %q", v, u)
		}
		if again, err := BaseURL(u); err != nil || again != u {
			t.Fatalf("BaseURL(%q) = %q, then %q %v", v, u, again, err)
		}
	})
}

// Ensure Read trims values, gives an empty one the variable's Value, and
// stops at the first error, prefixed with the variable's name.
func TestRead(t *testing.T) {
	type conf struct{ a, b string }
	set := func(f func(c *conf, v string)) func(c *conf, v string) error {
		return func(c *conf, v string) error {
			if v == "bad" {
				return errors.New("expected good")
			}
			f(c, v)
			return nil
		}
	}
	vars := []Var[conf]{
		{Doc: Doc{Name: "A"}, Value: "dflt", Parse: set(func(c *conf, v string) { c.a = v })},
		{Doc: Doc{Name: "B"}, Parse: set(func(c *conf, v string) { c.b = v })},
	}
	var c conf
	if err := Read(vars, &c, map[string]string{"B": "  x "}); err != nil || c != (conf{"dflt", "x"}) {
		t.Fatalf("Read = %+v, %v", c, err)
	}
	if err := Read(vars, &c, map[string]string{"A": "bad", "B": "bad"}); err == nil || err.Error() != "A: expected good" {
		t.Fatalf("Read error %v, want A's", err)
	}
}
