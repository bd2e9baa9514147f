// Command teleconsult is the Teleconsult service: it turns confirmed medical
// appointments into private video visits, behind a REST API compatible with
// Mia-Platform's Teleconsultation Service.
//
// Usage:
//
//	teleconsult serve          run the service
//	teleconsult migrate        apply database migrations and exit
//	teleconsult config check   print the effective configuration (secrets masked)
//	teleconsult mail test      send a sample invitation email (--to ADDRESS)
//	teleconsult audit verify   check the audit trail's hash chain
//	teleconsult version        print the version
//
// Configuration comes from environment variables; see the README or
// `teleconsult config check`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // participants' time zones without the host's zoneinfo

	"github.com/teleconsult/teleconsult/internal/httpapi"
	"github.com/teleconsult/teleconsult/internal/mail"
	"github.com/teleconsult/teleconsult/internal/session"
	"github.com/teleconsult/teleconsult/internal/sfu"
	"github.com/teleconsult/teleconsult/internal/sqlstore"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/web"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `teleconsult turns confirmed medical appointments into private video visits.

Usage:
  teleconsult <command> [flags]

Commands:
  serve          run the service (API on LISTEN_ADDR, default 127.0.0.1:8080)
  demo           run the service and create a visit starting now; prints the
                 doctor's and the patient's links, to try a call in two tabs
  migrate        apply the database migrations and exit
  config check   print the effective configuration, secrets masked
  mail test      send a sample invitation email: mail test --to ADDRESS
  audit verify   check the audit trail's hash chain; reports the first break
  version        print the version

Configuration is read from environment variables (see the README, or run
"teleconsult config check"). Run "teleconsult <command> --help" for details.
`

func main() {
	setGCPercent(os.Getenv)
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main without the process: arguments, environment and output are
// passed in, and it returns the exit status (0 ok, 1 failure, 2 usage or
// configuration error).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, getenv, stdout, stderr, false)
	case "demo":
		return cmdServe(ctx, rest, getenv, stdout, stderr, true)
	case "migrate":
		return cmdMigrate(ctx, rest, getenv, stdout, stderr)
	case "config":
		return cmdConfig(rest, getenv, stdout, stderr)
	case "mail":
		return cmdMail(ctx, rest, getenv, stdout, stderr)
	case "audit":
		return cmdAudit(ctx, rest, getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "teleconsult %s\n", version)
		return 0
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "teleconsult: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

// parseFlags parses a subcommand's flags: --help, and those define adds
// (when not nil). help is the subcommand's usage text: --help prints it
// once, on stdout, and exits 0; a bad flag or argument prints the error and
// the usage on stderr and exits 2. It returns false with the exit status
// when the command should stop.
func parseFlags(name, help string, args []string, stdout, stderr io.Writer, define func(*flag.FlagSet)) (bool, int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr) // the error of a bad flag
	fs.Usage = func() {} // printed below, once, where it belongs
	if define != nil {
		define(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, help)
			return false, 0
		}
		fmt.Fprintf(stderr, "\n%s", help)
		return false, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "teleconsult %s: unexpected argument %q\n\n%s", name, fs.Arg(0), help)
		return false, 2
	}
	return true, 0
}

const serveHelp = `Usage: teleconsult serve

Runs the service: the REST API under /api/v1/telecons-be, personal links
under /join/, health (/healthz, /readyz), metrics (/metrics, with an API key),
the API documentation (/docs, /openapi.json) and a home page (/) linking
them.

With no configuration at all it listens on 127.0.0.1:8080, keeps a SQLite
database under ./data, generates an encryption key and an API key there (the
API key is printed once), and uses the built-in video provider. Database
migrations run at start. SIGINT or SIGTERM stop it gracefully.
`

const demoHelp = `Usage: teleconsult demo [--lang en|it] [--new]

Runs the service like "serve" and creates a 30-minute visit starting now,
between a doctor (Dr. Demo) and a patient (Pat Demo), then prints both
personal links and when the visit opens and ends. Open each in its own
browser tab (or on two devices of the same network, with LISTEN_ADDR and
PUBLIC_URL set accordingly: an https PUBLIC_URL, or browsers refuse the
camera) to try a call. Ctrl+C stops the service.

A later demo, while that visit is open, reuses it and prints the same links;
once it is over, it makes a fresh one.

Flags:
  --lang LANG   the participants' language, en (default) or it: the call
                page is in it (--language is the same flag)
  --new         cancel the earlier demo visit and make a fresh one now
`

const migrateHelp = `Usage: teleconsult migrate

