// Package web serves the call page: the page a participant opens from a
// personal link (GET /join/{code}), its scripts, styles and icons
// (GET /assets/{file}) and a device check page linked from invitations
// (GET /check).
//
// Everything is embedded in the binary: plain HTML, CSS and ES modules with
// no build step, no CDN and no external fonts. The page reads the link code
// from its own path, trades it for a session with POST /sessions, and then
// goes where the session's join says the visit runs: the built-in SFU over
// the signalling WebSocket described in docs/signalling.md (and the
// uploads API, all on the same origin), Daily Prebuilt in a frame of the
// page (the only origin its frame-src allows: [Config.CallOrigins]), or on
// to the participant's own Kaleyra link.
//
// Once the service has answered for the code, the page replaces its
// address with /join/visit (history.replaceState) and keeps the code in
// the tab's sessionStorage, so that a reload trades it again while the
// code is no longer in the address bar or the history.
//
// Assets are addressed with a version query (?v=<hash of every asset>)
// that the HTML and the ES module imports carry, so they can be cached for
// a year; the pages themselves are never cached. The pages hold no data,
// and the code is never written to a log here.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/teleconsult/teleconsult/internal/envvar"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

//go:embed static
var static embed.FS

// Config configures the pages.
type Config struct {
	// PublicURL is the base URL participants reach the service at
	// (PUBLIC_URL). Its host is allowed for the signalling WebSocket in the
	// Content-Security-Policy, next to 'self'. Optional.
	PublicURL string
	// LogoURL is the company logo (companyLogo.url of the JSON
	// configuration): an http(s) URL, whose origin is then allowed in
	// img-src, or an absolute path on this server. Optional.
	LogoURL string
	// FrameAncestors are the origins allowed to show the pages in an
	// iframe (FRAME_ANCESTORS), as scheme://host[:port]. Empty means none:
	// frame-ancestors 'none' and X-Frame-Options: DENY. Otherwise the
	// Content-Security-Policy lists exactly these origins and no
	// X-Frame-Options is sent (it cannot name several origins, and a DENY
	// would contradict the policy in browsers that read both).
	FrameAncestors []string
	// CallOrigins are the origins of a hosted video provider's call that
	// the call page shows in an iframe (the Daily domain's rooms), as
	// scheme://host[:port]. They alone are allowed in the call page's
	// frame-src, and the camera, microphone, screen capture and
	// fullscreen are delegated to them in its Permissions-Policy. An
	// origin may start with a wildcard subdomain (https://*.daily.co).
	// Empty means the call page frames nothing.
	CallOrigins []string
	// NetworkCheck says that the check page may test the connection to
	// this server (the built-in video provider's connection check, at
	// CheckPath). Without it the page checks the devices only: with a
	// hosted provider the media go to the provider's servers, which a
	// test to this one says nothing about.
	NetworkCheck bool
	// CheckPath is the connection check's WebSocket path, relative to the
	// check page (api/v1/telecons-be/check). Used with NetworkCheck.
	CheckPath string
	// Theme is the configured theme (theme of the JSON configuration),
	// which the check page shows; the call page gets its theme with the
	// session.
	Theme teleconsult.Theme
}

// Route is one route of the pages, for the HTTP server's mux. Every route
// is public: the page authenticates with the link code itself.
type Route struct {
	Method, Path string
	Handler      http.Handler
	// Static routes serve files that every page load fetches (scripts,
	// styles, images): worth a log line only when debugging.
	Static bool
}

// Pages serves the call page, the check page and their assets. Build it
// with [New]; it is safe for concurrent use.
type Pages struct {
	joinCSP  string
	checkCSP string
	// joinPermissions is the call page's Permissions-Policy.
	joinPermissions string
	// frameOptions is the X-Frame-Options value, or empty for none.
	frameOptions string
	join         []byte
	check        []byte
	assets       map[string]asset
	version      string
}

type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assetTypes are the content types of the asset kinds the page uses; a
// file of any other kind is not served.
var assetTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
	// The virtual background's segmentation runtime and model
	// (scripts/vendor-selfie-segmentation.sh).
	".wasm":     "application/wasm",
	".tflite":   "application/octet-stream",
	".binarypb": "application/octet-stream",
}

// relativeImport matches the static imports of the ES modules
// (from './x.js'), which get the version query like the HTML's references.
var relativeImport = regexp.MustCompile(`(from\s+['"]\./[a-z0-9_-]+\.js)(['"])`)

