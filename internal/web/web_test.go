package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

func newServer(t *testing.T, cfg Config) (*Pages, *httptest.Server) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, r := range p.Routes() {
		mux.Handle(r.Method+" "+r.Path, r.Handler)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return p, srv
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Ensure the pages are never cached, send no referrer, and allow scripts,
// styles and connections from their own origin only.
func TestPageHeaders(t *testing.T) {
	_, srv := newServer(t, Config{PublicURL: "https://visit.example.org/tc", LogoURL: "https://cdn.example.com/logo.png"})
	for _, p := range []string{"/join/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", "/check"} {
		resp, body := get(t, srv.URL+p)
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("%s: %d %s", p, resp.StatusCode, h.Get("Content-Type"))
		}
		if h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", p, h)
		}
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{
			"default-src 'none'", "script-src 'self' 'wasm-unsafe-eval';", "style-src 'self';",
			"img-src 'self' data: blob: https://cdn.example.com;", "connect-src 'self' wss://visit.example.org;",
			"frame-ancestors 'none'", "require-trusted-types-for 'script'", "trusted-types default",
		} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		// 'wasm-unsafe-eval' compiles WebAssembly (the background's
		// segmentation) and allows no JavaScript eval.
		if strings.Contains(strings.Replace(csp, "'wasm-unsafe-eval'", "", 1), "unsafe") {
			t.Errorf("%s: CSP %q allows unsafe sources", p, csp)
		}
		if !strings.Contains(h.Get("Permissions-Policy"), "camera=(self)") {
			t.Errorf("%s: Permissions-Policy %q", p, h.Get("Permissions-Policy"))
		}
		if strings.Contains(body, "abcdefghijklmnopqrstuvwxyz") {
			t.Errorf("%s: the page repeats the link code", p)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, cfg := range []Config{{LogoURL: "javascript:alert(1)"}, {LogoURL: "logo.png"}, {PublicURL: "ftp://x"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	p, err := New(Config{LogoURL: "/static/logo.svg", PublicURL: "http://127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.joinCSP, "img-src 'self' data: blob:;") || !strings.Contains(p.joinCSP, "connect-src 'self' ws://127.0.0.1:8080;") {
		t.Errorf("CSP %q", p.joinCSP)
	}
}

var assetRef = regexp.MustCompile(`(?:\.\./|\./)assets/([a-z0-9_.-]+)\?v=([0-9a-f]+)`)

// Ensure every asset a page references exists, carries the current
// version, and is served with its content type and a year of caching; an
// unversioned or stale URL must be revalidated.
func TestAssets(t *testing.T) {
	p, srv := newServer(t, Config{})
	for _, page := range []string{"/join/x", "/check"} {
		_, body := get(t, srv.URL+page)
		refs := assetRef.FindAllStringSubmatch(body, -1)
		if len(refs) < 3 {
			t.Fatalf("%s references %d assets", page, len(refs))
		}
		for _, m := range refs {
			if m[2] != p.Version() {
				t.Errorf("%s: %s has version %s, want %s", page, m[1], m[2], p.Version())
			}
			resp, _ := get(t, srv.URL+"/assets/"+m[1]+"?v="+m[2])
			if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
				t.Errorf("%s: %d %v", m[1], resp.StatusCode, resp.Header)
			}
		}
	}
	types := map[string]string{"join.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8", "icon.svg": "image/svg+xml"}
	for name, ct := range types {
		resp, _ := get(t, srv.URL+"/assets/"+name)
		if resp.Header.Get("Content-Type") != ct || resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %v", name, resp.Header)
		}
		etag := resp.Header.Get("ETag")
		if resp, _ := get(t, srv.URL+"/assets/"+name, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: %d", name, resp.StatusCode)
		}
	}
	for _, bad := range []string{"nope.js", "..%2fweb.go", "join.html"} {
		if resp, _ := get(t, srv.URL+"/assets/"+bad); resp.StatusCode != 404 {
			t.Errorf("%s: %d", bad, resp.StatusCode)
		}
	}
}

var importRE = regexp.MustCompile(`(?m)^import .* from '([^']+)';`)

// Ensure the ES modules import each other with the version query (else a
// cached old module could meet a new one), and only files that exist.
func TestModuleImports(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for name, a := range p.assets {
		if path.Ext(name) != ".js" {
			continue
		}
		for _, m := range importRE.FindAllStringSubmatch(string(a.body), -1) {
			n++
			file, v, ok := strings.Cut(strings.TrimPrefix(m[1], "./"), "?v=")
			if !ok || v != p.Version() || !strings.HasPrefix(m[1], "./") {
				t.Errorf("%s imports %s without the version", name, m[1])
			}
			if _, ok := p.assets[file]; !ok {
				t.Errorf("%s imports %s, which does not exist", name, file)
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d imports found", n)
	}
}

// Ensure the pages hold no inline script or style (the CSP forbids them)
// and the scripts build no HTML from strings (Trusted Types forbids it).
func TestNoInlineCodeNorHTMLStrings(t *testing.T) {
	for _, name := range []string{"static/join.html", "static/check.html"} {
		b, _ := static.ReadFile(name)
		s := string(b)
		if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(s) || strings.Contains(s, "style=") ||
			regexp.MustCompile(`\son[a-z]+=`).MatchString(s) || strings.Contains(s, "<style") {
			t.Errorf("%s has inline code or style", name)
		}
	}
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\('style'|console\.(error|log)`)
	files, _ := fs.Glob(static, "static/assets/*.js")
	for _, f := range files {
		if _, ok := vendoredBackground[path.Base(f)]; vendored[path.Base(f)] || ok {
			continue // checked against its pinned sums (vendor_test.go, vendor_background_test.go)
		}
		b, _ := static.ReadFile(f)
		if m := sinks.FindString(string(b)); m != "" {
			t.Errorf("%s uses %s", f, m)
		}
	}
}

var (
	dictRE   = regexp.MustCompile(`(?s)\n  (en|it): \{\n(.*?)\n  \},`)
	keyRE    = regexp.MustCompile(`(?m)^\s+'?([A-Za-z0-9.-]+)'?: '`)
	tLiteral = regexp.MustCompile(`\bt\('([A-Za-z0-9.-]+)'\s*[,)]`)
)

// Ensure English and Italian have the same texts, and every text the
// scripts ask for exists, the ones they compose included.
func TestTexts(t *testing.T) {
	b, _ := static.ReadFile("static/assets/i18n.js")
	dicts := map[string][]string{}
	for _, m := range dictRE.FindAllStringSubmatch(string(b), -1) {
		for _, k := range keyRE.FindAllStringSubmatch(m[2], -1) {
			dicts[m[1]] = append(dicts[m[1]], k[1])
		}
	}
	en, it := dicts["en"], dicts["it"]
	if len(en) < 100 {
		t.Fatalf("found %d English texts", len(en))
	}
	for _, k := range en {
		if !slices.Contains(it, k) {
			t.Errorf("%s: no Italian text", k)
		}
	}
	for _, k := range it {
		if !slices.Contains(en, k) {
			t.Errorf("%s: no English text", k)
		}
	}
	used := map[string]bool{}
	files, _ := fs.Glob(static, "static/assets/*.js")
	for _, f := range files {
		b, _ := static.ReadFile(f)
		for _, m := range tLiteral.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	// Keys the scripts compose from a kind.
	for _, p := range []string{"denied", "notfound", "inuse", "failed"} {
		used["dev."+p+".audio"], used["dev."+p+".video"] = true, true
	}
	for _, r := range []string{"expired", "revoked", "cancelled", "call-ended", "replaced", "left", "other"} {
		used["end."+r+".title"] = true
		if r != "other" {
			used["end."+r+".text"] = true
		}
	}
	for _, g := range []string{"cancelled", "rescheduled", "revoked", "changed", "ended", "other"} {
		used["gone."+g+".title"] = true
		if g != "other" {
			used["gone."+g+".text"] = true
		}
	}
	for _, r := range []string{"toomany", "offline", "notready"} {
		used[r+".title"], used[r+".text"] = true, true
	}
	for k := range used {
		if !slices.Contains(en, k) {
			t.Errorf("the scripts use %q, which has no text", k)
		}
	}
}

// Ensure who may frame the pages, and what the call page may frame, follow
// the configuration: by default nobody frames them (CSP and X-Frame-Options
// agree) and the call page frames nothing; with FRAME_ANCESTORS exactly
// those origins, with no X-Frame-Options to contradict them; with a call
// origin, the call page (and not the check page) frames exactly it and
// delegates the camera and microphone to it.
func TestFraming(t *testing.T) {
	tests := []struct {
		name                 string
		cfg                  Config
		ancestors, frameSrc  string
		xfo, joinPermissions string
	}{
		{"default", Config{}, "frame-ancestors 'none'", "", "DENY", `camera=(self), microphone=(self)`},
		{"embedded", Config{FrameAncestors: []string{"https://portal.example.org", "http://127.0.0.1:9000/"}},
			"frame-ancestors https://portal.example.org http://127.0.0.1:9000;", "", "", `camera=(self)`},
		{"daily", Config{CallOrigins: []string{"https://acme.daily.co"}}, "frame-ancestors 'none'",
			"frame-src https://acme.daily.co;", "DENY",
			`camera=(self "https://acme.daily.co"), microphone=(self "https://acme.daily.co"), display-capture=(self "https://acme.daily.co"), fullscreen=(self "https://acme.daily.co")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newServer(t, tt.cfg)
			for _, p := range []string{"/join/x", "/check"} {
				resp, _ := get(t, srv.URL+p)
				csp := resp.Header.Get("Content-Security-Policy")
				if !strings.Contains(csp, tt.ancestors) || strings.Count(csp, "frame-ancestors") != 1 {
					t.Errorf("%s: CSP %q, want %q", p, csp, tt.ancestors)
				}
				if got := resp.Header.Get("X-Frame-Options"); got != tt.xfo {
					t.Errorf("%s: X-Frame-Options %q, want %q", p, got, tt.xfo)
				}
				pp := resp.Header.Get("Permissions-Policy")
				switch {
				case p == "/check":
					if strings.Contains(csp, "frame-src") || !strings.Contains(pp, "camera=(self),") {
						t.Errorf("%s: CSP %q, Permissions-Policy %q: the check page frames nothing", p, csp, pp)
					}
				case tt.frameSrc == "":
					if strings.Contains(csp, "frame-src") {
						t.Errorf("%s: CSP %q frames something", p, csp)
					}
				default:
					if !strings.Contains(csp, tt.frameSrc) {
						t.Errorf("%s: CSP %q, want %q", p, csp, tt.frameSrc)
					}
				}
				if p == "/join/x" && !strings.Contains(pp, tt.joinPermissions) {
					t.Errorf("%s: Permissions-Policy %q, want %q", p, pp, tt.joinPermissions)
				}
			}
		})
	}
	p, err := New(Config{CallOrigins: []string{"https://*.daily.co"}})
	if err != nil || !strings.Contains(p.joinCSP, "frame-src https://*.daily.co;") || !strings.Contains(p.joinPermissions, `camera=(self "https://*.daily.co")`) {
		t.Errorf("a wildcard call origin: %v %q %q", err, p.joinCSP, p.joinPermissions)
	}
	if _, err := New(Config{FrameAncestors: []string{"https://*.x.org"}}); err == nil {
		t.Error("a wildcard frame ancestor accepted")
	}
	for _, bad := range []string{"portal.example.org", "https://x.org/path", "https://x.org?q", "ftp://x.org", "https://*", "https://x.*.org", "https://a.org https://b.org", "'self'"} {
		if _, err := New(Config{FrameAncestors: []string{bad}}); err == nil {
			t.Errorf("frame ancestor %q accepted", bad)
		}
		if _, err := New(Config{CallOrigins: []string{bad}}); err == nil {
			t.Errorf("call origin %q accepted", bad)
		}
	}
}

// FuzzOrigin feeds Origin what FRAME_ANCESTORS and DAILY_DOMAIN might hold:
// it never panics, and what it accepts is a bare http(s) origin that is
// safe in a Content-Security-Policy (no space, quote, semicolon, comma or
// wildcard) and a fixed point.
func FuzzOrigin(f *testing.F) {
	for _, s := range []string{"https://portal.example.org", "http://127.0.0.1:9000/", "https://a.org https://b.org", "'self'", "https://x.org;script-src *", "https://[::1]:8080", "https://*.x.org"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		o, err := Origin(raw)
		if err != nil {
			return
		}
		if !strings.HasPrefix(o, "https://") && !strings.HasPrefix(o, "http://") {
			t.Fatalf("Origin(%q) = %q", raw, o)
		}
		if _, host, _ := strings.Cut(o, "://"); host == "" || strings.ContainsAny(host, " \t\r\n;,'\"*/?#\\") {
			t.Fatalf("Origin(%q) = %q: not safe in a policy", raw, o)
		}
		if again, err := Origin(o); err != nil || again != o {
			t.Fatalf("Origin(%q) = %q, then %q %v", raw, o, again, err)
		}
	})
}

// Ensure the check page carries the theme's colours (only well-formed
// ones) and the connection check's path only with the built-in provider.
func TestCheckPageAttributes(t *testing.T) {
	var theme teleconsult.Theme
	theme.Light.AccentColor, theme.Light.PrimaryColor = "#480ca8", `red" onload="x`
	theme.Dark.AccentColor = "#d62828"
	for _, tt := range []struct {
		network bool
		want    string
	}{
		{false, `<html lang="en" data-light-accent="#480ca8" data-dark-accent="#d62828">`},
		{true, `<html lang="en" data-light-accent="#480ca8" data-dark-accent="#d62828" data-check="api/v1/telecons-be/check">`},
	} {
		p, err := New(Config{Theme: theme, NetworkCheck: tt.network, CheckPath: "api/v1/telecons-be/check"})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		p.serveCheck(w, httptest.NewRequest("GET", "/check", nil))
		if body := w.Body.String(); !strings.Contains(body, tt.want) {
			t.Errorf("network %v: page starts\n%s\nwant %s", tt.network, body[:min(len(body), 200)], tt.want)
		}
		if strings.Contains(string(p.join), "data-check") {
			t.Error("the call page got the check's attributes")
		}
	}
}
