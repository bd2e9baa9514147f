package httpapi

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/teleconsult/teleconsult/internal/clientaddr"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Prefix is the base path of the Mia-compatible API: Mia's frontend
// hard-codes it.
const Prefix = "/api/v1/telecons-be"

// DefaultMaxBodyBytes is the request body limit when [Config.MaxBodyBytes]
// is 0: 1 MiB.
const DefaultMaxBodyBytes = 1 << 20

// Config configures a [Server].
type Config struct {
	// Service runs the rules; required.
	Service *teleconsult.Service
	// APIKeyHashes are the SHA-256 digests (32 bytes each) of the accepted
	// API keys; at least one is required. Keys are compared in constant
	// time.
	APIKeyHashes [][]byte
	// UserIDPath is userIdPathInRequest, already validated. Empty means
	// Service.Settings.Config.UserIDPathInRequest.
	UserIDPath []teleconsult.PathStep
	// MaxBodyBytes limits request bodies; 0 means [DefaultMaxBodyBytes].
	MaxBodyBytes int64
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// Registry receives the metrics; nil means a new registry that also
	// holds the Go runtime and process collectors.
	Registry *prometheus.Registry
	// Version is the binary's version, shown in the API document.
	Version string
	// Now is the clock of the rate limiter; nil means time.Now.
	Now func() time.Time
	// TrustedProxies are the proxies (TRUSTED_PROXIES) whose
	// X-Forwarded-For gives the client address; nil trusts none.
	TrustedProxies *clientaddr.Trusted
	// TrustGatewayIdentity (TRUST_GATEWAY_IDENTITY) lets a trusted proxy
	// call the routes that act for a user without an API key, the user
	// being the one UserIDPath finds (as Mia-Platform's API gateway
	// sends it). It needs TrustedProxies.
	TrustGatewayIdentity bool
	// Timeouts are the time limits of requests (see [Timeouts]); the
	// http.Server should set only ReadHeaderTimeout and IdleTimeout.
	Timeouts Timeouts
	// HSTS sends Strict-Transport-Security on every response: set it when
	// clients reach the service over https, even when a reverse proxy
	// terminates TLS and forwards plain http.
	HSTS bool
	// Mounts are more routes served with the same middleware (request id,
	// security headers, recovery, logging, metrics): the call page, the
	// signalling WebSocket. A mounted handler may override the headers
	// (for example the Content-Security-Policy of an HTML page). Each must
	// be described in the OpenAPI document.
	Mounts []Mount
}

// Mount is a route served by a handler from another package.
type Mount struct {
	Method, Path string
	// Public routes need no API key; the handler authenticates itself.
	Public  bool
	Handler http.Handler
	// Quiet routes (static assets) log their requests at debug level
	// instead of info.
	Quiet bool
}

// Server is the HTTP API. Build it with [New]; it is safe for concurrent
// use.
type Server struct {
	svc       *teleconsult.Service
	keyHashes [][]byte
	userPath  []teleconsult.PathStep
	trusted   *clientaddr.Trusted
	gateway   bool
	maxBody   int64
	log       *slog.Logger
	now       func() time.Time
	timeouts  Timeouts
	hsts      bool

	routes  []route
	mux     *http.ServeMux
	limiter *ipLimiter
	metrics *metrics
	docs    *apiDocs
	// quiet holds the mux patterns of the routes logged at debug level.
	quiet map[string]bool
}

// route is one registered operation.
type route struct {
	method string
	path   string
	// public routes need no API key.
	public bool
	handle func(http.ResponseWriter, *http.Request) error
}

func (rt route) pattern() string { return rt.method + " " + rt.path }

// muxPath is the route's path as a [http.ServeMux] pattern: "/" matches
// only itself ("/{$}"), not every path.
func (rt route) muxPath() string {
	if rt.path == "/" {
		return "/{$}"
	}
	return rt.path
}