// New loads the embedded pages and assets and checks cfg.
func New(cfg Config) (*Pages, error) {
	check, err := contentSecurityPolicy(cfg, nil)
	if err != nil {
		return nil, err
	}
	calls := make([]string, 0, len(cfg.CallOrigins))
	for _, o := range cfg.CallOrigins {
		v, err := Origin(strings.Replace(o, "://*.", "://", 1))
		if err == nil && strings.Contains(o, "://*.") {
			v = strings.Replace(v, "://", "://*.", 1)
		}
		if err != nil {
			return nil, fmt.Errorf("web: call origin: %w", err)
		}
		calls = append(calls, v)
	}
	join, err := contentSecurityPolicy(cfg, calls)
	if err != nil {
		return nil, err
	}
	p := &Pages{joinCSP: join, checkCSP: check, joinPermissions: permissions(calls), frameOptions: "DENY", assets: map[string]asset{}}
	if len(cfg.FrameAncestors) > 0 {
		p.frameOptions = ""
	}
	files, err := fs.Glob(static, "static/assets/*")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	sum := sha256.New()
	raw := map[string][]byte{}
	for _, f := range files {
		b, err := static.ReadFile(f)
		if err != nil {
			return nil, err
		}
		name := path.Base(f)
		if assetTypes[path.Ext(name)] == "" {
			return nil, fmt.Errorf("web: asset %s: unknown kind", name)
		}
		raw[name] = b
		fmt.Fprintf(sum, "%s\x00%d\x00", name, len(b))
		sum.Write(b)
	}
	p.version = hex.EncodeToString(sum.Sum(nil))[:12]
	for name, b := range raw {
		if path.Ext(name) == ".js" {
			b = relativeImport.ReplaceAll(b, []byte("${1}?v="+p.version+"${2}"))
		}
		p.assets[name] = asset{body: b, contentType: assetTypes[path.Ext(name)], etag: `"` + p.version + `"`}
	}
	if p.join, err = p.page("static/join.html", "../", ""); err != nil {
		return nil, err
	}
	if p.check, err = p.page("static/check.html", "./", checkAttributes(cfg)); err != nil {
		return nil, err
	}
	return p, nil
}

// page reads an HTML page and fills in the base of its relative asset
// references ({{base}}), the assets' version ({{v}}) and the attributes of
// its html element ({{attrs}}). The references are relative so that the
// pages also work under a PUBLIC_URL with a path.
func (p *Pages) page(name, base, attrs string) ([]byte, error) {
	b, err := static.ReadFile(name)
	if err != nil {
		return nil, err
	}
	s := strings.NewReplacer("{{base}}", base, "{{v}}", p.version, "{{attrs}}", attrs).Replace(string(b))
	return []byte(s), nil
}