Applies the embedded database migrations to the database of DATABASE_URL
(SQLite under DATA_DIR when unset) and exits. "serve" also runs them at start.
`

const configHelp = `Usage: teleconsult config check

Loads the configuration from the environment (and the JSON file of
TELECONSULTATION_SERVICE_CONFIG_PATH), validates it and prints every effective
setting with its source. Secrets are masked. Exits 2 if the configuration is
invalid. Warnings about settings that are valid but will probably fail
participants (a plain http PUBLIC_URL on another host, every interface with
the default PUBLIC_URL, a plain http webhook receiver on another host) go to
standard error.
`

func loadConfig(getenv func(string) string, stderr io.Writer) (*Config, bool) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "teleconsult: configuration error:\n%v\n", err)
		return nil, false
	}
	return cfg, true
}

func cmdConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "check" && args[0] != "-h" && args[0] != "--help" && args[0] != "-help") {
		fmt.Fprint(stderr, configHelp)
		return 2
	}
	if args[0] == "check" {
		args = args[1:]
	}
	if ok, code := parseFlags("config check", configHelp, args, stdout, stderr, nil); !ok {
		return code
	}
	cfg, ok := loadConfig(getenv, stderr)
	if !ok {
		return 2
	}
	cfg.Print(stdout)
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "teleconsult: warning: %s\n", w)
	}
	return 0
}

// openStore opens (and migrates) the database of cfg with keys.
func openStore(ctx context.Context, cfg *Config, keys *teleconsult.Keyring) (*sqlstore.DB, []int64, error) {
	dsn := cfg.DatabaseURL
	if cfg.DatabaseDriver == DriverSQLite {
		if err := os.MkdirAll(filepath.Dir(cfg.SQLitePath), 0o700); err != nil {
			return nil, nil, fmt.Errorf("DATA_DIR: %w", err)
		}
		dsn = cfg.SQLitePath
	}
	db, err := sqlstore.Open(ctx, dsn, keys)
	if err != nil {
		return nil, nil, err
	}
	applied, err := db.Migrate(ctx)
	if err != nil {
		_ = db.Close() // the migration error is the one to report
		return nil, nil, fmt.Errorf("database migrations: %w", err)
	}
	return db, applied, nil
}

// loadKeyring loads or makes the encryption key under DATA_DIR.
func loadKeyring(cfg *Config, log *slog.Logger) (*teleconsult.Keyring, error) {
	master, generated, err := LoadOrCreateEncryptionKey(cfg.DataDir, cfg.EncryptionKey)
	if err != nil {
		return nil, err
	}
	if generated {
		log.Warn("generated a new encryption key; back it up: without it the stored names, emails and uploaded files cannot be read",
			"file", filepath.Join(cfg.DataDir, EncryptionKeyFile))
	}
	return teleconsult.NewKeyring(master)
}

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if ok, code := parseFlags("migrate", migrateHelp, args, stdout, stderr, nil); !ok {
		return code
	}
	cfg, ok := loadConfig(getenv, stderr)
	if !ok {
		return 2
	}
	log := newLogger(cfg, stderr)
	keys, err := loadKeyring(cfg, log)
	if err != nil {
		log.Error("encryption key", "err", err)
		return 1
	}
	db, applied, err := openStore(ctx, cfg, keys)
	if err != nil {
		log.Error("database", "err", err)
		return 1
	}
	defer func() { _ = db.Close() }() // the migrations are committed: nothing left to lose
	fmt.Fprintf(stdout, "%s database: %d migration(s) applied %v\n", db.Dialect(), len(applied), applied)
	return 0
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == LogFormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, demo bool) int {
	name, help := "serve", serveHelp
	var opts DemoOptions
	var define func(*flag.FlagSet)
	if demo {
		name, help = "demo", demoHelp
		define = func(fs *flag.FlagSet) {
			fs.StringVar(&opts.Lang, "lang", "en", "")
			fs.StringVar(&opts.Lang, "language", "en", "")
			fs.BoolVar(&opts.New, "new", false, "")
		}
	}
	if ok, code := parseFlags(name, help, args, stdout, stderr, define); !ok {
		return code
	}
	if demo && opts.Lang != "en" && opts.Lang != "it" {
		fmt.Fprintf(stderr, "teleconsult demo: --lang %q: expected en or it\n\n%s", opts.Lang, help)
		return 2
	}
	cfg, ok := loadConfig(getenv, stderr)
	if !ok {
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Config: cfg, Logger: newLogger(cfg, stderr), Stdout: stdout}
	if err := m.Open(ctx); err != nil {
		m.Logger.Error("cannot start", "err", err)
		m.Close()
		return 1
	}
	if demo {
		if err := m.Demo(ctx, opts); err != nil {
			m.Logger.Error("cannot create the demo visit", "err", err)
			m.Close()
			return 1
		}
	}
	err := m.Serve(ctx)
	m.Close()
	if err != nil {
		m.Logger.Error("stopped", "err", err)
		return 1
	}
	return 0
}

// Main is the running service: the wiring of every adapter. Tests start it
// on 127.0.0.1:0 and talk to it over HTTP.
type Main struct {
	Config *Config
	Logger *slog.Logger
	// Stdout receives the generated API key, printed once.
	Stdout io.Writer
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time

	DB       *sqlstore.DB
	Service  *teleconsult.Service
	API      *httpapi.Server
	listener net.Listener
	server   *http.Server
	// closers stop what runs beside the HTTP server (the SFU's calls).
	closers []func() error

	// Outbox sends invitations (nil when SMTP_URL is not set); Mailer is
	// its SMTP adapter.
	Outbox *teleconsult.Outbox
	Mailer *mail.Mailer
	// Hooks delivers outgoing webhooks (nil when no receiver is
	// configured).
	Hooks *teleconsult.WebhookOutbox
}

// Open loads the keys, opens and migrates the database, wires the service
// and starts listening on LISTEN_ADDR (without serving yet).
func (m *Main) Open(ctx context.Context) error {
	cfg, log := m.Config, m.Logger
	if m.Now == nil {
		m.Now = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("DATA_DIR: %w", err)
	}
	var err error
	if m.listener, err = net.Listen("tcp", cfg.ListenAddr); err != nil {
		return fmt.Errorf("LISTEN_ADDR=%s: %w", cfg.ListenAddr, err)
	}
	if cfg.source("PUBLIC_URL") == sourceDefault {
		// Follow the port actually bound (LISTEN_ADDR may say :0).
		cfg.PublicURL = defaultPublicURL(m.listener.Addr().String())
	}
	keys, err := loadKeyring(cfg, log)
	if err != nil {
		return err
	}
	apiKeys, newKey, err := LoadOrCreateAPIKeys(cfg.DataDir, cfg.APIKeys)
	if err != nil {
		return err
	}
	if newKey != "" {
		fmt.Fprintf(m.Stdout, "\nGenerated an API key for trusted callers. It is shown only this once and\n"+
			"stored only as a hash in %s:\n\n    %s\n\n"+
			"Send it as \"Authorization: Bearer <key>\". Set API_KEYS to use your own keys.\n\n",
			filepath.Join(cfg.DataDir, APIKeysFile), newKey)
	}
	var applied []int64
	if m.DB, applied, err = openStore(ctx, cfg, keys); err != nil {
		return err
	}
	log.Info("database ready", "dialect", m.DB.Dialect(), "migrations_applied", len(applied))
	// Replicas on one PostgreSQL: refuse to start with another's keys.
	if err := m.checkInNode(ctx, keys, apiKeys); err != nil {
		return err
	}

	provider, err := newProvider(cfg, keys, m.Now, log)
	if err != nil {
		return fmt.Errorf("VIDEO_PROVIDER=%s: %w", cfg.VideoProvider, err)
	}
	tokens, err := session.New(keys.SessionKey(), cfg.PublicURL)
	if err != nil {
		return err
	}
	uploads, disk, err := m.openUploads(ctx, keys)
	if err != nil {
		return err
	}
	m.Service = &teleconsult.Service{
		Store: m.DB, Provider: provider, Events: m.DB, Tokens: tokens, Keys: keys,
		Settings: cfg.Settings(), Now: m.Now, Logger: log,
		Uploads: m.DB, Files: uploads, Backgrounds: m.DB,
	}
	if m.Service.Directory, err = newDirectory(cfg, log); err != nil {
		return fmt.Errorf("AUTH_SERVICE: %w", err)
	}
	// One registry for every package's metrics, with the Go runtime's and
	// the process's.
	reg := newRegistry()
	reg.MustRegister(m.DB.Collectors()...)
	var mounts []httpapi.Mount
	if builtin, ok := provider.(*sfu.Provider); ok {
		reg.MustRegister(builtin.Collector())
		builtin.SetService(m.Service)
		m.Service.Calls = builtin
		m.closers = append(m.closers, builtin.Close)
		mounts = append(mounts, httpapi.Mount{Method: http.MethodGet, Path: sfu.CallPath, Public: true, Handler: builtin.Handler()},
			httpapi.Mount{Method: http.MethodGet, Path: sfu.CheckPath, Public: true, Handler: builtin.CheckHandler()})
	}
	_, networkCheck := provider.(*sfu.Provider)
	pages, err := web.New(web.Config{PublicURL: cfg.PublicURL, LogoURL: cfg.ServiceConfig.CompanyLogo.URL,
		FrameAncestors: cfg.FrameAncestors, CallOrigins: callOrigins(cfg),
		NetworkCheck: networkCheck, CheckPath: strings.TrimPrefix(sfu.CheckPath, "/"), Theme: cfg.ServiceConfig.Theme})
	if err != nil {
		return err
	}
	for _, rt := range pages.Routes() {
		mounts = append(mounts, httpapi.Mount{Method: rt.Method, Path: rt.Path, Public: true, Handler: rt.Handler, Quiet: rt.Static})
	}
	// A crash mid-upload leaves at most files without records: remove them.
	if n, err := m.Service.SweepUploads(ctx); err != nil {
		return fmt.Errorf("uploads: %w", err)
	} else if n > 0 {
		log.Info("removed files left by an interrupted upload", "files", n)
	}
	// Files stored in plain by a version before encryption: encrypt them.
	if disk != nil {
		if n, err := disk.Migrate(ctx, keys.FileKey()); err != nil {
			return fmt.Errorf("uploads: encrypting the files stored in plain: %w", err)
		} else if n > 0 {
			log.Info("encrypted the uploaded files stored in plain", "files", n)
		}
	}
	if err := m.openInvitations(); err != nil {
		return err
	}
	mounts = append(mounts, m.openFHIR()...)
	m.openWebhooks()
	m.API, err = httpapi.New(httpapi.Config{
		Service:      m.Service,
		APIKeyHashes: apiKeys.Hashes(),
		UserIDPath:   cfg.ServiceConfig.UserIDPathInRequest,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Logger:       log,
		Registry:     reg,
		Version:      version,
		Now:          m.Now,
		Mounts:       mounts,

		TrustedProxies:       cfg.TrustedProxies,
		TrustGatewayIdentity: cfg.TrustGatewayIdentity,
		Timeouts:             httpapi.Timeouts{Request: cfg.Net.RequestTimeout, Idle: cfg.Net.TransferIdleTimeout},
		HSTS:                 cfg.SendHSTS(),
	})
	if err != nil {
		return err
	}
	// No ReadTimeout or WriteTimeout: they would bound every request as a
	// whole and cut slow uploads and downloads. The API sets each
	// request's deadlines by route (REQUEST_TIMEOUT, TRANSFER_IDLE_TIMEOUT).
	m.server = &http.Server{
		Handler:           m.API.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", m.listener.Addr().String(), "public_url", cfg.PublicURL,
		"video_provider", provider.Name(), "version", version)
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	return nil
}

// DemoOptions are the flags of `teleconsult demo`.
type DemoOptions struct {
	// Lang is the participants' language (en or it): the call page's and
	// the invitations'. Empty means en.
	Lang string
	// New cancels the earlier demo visit, if it is still open, and makes a
	// fresh one.
	New bool
}

// demoAppointment is the appointment id of every demo visit: a second demo
// finds the first one's visit by it.
const demoAppointment = "teleconsult-demo"

// Demo creates a visit starting now between a demo doctor and a demo
// patient and prints their personal links to Stdout, with when the visit
// opens and ends and how to stop the service. A second demo while the
// first one's visit is open reuses it and says so; once it is over, or
// with opts.New, or when its language is not opts.Lang, it makes a fresh
// one (the earlier links stop working).
func (m *Main) Demo(ctx context.Context, opts DemoOptions) error {
	lang := opts.Lang
	if lang == "" {
		lang = "en"
	}
	priv := m.Service.Settings.Config.Privileges
	d := 30 * time.Minute
	in := teleconsult.CreateInput{
		AppointmentID: demoAppointment,
		StartDate:     m.Now().UTC().Truncate(time.Second),
		Duration:      &d,
		Number:        2,
		Participants: []teleconsult.ParticipantInput{
			{UserID: "demo-doctor", Groups: []string{priv.Plus.Groups[0]}, FullName: "Dr. Demo", Language: lang},
			{UserID: "demo-patient", Groups: []string{priv.Basic.Groups[0]}, FullName: "Pat Demo", Language: lang},
		},
	}
	// The demo's users are made up: never look them up in AUTH_SERVICE.
	svc := *m.Service
	svc.Directory = nil
	var note string
	old, err := m.DB.FindByAppointment(ctx, demoAppointment)
	switch {
	case teleconsult.ErrorCode(err) == teleconsult.ENOTFOUND:
		old = nil
	case err != nil:
		return err
	}
	id, err := svc.Create(ctx, in)
	switch {
	case teleconsult.ErrorCode(err) == teleconsult.ECONFLICT && old != nil && !opts.New && demoLanguage(old) == lang:
		// The earlier demo visit is still open: show its links again.
		id, err = old.ID, nil
		note = "Reusing the demo visit of an earlier run, which is still open (teleconsult demo --new makes a fresh one).\n"
	case teleconsult.ErrorCode(err) == teleconsult.ECONFLICT && old != nil:
		// Open, so it cannot be replaced: cancel it first.
		if err := m.Service.Cancel(ctx, old.ID); err != nil {
			return err
		}
		note = "Cancelled the earlier demo visit (its links no longer work) and made a fresh one"
		if !opts.New {
			note += fmt.Sprintf(" in %s, as asked (the earlier one is in %s)", languageName(lang), languageName(demoLanguage(old)))
		}
		note += ".\n"
		id, err = svc.Create(ctx, in)
	case err == nil && old != nil:
		note = "The earlier demo visit is over: made a fresh one (the earlier links no longer work).\n"
	}
	if err != nil {
		return err
	}
	links := map[string]string{}
	var w teleconsult.Window
	for _, user := range []string{"demo-doctor", "demo-patient"} {
		v, err := m.Service.View(ctx, id, user, teleconsult.LinkOptions{})
		if err != nil {
			return err
		}
		if v.AccessLinkURL == nil {
			return fmt.Errorf("demo visit %s has no link yet", id)
		}
		links[user], w = *v.AccessLinkURL, v.Window
	}
	clock := func(t time.Time) string { return t.In(time.Local).Format("15:04 MST") }
	var b strings.Builder
	b.WriteString("\n" + note)
	fmt.Fprintf(&b, "Demo visit %s, in %s: it opened at %s and ends at %s", id, languageName(lang), clock(w.Opens), clock(w.End))
	if w.Limited {
		b.WriteString(", when the call closes and everyone is ejected.\n")
	} else {
		b.WriteString("; the room stays open after that (UNLIMITED_TELECONSULTATION=true).\n")
	}
	fmt.Fprintf(&b, "Open each link in its own browser tab, allow the camera and microphone, and press Join:\n\n"+
		"  doctor:  %s\n  patient: %s\n\n", links["demo-doctor"], links["demo-patient"])
	if lang != "it" {
		b.WriteString("For Italian participants (the call page in Italian): teleconsult demo --lang it\n")
	}
	b.WriteString("The service runs until you press Ctrl+C. A later demo reuses this visit while it is open.\n\n")
	_, err = io.WriteString(m.Stdout, b.String())
	return err
}

// demoLanguage is the language of a demo visit's participants.
func demoLanguage(tc *teleconsult.Teleconsultation) string {
	for _, p := range tc.Participants {
		if p.Language != "" {
			return p.Language
		}
	}
	return "en"
}

// languageName names the demo's languages in English.
func languageName(lang string) string {
	if lang == "it" {
		return "Italian"
	}
	return "English"
}

// Addr is the address the service listens on (after Open).
func (m *Main) Addr() string { return m.listener.Addr().String() }

// Serve serves HTTP until ctx is done, then shuts down gracefully.
func (m *Main) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- m.server.Serve(m.listener) }()
	octx, stopOutbox := context.WithCancel(ctx)
	waitOutbox := m.runInvitations(octx)
	waitHooks := m.runWebhooks(octx)
	waitPruning := m.runAuditPruning(octx)
	defer func() { stopOutbox(); waitOutbox(); waitHooks(); waitPruning() }() // after the HTTP server is down
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	m.Logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.server.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close releases the mail connection and the database.
func (m *Main) Close() {
	for _, c := range m.closers {
		if err := c(); err != nil {
			m.Logger.Warn("shutting down", "err", err)
		}
	}
	if m.Mailer != nil {
		m.Mailer.Close()
	}
	if m.listener != nil && m.server == nil {
		_ = m.listener.Close() // never served: nothing to drain or report
	}
	if m.DB != nil {
		if err := m.DB.Close(); err != nil {
			m.Logger.Warn("closing the database", "err", err)
		}
	}
}