// New checks cfg and returns a server with every route registered and its
// metrics registered in cfg.Registry.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil || cfg.Service.Store == nil {
		return nil, errors.New("httpapi: Config.Service with a Store is required")
	}
	if len(cfg.APIKeyHashes) == 0 {
		return nil, errors.New("httpapi: at least one API key hash is required")
	}
	for i, h := range cfg.APIKeyHashes {
		if len(h) != 32 {
			return nil, fmt.Errorf("httpapi: APIKeyHashes[%d]: a SHA-256 digest is 32 bytes, got %d", i, len(h))
		}
	}
	s := &Server{
		svc:       cfg.Service,
		keyHashes: cfg.APIKeyHashes,
		userPath:  cfg.UserIDPath,
		trusted:   cfg.TrustedProxies,
		gateway:   cfg.TrustGatewayIdentity,
		maxBody:   cfg.MaxBodyBytes,
		log:       cfg.Logger,
		now:       cfg.Now,
		timeouts:  cfg.Timeouts.withDefaults(),
		hsts:      cfg.HSTS,
		limiter:   newIPLimiter(sessionRate, sessionBurst, maxLimitedClients),
	}
	if len(s.userPath) == 0 {
		s.userPath = cfg.Service.Settings.Config.UserIDPathInRequest
	}
	if err := checkUserPath(s.userPath); err != nil {
		return nil, err
	}
	if s.gateway && s.trusted.Len() == 0 {
		return nil, errors.New("httpapi: TrustGatewayIdentity needs TrustedProxies")
	}
	if s.maxBody < 0 {
		return nil, errors.New("httpapi: MaxBodyBytes must not be negative")
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	var err error
	if s.metrics, err = newMetrics(reg, cfg.Service, s.log); err != nil {
		return nil, err
	}
	check := slices.ContainsFunc(cfg.Mounts, func(m Mount) bool { return m.Method == http.MethodGet && m.Path == "/check" })
	if s.docs, err = loadDocs(cfg.Version, check); err != nil {
		return nil, err
	}
	s.routes = []route{
		{"POST", Prefix + "/teleconsultation", false, s.handleCreate},
		{"GET", Prefix + "/teleconsultation/{id}", false, s.handleGet},
		{"PATCH", Prefix + "/teleconsultation/{id}", false, s.handleUpdate},
		{"DELETE", Prefix + "/teleconsultation/{id}", false, s.handleDelete},
		{"POST", Prefix + "/teleconsultation/{id}/participants/data", false, s.handleAddParticipant},
		{"POST", Prefix + "/teleconsultation/{id}/uploads", true, s.handleUpload},
		{"GET", Prefix + "/teleconsultation/{id}/uploads", true, s.handleListUploads},
		{"GET", Prefix + "/teleconsultation/{id}/uploads/{fileId}", true, s.handleDownload},
		{"DELETE", Prefix + "/teleconsultation/{id}/uploads", true, s.handleDeleteUploads},
		{"POST", Prefix + "/webhooks/{provider}", true, s.handleWebhook},
		{"GET", Prefix + "/teleconsultation/{id}/participants/{userId}/invitation", false, s.handleInvitation},
		{"POST", Prefix + "/teleconsultation/{id}/participants/{userId}/invitation", false, s.handleResendInvitation},
		{"GET", Prefix + "/teleconsultation/{id}/webhooks", false, s.handleWebhookDeliveries},
		{"GET", Prefix + "/audit", false, s.handleAudit},
		{"POST", Prefix + "/credentials", false, s.handleCredentials},
		{"POST", Prefix + "/settings/background-image", false, s.handleBackgroundUpload},
		{"GET", Prefix + "/settings/background-image/{alias}", true, s.handleBackgroundImage},
		{"PATCH", Prefix + "/settings/update", false, s.handleSettingsUpdate},
		{"POST", Prefix + "/sessions", true, s.countExchange(s.handleSession)},
		{"GET", "/healthz", true, s.handleHealth},
		{"GET", "/readyz", true, s.handleReady},
		{"GET", "/metrics", false, s.handleMetrics},
		{"GET", "/openapi.json", true, s.handleOpenAPI},
		{"GET", "/docs", true, s.handleDocs},
		{"GET", "/", true, s.handleLanding},
	}
	s.quiet = map[string]bool{}
	for _, m := range cfg.Mounts {
		h := m.Handler
		s.routes = append(s.routes, route{m.Method, m.Path, m.Public, func(w http.ResponseWriter, r *http.Request) error {
			h.ServeHTTP(w, r)
			return nil
		}})
		if m.Quiet {
			s.quiet[m.Method+" "+m.Path] = true
		}
	}
	s.mux = http.NewServeMux()
	var paths []string
	allowed := map[string][]string{}
	for _, rt := range s.routes {
		p := rt.muxPath()
		s.mux.Handle(rt.method+" "+p, s.operation(rt))
		if allowed[p] == nil {
			paths = append(paths, p)
		}
		allowed[p] = append(allowed[p], rt.method)
		if rt.method == http.MethodGet {
			allowed[p] = append(allowed[p], http.MethodHead)
		}
	}
	// A pattern without a method matches every method the path's own
	// patterns do not, so it answers 405 with our JSON body.
	for _, p := range paths {
		s.mux.Handle(p, s.methodNotAllowed(allowed[p]))
	}
	s.mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, &httpError{status: http.StatusNotFound, msg: "not found"})
	}))
	return s, nil
}

// Handler returns the server's HTTP handler: routing plus the request id,
// security headers, panic recovery, logging and metrics around every
// request.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Routes returns every registered operation as "METHOD /path", in
// registration order. The method-less patterns that answer 405 and the
// catch-all that answers 404 are not operations and are not listed.
func (s *Server) Routes() []string {
	out := make([]string, len(s.routes))
	for i, rt := range s.routes {
		out[i] = rt.pattern()
	}
	return out
}