// themeColor is the form of a colour the pages accept (the call page's
// applyTheme checks the same).
var themeColor = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$`)

// checkAttributes are the check page's html attributes: the theme's
// colours (data-light-primary, …) and, with the network check, the path
// of its socket (data-check). The page's script reads them: the
// Content-Security-Policy allows no inline style or script.
func checkAttributes(cfg Config) string {
	var b strings.Builder
	for _, c := range []struct{ name, value string }{
		{"light-primary", cfg.Theme.Light.PrimaryColor}, {"light-accent", cfg.Theme.Light.AccentColor},
		{"dark-primary", cfg.Theme.Dark.PrimaryColor}, {"dark-accent", cfg.Theme.Dark.AccentColor},
	} {
		if themeColor.MatchString(c.value) {
			fmt.Fprintf(&b, ` data-%s="%s"`, c.name, c.value)
		}
	}
	if cfg.NetworkCheck && cfg.CheckPath != "" {
		fmt.Fprintf(&b, ` data-check="%s"`, html.EscapeString(cfg.CheckPath))
	}
	return b.String()
}

// contentSecurityPolicy is the policy of the two pages: scripts, styles and
// connections to this origin only, no inline code, DOM sinks closed by
// Trusted Types (the page builds its DOM without HTML strings), images from
// here, data:, blob: and the logo's origin, frames from the given call
// origins only, and shown in frames of cfg.FrameAncestors only.
//
// The virtual background needs two openings, both narrow:
// 'wasm-unsafe-eval' compiles the segmentation runtime's WebAssembly (it
// allows no JavaScript eval), and the Trusted Types policy named default,
// which background.js defines to let the runtime add its one script, this
// origin's vendored selfie-segmentation-wasm.js, and nothing else (it
// creates no HTML and no script text).
func contentSecurityPolicy(cfg Config, frames []string) (string, error) {
	img := "'self' data: blob:"
	if cfg.LogoURL != "" && !strings.HasPrefix(cfg.LogoURL, "/") {
		o, err := origin(cfg.LogoURL)
		if err != nil {
			return "", fmt.Errorf("web: logo URL: %w", err)
		}
		img += " " + o
	}
	connect := "'self'"
	if cfg.PublicURL != "" {
		o, err := origin(cfg.PublicURL)
		if err != nil {
			return "", fmt.Errorf("web: public URL: %w", err)
		}
		// 'self' covers ws: and wss: of the page's host in current
		// browsers; older ones need it spelled out.
		connect += " " + strings.Replace(strings.Replace(o, "https://", "wss://", 1), "http://", "ws://", 1)
	}
	ancestors := "'none'"
	if len(cfg.FrameAncestors) > 0 {
		list := make([]string, 0, len(cfg.FrameAncestors))
		for _, a := range cfg.FrameAncestors {
			o, err := Origin(a)
			if err != nil {
				return "", fmt.Errorf("web: frame ancestor: %w", err)
			}
			list = append(list, o)
		}
		ancestors = strings.Join(list, " ")
	}
	frameSrc := ""
	if len(frames) > 0 {
		frameSrc = "; frame-src " + strings.Join(frames, " ")
	}
	return "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src " + img +
		"; media-src 'self' blob:; connect-src " + connect + frameSrc +
		"; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors " + ancestors +
		"; require-trusted-types-for 'script'; trusted-types default", nil
}

// Origin checks that raw is an origin, scheme://host[:port] with scheme
// http or https and nothing after the host but an optional "/", and
// returns it without the slash. It is [envvar.Origin], the check of every
// origin given in the environment.
func Origin(raw string) (string, error) { return envvar.Origin(raw) }

// origin returns scheme://host[:port] of an absolute http(s) URL.
func origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.ContainsAny(u.Host, " ;'\"") {
		return "", fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

// Routes returns the routes of the pages.
func (p *Pages) Routes() []Route {
	return []Route{
		{http.MethodGet, "/join/{code}", http.HandlerFunc(p.serveJoin), false},
		{http.MethodGet, "/check", http.HandlerFunc(p.serveCheck), false},
		{http.MethodGet, "/assets/{file}", http.HandlerFunc(p.serveAsset), true},
	}
}

// Version is the version query of the assets (a hash of their content).
func (p *Pages) Version() string { return p.version }

func (p *Pages) serveJoin(w http.ResponseWriter, r *http.Request) {
	p.serveHTML(w, p.join, p.joinCSP, p.joinPermissions)
}

func (p *Pages) serveCheck(w http.ResponseWriter, r *http.Request) {
	p.serveHTML(w, p.check, p.checkCSP, permissions(nil))
}

// permissions is the Permissions-Policy of the pages: the camera, the
// microphone, screen capture and fullscreen for the page itself and the
// call origins it frames (nothing else it might embed), and nothing else
// of the kind for anyone. A page that embeds ours delegates the same
// features to us with its iframe's allow attribute.
func permissions(calls []string) string {
	self := "self"
	for _, o := range calls {
		self += ` "` + o + `"`
	}
	var b strings.Builder
	for _, f := range []string{"camera", "microphone", "display-capture", "fullscreen"} {
		b.WriteString(f + "=(" + self + "), ")
	}
	b.WriteString("geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), midi=()")
	return b.String()
}

func (p *Pages) serveHTML(w http.ResponseWriter, body []byte, csp, permissions string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	if p.frameOptions != "" {
		h.Set("X-Frame-Options", p.frameOptions)
	}
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Permissions-Policy", permissions)
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// serveAsset serves an embedded asset. Asked for with the current version
// query it is immutable and cached for a year; otherwise (an old page, a
// hand-typed URL) it must be revalidated.
func (p *Pages) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := p.assets[r.PathValue("file")]
	h := w.Header()
	if !ok {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("not found\n"))
		return
	}
	h.Set("Content-Type", a.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", a.etag)
	if r.URL.Query().Get("v") == p.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
