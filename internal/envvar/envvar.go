// Package envvar describes environment variables for the packages that
// own them. An adapter (the Daily, Kaleyra and built-in video providers)
// lists its variables as [Var] values bound to its own Config; the command
// joins the lists, reads the environment in their order, says where each
// value came from and applies the rules that span packages.
//
// The package imports only the standard library, so that every adapter may
// import it without importing another adapter.
package envvar

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Doc documents one environment variable.
type Doc struct {
	// Name is the variable's name.
	Name string
	// Default is the value used when the variable is unset or empty,
	// as text for the documentation ("" when there is none).
	Default string
	// Description says what the variable does and which values it takes.
	Description string
	// Secret is true when the value is, or contains, a secret: it is never
	// printed nor repeated in error messages.
	Secret bool
	// Mia is true for the variables of Mia-Platform's Teleconsultation
	// Service Backend, false for Teleconsult's own.
	Mia bool
	// Unused is true for variables accepted for compatibility and ignored.
	Unused bool
}

// Var is one environment variable of a configuration C: its documentation
// and how to read it into C and show it.
type Var[C any] struct {
	Doc
	// Value is the default substituted for an empty value before Parse;
	// Doc.Default is its documentation.
	Value string
	// Parse validates v (trimmed, or Value) and stores it in c. Its error
	// says what is expected without naming the variable (the caller
	// prefixes the name) and, for a secret, without repeating v.
	Parse func(c *C, v string) error
	// Show returns what the effective configuration shows for c.
	Show func(c *C) Shown
}

// Read sets c from env through vars in order, as the command reads the
// environment (without its record of where each value came from): a value
// is trimmed, and an empty one takes the variable's Value. It stops at the
// first error, prefixed with the variable's name. Packages use it to test
// their own variables.
func Read[C any](vars []Var[C], c *C, env map[string]string) error {
	for _, v := range vars {
		raw := strings.TrimSpace(env[v.Name])
		if raw == "" {
			raw = v.Value
		}
		if err := v.Parse(c, raw); err != nil {
			return fmt.Errorf("%s: %w", v.Name, err)
		}
	}
	return nil
}

// Shown is how a variable's value is shown: the value, and optionally a
// source that overrides where the caller says it came from, and a note. A
// Masked value is composed by the Show function and printed as is; any
// other value is quoted by the caller if needed.
type Shown struct {
	Value, Source, Note string
	Masked              bool
}

// mask stands for a secret in a [Shown] value.
const mask = "******"

// SecretStatus shows whether a secret is set, never its value.
func SecretStatus(v string) Shown {
	if v == "" {
		return Shown{Masked: true, Value: "(not set)"}
	}
	return Shown{Masked: true, Value: mask + " (set)"}
}

// Bool parses a boolean as strconv.ParseBool does (true, false, 1, 0, and
// the t/f/TRUE/FALSE spellings), not yes/no/on/off.
func Bool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New("expected true or false (or 1 or 0)")
	}
	return b, nil
}

// BaseURL checks an absolute http(s) URL without credentials, query or
// fragment, and returns it without trailing slash.
func BaseURL(v string) (string, error) {
	u, err := url.Parse(v)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return "", errors.New("expected an absolute http:// or https:// URL")
	case u.User != nil:
		return "", errors.New("expected a URL without user name or password")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(v, "#"):
		return "", errors.New("expected a URL without query (?) or fragment (#)")
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// Origin returns raw as an origin, scheme://host[:port], if it is one: an
// http(s) URL without user, path (but "/"), query or fragment, and without
// characters that would change the meaning of a Content-Security-Policy.
func Origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" ||
		strings.ContainsAny(u.Host, " ;,'\"*") {
		return "", errors.New(strconv.Quote(raw) + " is not an origin such as https://example.org")
	}
	return u.Scheme + "://" + u.Host, nil
}

// HeaderSecret checks that a vendor's secret can be sent in an HTTP
// header: no spaces nor control characters. The error does not repeat it.
func HeaderSecret(v string) error {
	for _, r := range v {
		if r <= ' ' || r >= 0x7f {
			return errors.New("expected a key of visible ASCII characters, without spaces")
		}
	}
	return nil
}