// operation wraps a route's handler: the API key check, then the handler,
// whose error becomes the response.
func (s *Server) operation(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rt.public {
			var err error
			if r, err = s.authenticate(w, r, rt); err != nil {
				s.writeError(w, r, err)
				return
			}
		} else {
			r = s.publicActor(r, rt)
		}
		var t *transfer
		if s.isTransfer(rt) {
			w, t = s.startTransfer(w, r, time.Now())
		}
		if err := rt.handle(w, r); err != nil {
			if t != nil && t.timedOut.Load() {
				err = errTransferTimeout
			}
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) methodNotAllowed(methods []string) http.Handler {
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, &httpError{
			status: http.StatusMethodNotAllowed,
			msg:    "method not allowed; use " + allow,
			header: map[string]string{"Allow": allow},
		})
	})
}

// apiCSP is the Content-Security-Policy of every response but the pages
// (/docs, /, and those of other packages, which set their own): an
// API response is never a document that may load or run anything.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

type requestIDKey struct{}

// requestIDFrom returns the request id stored by the server's middleware.
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID returns the caller's X-Request-Id when it is a short safe
// token, and a new random one otherwise.
func requestID(given string) string {
	if safeRequestID.MatchString(given) {
		return given
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := requestID(r.Header.Get("X-Request-Id"))
	h := w.Header()
	h.Set("X-Request-Id", id)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", apiCSP)
	if s.hsts {
		h.Set("Strict-Transport-Security", "max-age=63072000")
	}
	s.setRequestDeadlines(w, start)
	sw := &statusWriter{ResponseWriter: w}
	// The mux sets r.Pattern on the request it is given: keep that pointer
	// to read the matched route afterwards.
	r = s.withClient(r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	r = withActor(r, id)
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			s.log.Error("panic serving request", "request_id", id, "route", routeLabel(r.Pattern),
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !sw.wroteHeader {
				s.writeJSON(sw, r, http.StatusInternalServerError, errorBody{Error: internalMessage(id)})
			}
		}
		status := sw.status
		if !sw.wroteHeader {
			status = http.StatusOK
		}
		d := time.Since(start)
		method := methodLabel(r.Method)
		route := routeLabel(r.Pattern)
		s.metrics.observe(route, method, status, d)
		level := slog.LevelInfo
		if s.quiet[r.Pattern] && status < 400 {
			level = slog.LevelDebug
		}
		s.log.Log(r.Context(), level, "request", "request_id", id, "method", method, "route", route,
			"status", status, "duration_ms", math.Round(d.Seconds()*1e6)/1e3)
	}()
	s.mux.ServeHTTP(sw, r)
}

// routeLabel is the path of a matched pattern ("POST /x/{id}" → "/x/{id}"),
// or "unmatched" for the catch-all: a bounded set, safe for metric labels
// and logs (never the raw URL, which may hold a link code).
func routeLabel(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		pattern = path
	}
	switch pattern {
	case "", "/":
		return "unmatched"
	case "/{$}":
		return "/"
	}
	return pattern
}

// methodLabel bounds the method to the standard ones for labels and logs.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Hijack hands the connection over (WebSocket upgrades), recording 101.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("httpapi: the connection cannot be hijacked")
	}
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusSwitchingProtocols, true
	}
	return hj.Hijack()
}

// withActor starts the request's [teleconsult.Actor] for the audit trail:
// its request id and client address. [Server.authenticate] and
// [Server.publicActor] say who it is; the service adds the participant once
// it has resolved a link or a session token.
func withActor(r *http.Request, requestID string) *http.Request {
	a := teleconsult.Actor{RequestID: requestID}
	if addr := clientaddr.Of(r); addr.IsValid() {
		a.ClientAddr = addr.String()
	}
	return r.WithContext(teleconsult.WithActor(r.Context(), a))
}

// publicActor says who calls a public route: a video provider on its
// webhook route, a trusted caller when the request carries an API key (the
// uploads take one, acting for the user named as on protected routes), and
// otherwise the holder of a personal link or session token.
func (s *Server) publicActor(r *http.Request, rt route) *http.Request {
	a := teleconsult.ActorFrom(r.Context())
	switch {
	case strings.HasPrefix(rt.path, Prefix+"/webhooks/"):
		a.Kind = teleconsult.ActorProvider
	case r.Header.Get("Authorization") != "":
		if keyID, ok := s.apiKey(r); ok {
			a.Kind, a.KeyID, a.UserID = teleconsult.ActorAPIKey, keyID, s.userID(r)
			break
		}
		a.Kind = teleconsult.ActorParticipant
	default:
		a.Kind = teleconsult.ActorParticipant
	}
	return r.WithContext(teleconsult.WithActor(r.Context(), a))
}

// Unwrap lets [http.ResponseController] reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
