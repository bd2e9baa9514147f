package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/teleconsult/teleconsult/internal/authsvc"
	"github.com/teleconsult/teleconsult/internal/clientaddr"
	"github.com/teleconsult/teleconsult/internal/daily"
	"github.com/teleconsult/teleconsult/internal/envvar"
	"github.com/teleconsult/teleconsult/internal/fhir"
	"github.com/teleconsult/teleconsult/internal/kaleyra"
	"github.com/teleconsult/teleconsult/internal/mail"
	"github.com/teleconsult/teleconsult/internal/sfu"
	"github.com/teleconsult/teleconsult/internal/strictjson"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Database drivers, the values of [Config.DatabaseDriver].
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Video providers, the values of VIDEO_PROVIDER and [Config.VideoProvider].
const (
	ProviderBuiltin = "builtin"
	ProviderDaily   = "daily"
	ProviderKaleyra = "kaleyra"
)

// Log formats, the values of LOG_FORMAT and [Config.LogFormat].
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// SQLiteFile is the name of the SQLite database under DATA_DIR, used when
// DATABASE_URL is empty.
const SQLiteFile = "teleconsult.db"

// Limits of the validated settings.
const (
	maxImmutablePeriod = 7 * 24 * time.Hour
	minSessionTTL      = time.Minute
	maxSessionTTL      = 24 * time.Hour
	minMaxBodyBytes    = 1 << 10
	maxMaxBodyBytes    = 1 << 30
	minAPIKeyLen       = 16
	maxConfigFileSize  = 1 << 20
	minProviderTimeout = 100 * time.Millisecond
	maxProviderTimeout = 2 * time.Minute
)

// Where a setting's value comes from, as shown by [Config.Print].
const (
	sourceDefault = "default"
	sourceEnv     = "env"
	sourceFile    = "file"
)

// mask stands for a secret in [Config.Print].
const mask = "******"

// Config is every setting of the service, read from the environment (and
// the JSON file named by TELECONSULTATION_SERVICE_CONFIG_PATH) by
// [LoadConfig]. Each field names its variable; [Variables] documents them.
type Config struct {
	// ListenAddr (LISTEN_ADDR) is the host:port the HTTP server listens on.
	ListenAddr string
	// PublicURL (PUBLIC_URL) is the base URL of personal links, absolute
	// http(s), without query, fragment or trailing slash.
	PublicURL string
	// DataDir (DATA_DIR) holds the SQLite database and the generated keys.
	DataDir string
	// DatabaseURL (DATABASE_URL) is the PostgreSQL URL as given; empty for
	// SQLite. It may hold a password: never log it.
	DatabaseURL string
	// DatabaseDriver is DriverSQLite or DriverPostgres, from DATABASE_URL.
	DatabaseDriver string
	// SQLitePath is DATA_DIR/teleconsult.db when DatabaseDriver is
	// DriverSQLite, else empty.
	SQLitePath string
	// APIKeys (API_KEYS) are the trusted callers' keys given in the
	// environment; empty means the hashes kept under DATA_DIR are used (see
	// [LoadOrCreateAPIKeys]). Secret.
	APIKeys []string
	// EncryptionKey (ENCRYPTION_KEY) is the 32-byte master key given in the
	// environment; nil means the key kept under DATA_DIR is used (see
	// [LoadOrCreateEncryptionKey]). Secret.
	EncryptionKey []byte
	// UserIDHeader (USERID_HEADER_KEY) is the lowercased name of the header
	// that carries the caller's user id.
	UserIDHeader string
	// VideoProvider (VIDEO_PROVIDER) is ProviderBuiltin, ProviderDaily or
	// ProviderKaleyra.
	VideoProvider string
	// Daily holds Daily's settings, read by [daily.Variables] (DAILY_*):
	// APIKey (secret), BaseURL, WebhookSecret (secret; nil refuses every
	// webhook) and RoomOrigin (the only origin the call page frames; empty
	// when unset, then any https://*.daily.co room is framed). The rest is
	// filled in by newProvider.
	Daily daily.Config
	// Kaleyra holds Kaleyra's settings, read by [kaleyra.Variables]
	// (BANDYER_*): APIKey (secret) and BaseURL (from the JSON
	// configuration's environment when BANDYER_BASE_URL is unset). The
	// rest is filled in by newProvider.
	Kaleyra kaleyra.Config
	// SFU holds the built-in SFU's settings, read by [sfu.Variables]
	// (RTC_*, ICE_SERVERS, TURN_*; TURN_PASSWORD is secret), with
	// LoopbackCandidates defaulting from LISTEN_ADDR. The rest is filled
	// in by sfuConfig.
	SFU sfu.Config
	// ProviderTimeout (PROVIDER_TIMEOUT) bounds every call to a hosted
	// video provider, retries included.
	ProviderTimeout time.Duration
	// StartAudioOff and StartVideoOff (START_AUDIO_OFF, START_VIDEO_OFF)
	// make participants join with microphone and camera off.
	StartAudioOff bool
	StartVideoOff bool
	// BackgroundOptional (BACKGROUND_OPTIONAL) lets participants given the
	// virtual background switch it off in the built-in call page.
	BackgroundOptional bool
	// SessionTTL (SESSION_TTL) is the lifetime of a call-page session.
	SessionTTL time.Duration
	// LogLevel (LOG_LEVEL) is the minimum level logged.
	LogLevel slog.Level
	// LogFormat (LOG_FORMAT) is LogFormatText or LogFormatJSON.
	LogFormat string
	// MaxBodyBytes (MAX_BODY_BYTES) caps the size of a request body.
	MaxBodyBytes int64
	// TrustedProxies (TRUSTED_PROXIES) are the proxies whose
	// X-Forwarded-For gives the client address.
	TrustedProxies *clientaddr.Trusted
	// TrustGatewayIdentity (TRUST_GATEWAY_IDENTITY) lets trusted proxies
	// name the user without an API key.
	TrustGatewayIdentity bool
	// AuthServiceURL is AUTH_SERVICE as an absolute URL (a bare host gets
	// http://), without trailing slash; "" without AUTH_SERVICE.
	AuthServiceURL string
	// AuthServiceUserPath (AUTH_SERVICE_USER_PATH) is the path of a user
	// at the auth service, with {id}.
	AuthServiceUserPath string
	// AuthServiceTimeout (AUTH_SERVICE_TIMEOUT) bounds one look-up.
	AuthServiceTimeout time.Duration
	// FrameAncestors (FRAME_ANCESTORS) are the origins allowed to show the
	// call page in an iframe; empty means none.
	FrameAncestors []string
	// Media configures uploads (config_media.go).
	Media MediaConfig
	// Net configures time limits, HSTS and socket caps (config_net.go).
	Net NetConfig

	// Invitations (see invitations.go).
	//
	// SMTP (SMTP_URL) is where invitation emails go; nil when unset:
	// invitations are off. Its Password is a secret.
	SMTP *mail.Server
	// MailFrom (MAIL_FROM) is the sender, required with SMTP_URL.
	MailFrom string
	// SMTPTLSSkipVerify (SMTP_TLS_SKIP_VERIFY) turns certificate
	// verification off.
	SMTPTLSSkipVerify bool
	// MailTemplatesDir (MAIL_TEMPLATES_DIR) overrides the templates.
	MailTemplatesDir string
	// DefaultTimeZone (DEFAULT_TIME_ZONE) is the IANA zone of
	// participants without one.
	DefaultTimeZone string
	// InviteShowNames (INVITE_SHOW_NAMES) shows the other participants'
	// names in invitations.
	InviteShowNames bool
	// CompanyName (COMPANY_NAME) is shown in invitations.
	CompanyName string
	// DeviceCheckURL (DEVICE_CHECK_URL) is linked from invitations; ""
	// leaves the link out.
	DeviceCheckURL string

	// ServiceConfigPath (TELECONSULTATION_SERVICE_CONFIG_PATH) is the JSON
	// configuration file; empty for the built-in default.
	ServiceConfigPath string
	// ServiceConfig is the parsed JSON configuration (or the default).
	ServiceConfig teleconsult.ServiceConfig
	// TeleconsultationsCRUDName (TELECONSULTATIONS_CRUD_NAME) is accepted
	// for compatibility with Mia-Platform and unused.
	TeleconsultationsCRUDName string
	// UserIDMapCRUDName (USER_ID_MAP_CRUD_NAME, or USER_MAP_ID_CRUD_NAME,
	// the other spelling in Mia's documentation) is accepted for
	// compatibility with Mia-Platform and unused.
	UserIDMapCRUDName string
	// userIDMapCRUDName and userMapIDCRUDName are the two spellings as
	// given, for Print.
	userIDMapCRUDName, userMapIDCRUDName string
	// AuthService (AUTH_SERVICE) is Mia's auth service, as given (a host
	// or a URL); set, participants may be given by user id and are looked
	// up there (see AuthServiceURL).
	AuthService string
	// CustomIDUsersAPIEndpoint (CUSTOM_ID_USERS_API_ENDPOINT) resolves
	// custom user ids to auth ids, as given.
	CustomIDUsersAPIEndpoint string
	// DefaultClientType (DEFAULT_CLIENT_TYPE) is the client-type sent to
	// the auth service when the request has none.
	DefaultClientType string
	// Unlimited (UNLIMITED_TELECONSULTATION) keeps rooms open after their end.
	Unlimited bool
	// Live (LIVE_TELECONSULTATION) ends a call when fewer than two remain.
	Live bool
	// WaitingRoom (WAITING_ROOM) holds participants whose role waits until
	// one whose role admits lets them in (built-in provider).
	WaitingRoom bool
	// ImmutablePeriod (IMMUTABLE_PERIOD_MS) is how long before its start a
	// teleconsultation opens and stops accepting changes.
	ImmutablePeriod time.Duration
	// DeleteUploads (TELECONSULTATION_DELETE_UPLOADS) deletes a call's
	// uploads when it ends.
	DeleteUploads bool

	// Webhook is WEBHOOK_URL's receiver (config_webhooks.go).
	Webhook WebhookConfig
	// FHIR is the FHIR routes' and server's configuration (config_fhir.go).
	FHIR fhir.Config
	// AuditRetention (AUDIT_RETENTION) is how long audit entries are kept;
	// 0 keeps them all (audit.go).
	AuditRetention time.Duration

	// sources maps a variable's name to sourceDefault or sourceEnv.
	sources map[string]string
}

// VarDoc documents one environment variable; [Variables] lists them all.
type VarDoc envvar.Doc

// variable is a VarDoc with how to parse and show it: the table's own
// form, into which bind turns an adapter's [envvar.Var] list.
type variable struct {
	VarDoc
	// value is the default substituted for an empty value before parse;
	// VarDoc.Default is its documentation.
	value string
	// parse validates v (trimmed, or the default) and stores it in c. Its
	// error says what is expected; LoadConfig prefixes the name.
	parse func(c *Config, v string) error
	// show returns what Print shows.
	show func(c *Config) shown
}

// shown is one line of Print: the value, and optionally a source that
// overrides the variable's and a note. A masked value is composed by the
// show function and printed as is; any other value is quoted if needed.
type shown struct {
	value, source, note string
	masked              bool
}

// bind turns the variables of a part of the configuration (an adapter's
// Config, reached by part) into rows of the table.
func bind[C any](vars []envvar.Var[C], part func(*Config) *C) []variable {
	out := make([]variable, len(vars))
	for i, v := range vars {
		out[i] = variable{
			VarDoc: VarDoc(v.Doc),
			value:  v.Value,
			parse:  func(c *Config, s string) error { return v.Parse(part(c), s) },
			show:   func(c *Config) shown { return fromShown(v.Show(part(c))) },
		}
	}
	return out
}

// withShow returns vars with the show function of the variable name
// passed through f, for a note that needs the whole configuration (where
// a value came from, a rule across packages). It panics if name is not in
// vars: the table is static.
func withShow(vars []variable, name string, f func(c *Config, s shown) shown) []variable {
	i := slices.IndexFunc(vars, func(v variable) bool { return v.Name == name })
	if i < 0 {
		panic("withShow: no variable " + name)
	}
	show := vars[i].show
	vars[i].show = func(c *Config) shown { return f(c, show(c)) }
	return vars
}

// fromShown is s as the table's shown.
func fromShown(s envvar.Shown) shown {
	return shown{value: s.Value, source: s.Source, note: s.Note, masked: s.Masked}
}

// Variables documents every environment variable read by [LoadConfig], in
// the order of [Config.Print]: Teleconsult's own, then Mia-Platform's.
func Variables() []VarDoc {
	vars := variables()
	docs := make([]VarDoc, len(vars))
	for i, v := range vars {
		docs[i] = v.VarDoc
	}
	return docs
}

// variables is the single table behind LoadConfig, Print and Variables.
// Order matters: a variable may depend on those before it.
func variables() []variable {
	return slices.Concat([]variable{
		{
			VarDoc: VarDoc{Name: "LISTEN_ADDR", Default: "127.0.0.1:8080",
				Description: "Address the HTTP server listens on, as host:port (`:8080` or `0.0.0.0:8080` for every interface)."},
			value: "127.0.0.1:8080",
			parse: func(c *Config, v string) error {
				if err := checkHostPort(v); err != nil {
					return err
				}
				c.ListenAddr = v
				// The default of RTC_LOOPBACK_CANDIDATES, read later.
				c.SFU.LoopbackCandidates = isLoopbackListen(v)
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.ListenAddr} },
		},
		{
			VarDoc: VarDoc{Name: "PUBLIC_URL", Default: "http://LISTEN_ADDR",
				Description: "Base URL of the personal links, as participants reach the service: an absolute http or https URL, optionally with a path, without query or fragment; a trailing slash is removed. Default: http:// and LISTEN_ADDR, with 0.0.0.0, :: or an empty host replaced by 127.0.0.1."},
			parse: func(c *Config, v string) error {
				if v == "" {
					c.PublicURL = defaultPublicURL(c.ListenAddr)
					return nil
				}
				u, err := parseBaseURL(v)
				if err != nil {
					return err
				}
				c.PublicURL = u
				return nil
			},
			show: func(c *Config) shown {
				s := shown{value: c.PublicURL}
				if c.source("PUBLIC_URL") == sourceDefault {
					s.note = "from LISTEN_ADDR"
				}
				return s
			},
		},
		{
			VarDoc: VarDoc{Name: "DATA_DIR", Default: "./data",
				Description: "Directory of the SQLite database and of the keys generated on first start (created with mode 0700 if missing)."},
			value: "./data",
			parse: func(c *Config, v string) error {
				if strings.ContainsRune(v, 0) {
					return errors.New("expected a directory path")
				}
				c.DataDir = v
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.DataDir} },
		},
		{
			VarDoc: VarDoc{Name: "DATABASE_URL", Default: "", //nolint:gosec // G101: the description's example URL holds no real password
				Description: "PostgreSQL connection URL, `postgres://user:password@host:5432/dbname?sslmode=require` (special characters in the password percent-encoded). Empty: SQLite, in the file DATA_DIR/teleconsult.db. Its password is never printed.",
				Secret:      true},
			parse: func(c *Config, v string) error {
				if v == "" {
					c.DatabaseDriver = DriverSQLite
					c.SQLitePath = filepath.Join(c.DataDir, SQLiteFile)
					return nil
				}
				lower := strings.ToLower(v)
				if !strings.HasPrefix(lower, "postgres://") && !strings.HasPrefix(lower, "postgresql://") {
					return errors.New("expected a postgres:// or postgresql:// URL, or nothing for SQLite under DATA_DIR")
				}
				if _, err := url.Parse(v); err != nil {
					return errors.New("not a valid URL (value not shown: it may hold a password); expected postgres://user:password@host:5432/dbname with special characters percent-encoded")
				}
				c.DatabaseURL = v
				c.DatabaseDriver = DriverPostgres
				return nil
			},
			show: func(c *Config) shown {
				if c.DatabaseURL == "" {
					return shown{note: "SQLite database " + c.SQLitePath}
				}
				return shown{value: redactDatabaseURL(c.DatabaseURL), note: "PostgreSQL"}
			},
		},
		{
			VarDoc: VarDoc{Name: "API_KEYS", Default: "",
				Description: "Keys of the trusted callers (booking system, gateway, admin), comma-separated, each at least 16 characters of A-Z a-z 0-9 - . _ ~ + / (and trailing =), sent as `Authorization: Bearer <key>`. Unset: the SHA-256 hashes in DATA_DIR/api-keys.sha256 are used (hex, one per line); if that file is missing, one key is generated, printed once on first start, and only its hash is kept.",
				Secret:      true},
			parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				keys, err := parseAPIKeys(v)
				if err != nil {
					return err
				}
				c.APIKeys = keys
				return nil
			},
			show: func(c *Config) shown { return apiKeysStatus(c.DataDir, c.APIKeys) },
		},
		{
			VarDoc: VarDoc{Name: "ENCRYPTION_KEY", Default: "",
				Description: "Master key of the patient data encrypted at rest: standard base64 of exactly 32 random bytes (`openssl rand -base64 32`). Unset: the key in DATA_DIR/encryption.key is used, generated on first start. Losing it makes stored names, emails and uploaded files unreadable: back it up apart from the database and DATA_DIR/uploads.",
				Secret:      true},
			parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				key, err := decodeEncryptionKey(v)
				if err != nil {
					return err
				}
				c.EncryptionKey = key
				return nil
			},
			show: func(c *Config) shown { return encryptionKeyStatus(c.DataDir, c.EncryptionKey) },
		},
		{
			VarDoc: VarDoc{Name: "USERID_HEADER_KEY", Default: "miauserid",
				Description: "Name of the HTTP header in which a trusted caller names the user it acts for (case-insensitive). Used by the default `userIdPathInRequest` of the JSON configuration."},
			value: "miauserid",
			parse: func(c *Config, v string) error {
				if !isToken(v) {
					return errors.New("expected an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)")
				}
				c.UserIDHeader = strings.ToLower(v)
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.UserIDHeader} },
		},
		{
			VarDoc: VarDoc{Name: "VIDEO_PROVIDER", Default: ProviderBuiltin,
				Description: "Where the media runs: `builtin` (the SFU in this binary), `daily` (needs DAILY_API_KEY) or `kaleyra` (needs BANDYER_API_SECRET_KEY and BANDYER_BASE_URL)."},
			value: ProviderBuiltin,
			parse: func(c *Config, v string) error {
				v = strings.ToLower(v)
				if !slices.Contains([]string{ProviderBuiltin, ProviderDaily, ProviderKaleyra}, v) {
					return errors.New("expected builtin, daily or kaleyra")
				}
				c.VideoProvider = v
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.VideoProvider} },
		},
	}, dailyVariables(), []variable{
		{
			VarDoc: VarDoc{Name: "PROVIDER_TIMEOUT", Default: "10s",
				Description: "Time limit of every call to a hosted video provider (Daily, Kaleyra), retries on 429 and 5xx included: a Go duration from 100ms to 2m. Past it the API answers 503 and changes nothing."},
			value: "10s",
			parse: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < minProviderTimeout || d > maxProviderTimeout {
					return fmt.Errorf("expected a duration such as 10s, from %v to %v", minProviderTimeout, maxProviderTimeout)
				}
				c.ProviderTimeout = d
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.ProviderTimeout.String()} },
		},
		{
			VarDoc: VarDoc{Name: "START_AUDIO_OFF", Default: "true",
				Description: "`true`: participants join with their microphone off (Daily: `start_audio_off` of rooms and meeting tokens). true/false or 1/0."},
			value: "true",
			parse: func(c *Config, v string) (err error) { c.StartAudioOff, err = parseBool(v); return err },
			show:  func(c *Config) shown { return shown{value: strconv.FormatBool(c.StartAudioOff)} },
		},
		{
			VarDoc: VarDoc{Name: "START_VIDEO_OFF", Default: "true",
				Description: "`true`: participants join with their camera off (Daily: `start_video_off`). true/false or 1/0."},
			value: "true",
			parse: func(c *Config, v string) (err error) { c.StartVideoOff, err = parseBool(v); return err },
			show:  func(c *Config) shown { return shown{value: strconv.FormatBool(c.StartVideoOff)} },
		},
		{
			VarDoc: VarDoc{Name: "BACKGROUND_OPTIONAL", Default: "false",
				Description: "`true`: in the built-in call page, participants given the virtual background (`groupsWithBackgroundList`, or GET's `useBackground=true`) may switch it off; `false`: they cannot. true/false or 1/0."},
			value: "false",
			parse: func(c *Config, v string) (err error) { c.BackgroundOptional, err = parseBool(v); return err },
			show:  func(c *Config) shown { return shown{value: strconv.FormatBool(c.BackgroundOptional)} },
		},
		{
			VarDoc: VarDoc{Name: "SESSION_TTL", Default: "15m",
				Description: "Lifetime of the call-page session obtained from a personal link, and of credentials requested without expiresIn: a Go duration (`90s`, `15m`, `1h30m`) from 1m to 24h."},
			value: "15m",
			parse: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < minSessionTTL || d > maxSessionTTL {
					return fmt.Errorf("expected a duration such as 15m or 1h, from %v to %v", minSessionTTL, maxSessionTTL)
				}
				c.SessionTTL = d
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.SessionTTL.String()} },
		},
		{
			VarDoc: VarDoc{Name: "LOG_LEVEL", Default: "info",
				Description: "Minimum level of the log lines: `debug`, `info`, `warn` or `error`."},
			value: "info",
			parse: func(c *Config, v string) error {
				levels := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
				l, ok := levels[strings.ToLower(v)]
				if !ok {
					return errors.New("expected debug, info, warn or error")
				}
				c.LogLevel = l
				return nil
			},
			show: func(c *Config) shown { return shown{value: strings.ToLower(c.LogLevel.String())} },
		},
		{
			VarDoc: VarDoc{Name: "LOG_FORMAT", Default: LogFormatText,
				Description: "Format of the log lines on standard error: `text` or `json`."},
			value: LogFormatText,
			parse: func(c *Config, v string) error {
				v = strings.ToLower(v)
				if v != LogFormatText && v != LogFormatJSON {
					return errors.New("expected text or json")
				}
				c.LogFormat = v
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.LogFormat} },
		},
		{
			VarDoc: VarDoc{Name: "MAX_BODY_BYTES", Default: "1048576",
				Description: "Largest request body accepted, in bytes (1024 to 1073741824); larger ones get 413."},
			value: "1048576",
			parse: func(c *Config, v string) error {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < minMaxBodyBytes || n > maxMaxBodyBytes {
					return fmt.Errorf("expected a whole number of bytes from %d to %d", minMaxBodyBytes, maxMaxBodyBytes)
				}
				c.MaxBodyBytes = n
				return nil
			},
			show: func(c *Config) shown { return shown{value: strconv.FormatInt(c.MaxBodyBytes, 10)} },
		},
		{
			VarDoc: VarDoc{Name: "TRUSTED_PROXIES", Default: "",
				Description: "Proxies in front of the service (load balancer, Mia-Platform's API gateway), comma-separated CIDRs or addresses (`10.0.0.0/8,fd00::/8`). Only for requests from these addresses is the client address taken from `X-Forwarded-For` (its rightmost address that is not a trusted proxy), for the rate limits; from any other address the header is ignored. Unset: nothing is trusted, the client is the connection's peer."},
			parse: func(c *Config, v string) error {
				t, err := clientaddr.ParseTrusted(v)
				if err != nil {
					return err
				}
				c.TrustedProxies = t
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.TrustedProxies.String()} },
		},
		{
			VarDoc: VarDoc{Name: "TRUST_GATEWAY_IDENTITY", Default: "false",
				Description: "`true`: a request from TRUSTED_PROXIES that names a user (userIdPathInRequest, default the `miauserid` header) may call the routes that act for that user without an API key: `GET /teleconsultation/{id}`, `POST /credentials` and the invitation routes, as behind Mia-Platform's API gateway. Creating, changing and cancelling visits still need an API key. Needs TRUSTED_PROXIES. Only for a gateway that sets the identity itself on every request (Mia's overwrites `miauserid` from the session): behind a plain load balancer anyone could name anyone. true/false or 1/0."},
			value: "false",
			parse: func(c *Config, v string) (err error) { c.TrustGatewayIdentity, err = parseBool(v); return err },
			show:  func(c *Config) shown { return shown{value: strconv.FormatBool(c.TrustGatewayIdentity)} },
		},
		{
			VarDoc: VarDoc{Name: "AUTH_SERVICE_USER_PATH", Default: authsvc.DefaultUserPath,
				Description: "Path of a user at AUTH_SERVICE, with `{id}` where the (path-escaped) user id goes. The answer must be Auth0's user object (`user_id`, `name`, `email`, `app_metadata.groups`): see the README's AUTH_SERVICE section."},
			value: authsvc.DefaultUserPath,
			parse: func(c *Config, v string) error {
				if err := authsvc.CheckUserPath(v); err != nil {
					return err
				}
				c.AuthServiceUserPath = v
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.AuthServiceUserPath} },
		},
		{
			VarDoc: VarDoc{Name: "AUTH_SERVICE_TIMEOUT", Default: "5s",
				Description: "Time limit of one user look-up at AUTH_SERVICE (and CUSTOM_ID_USERS_API_ENDPOINT), retries on 429 and 5xx included: a Go duration from 100ms to 2m. Past it the API answers 503 naming the participant, and stores nothing."},
			value: "5s",
			parse: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < minProviderTimeout || d > maxProviderTimeout {
					return fmt.Errorf("expected a duration such as 5s, from %v to %v", minProviderTimeout, maxProviderTimeout)
				}
				c.AuthServiceTimeout = d
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.AuthServiceTimeout.String()} },
		},
		{
			VarDoc: VarDoc{Name: "FRAME_ANCESTORS", Default: "",
				Description: "Origins allowed to show the call page in an iframe (an integrating portal, Mia-Platform's frontend), separated by commas or spaces: `https://portal.example.org,https://app.example.org`. The iframe needs `allow=\"camera; microphone; display-capture; fullscreen\"`. Unset: no page may frame it (`frame-ancestors 'none'`, `X-Frame-Options: DENY`)."},
			parse: func(c *Config, v string) error {
				c.FrameAncestors = nil
				for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
					o, err := envvar.Origin(f)
					if err != nil {
						return fmt.Errorf("expected origins such as https://portal.example.org, separated by commas: %w", err)
					}
					if !slices.Contains(c.FrameAncestors, o) {
						c.FrameAncestors = append(c.FrameAncestors, o)
					}
				}
				return nil
			},
			show: func(c *Config) shown { return shown{value: strings.Join(c.FrameAncestors, ",")} },
		},

		// Invitation emails.
		{
			VarDoc: VarDoc{Name: "SMTP_URL", Default: "",
				Description: "Mail server for invitation emails: `smtp://user:password@host:port` (STARTTLS whenever the server offers it; default port 587) or `smtps://…` (implicit TLS; default port 465); special characters in the user name or password percent-encoded; the login is only sent over TLS. Unset: invitations are off (logged once at start, and shown as `off` in the API).",
				Secret:      true},
			parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				srv, err := mail.ParseURL(v)
				if err != nil {
					return err
				}
				c.SMTP = &srv
				return nil
			},
			show: func(c *Config) shown {
				if c.SMTP == nil {
					return shown{masked: true, value: "(not set)", note: "invitations are off"}
				}
				return shown{masked: true, value: c.SMTP.String()}
			},
		},
		{
			VarDoc: VarDoc{Name: "MAIL_FROM", Default: "",
				Description: "Sender of invitation emails, required with SMTP_URL: `visits@clinic.example` or `Clinic <visits@clinic.example>` (without a display name, COMPANY_NAME is shown)."},
			parse: func(c *Config, v string) error {
				if v == "" && c.SMTP == nil {
					return nil
				}
				if _, err := mail.ParseFrom(v); err != nil {
					return err
				}
				c.MailFrom = v
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.MailFrom} },
		},
		{
			VarDoc: VarDoc{Name: "SMTP_TLS_SKIP_VERIFY", Default: "false",
				Description: "`true`: do not verify the mail server's TLS certificate (a test server with a self-signed certificate). Never in production. true/false or 1/0."},
			value: "false",
			parse: func(c *Config, v string) (err error) { c.SMTPTLSSkipVerify, err = parseBool(v); return err },
			show:  func(c *Config) shown { return shown{value: strconv.FormatBool(c.SMTPTLSSkipVerify)} },
		},
		{
			VarDoc: VarDoc{Name: "MAIL_TEMPLATES_DIR", Default: "",
				Description: "Directory of invitation templates overriding the built-in ones: `<lang>/subject.txt`, `summary.txt`, `body.txt` (text/template) and `body.html` (html/template), e.g. `it/body.html`; a new language needs all four. Checked at start. See the README's Invitations section for the fields."},
			parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				if fi, err := os.Stat(v); err != nil || !fi.IsDir() {
					return errors.New("expected an existing directory")
				}
				c.MailTemplatesDir = v
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.MailTemplatesDir} },
		},
		{
			VarDoc: VarDoc{Name: "DEFAULT_TIME_ZONE", Default: "UTC",
				Description: "IANA time zone (`Europe/Rome`) in which invitations show the date and time to participants without a `timeZone`."},
			value: "UTC",
			parse: func(c *Config, v string) error {
				if _, err := time.LoadLocation(v); err != nil || v == "Local" {
					return errors.New("expected an IANA time zone name such as Europe/Rome or UTC")
				}
				c.DefaultTimeZone = v
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.DefaultTimeZone} },
		},
		{
			VarDoc: VarDoc{Name: "INVITE_SHOW_NAMES", Default: "false",
				Description: "`true`: invitations name the other participants (their `fullName`). Off by default: an invitation carries the minimum of patient data. true/false or 1/0."},
			value: "false",
			parse: func(c *Config, v string) (err error) { c.InviteShowNames, err = parseBool(v); return err },
			show:  func(c *Config) shown { return shown{value: strconv.FormatBool(c.InviteShowNames)} },
		},
		{
			VarDoc: VarDoc{Name: "COMPANY_NAME", Default: "Teleconsult",
				Description: "Name of the clinic or company shown in invitations (with the JSON configuration's `companyLogo`), at most 100 characters."},
			value: "Teleconsult",
			parse: func(c *Config, v string) error {
				if len([]rune(v)) > 100 || strings.ContainsFunc(v, unicode.IsControl) {
					return errors.New("expected at most 100 printable characters")
				}
				c.CompanyName = v
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.CompanyName} },
		},
		{
			VarDoc: VarDoc{Name: "DEVICE_CHECK_URL", Default: "",
				Description: "Page where participants check their camera, microphone and connection before the visit, linked from invitations: an absolute http(s) URL without query, or `none` to leave the link out. Unset: PUBLIC_URL/check (the call page's device check)."},
			parse: func(c *Config, v string) error {
				switch v {
				case "":
					c.DeviceCheckURL = c.PublicURL + "/check"
				case "none":
					c.DeviceCheckURL = ""
				default:
					u, err := parseBaseURL(v)
					if err != nil {
						return err
					}
					c.DeviceCheckURL = u
				}
				return nil
			},
			show: func(c *Config) shown {
				s := shown{value: c.DeviceCheckURL}
				if c.source("DEVICE_CHECK_URL") == sourceDefault {
					s.note = "from PUBLIC_URL"
				}
				return s
			},
		},

		// Uploads and the built-in video: config_media.go.
	}, mediaVariables(), netVariables(), webhookVariables(), fhirVariables(), auditVariables(), kaleyraVariables(), []variable{
		// Mia-Platform's Teleconsultation Service Backend: its names and
		// defaults, after Kaleyra's BANDYER_* (providers.go).
		{
			VarDoc: VarDoc{Name: "TELECONSULTATION_SERVICE_CONFIG_PATH", Default: "", Mia: true,
				Description: "Path of the JSON configuration file (privileges of the basic and plus groups and their tools, theme, companyLogo, groupsWithBackgroundList, userIdPathInRequest). Fields absent from the file keep their defaults; unknown fields are refused. Unset: the built-in default (basic: patient, plus: doctor, every tool on)."},
			parse: func(c *Config, v string) error {
				header := c.UserIDHeader
				if header == "" { // USERID_HEADER_KEY was invalid
					header = "miauserid"
				}
				if v == "" {
					c.ServiceConfig = teleconsult.DefaultServiceConfig(header)
					return nil
				}
				cfg, err := readServiceConfig(v, header)
				if err != nil {
					return err
				}
				c.ServiceConfigPath = v
				c.ServiceConfig = cfg
				return nil
			},
			show: func(c *Config) shown {
				s := shown{value: c.ServiceConfigPath}
				if c.ServiceConfigPath == "" {
					s.note = "built-in default JSON configuration"
				}
				return s
			},
		},
		{
			VarDoc: VarDoc{Name: "TELECONSULTATIONS_CRUD_NAME", Default: "", Mia: true, Unused: true,
				Description: "Accepted for compatibility with Mia-Platform and unused: teleconsultations are kept in DATABASE_URL."},
			parse: func(c *Config, v string) error { c.TeleconsultationsCRUDName = v; return nil },
			show:  func(c *Config) shown { return shown{value: c.TeleconsultationsCRUDName} },
		},
		{
			VarDoc: VarDoc{Name: "USER_ID_MAP_CRUD_NAME", Default: "", Mia: true, Unused: true,
				Description: "Accepted for compatibility with Mia-Platform and unused: the user id map is kept in DATABASE_URL."},
			parse: func(c *Config, v string) error { c.UserIDMapCRUDName, c.userIDMapCRUDName = v, v; return nil },
			show:  func(c *Config) shown { return shown{value: c.userIDMapCRUDName} },
		},
		{
			VarDoc: VarDoc{Name: "USER_MAP_ID_CRUD_NAME", Default: "", Mia: true, Unused: true,
				Description: "The other spelling of USER_ID_MAP_CRUD_NAME in Mia's documentation, accepted the same way; setting both to different values is an error."},
			parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				if c.UserIDMapCRUDName != "" && c.UserIDMapCRUDName != v {
					return errors.New("differs from USER_ID_MAP_CRUD_NAME, its other spelling: set only one")
				}
				c.UserIDMapCRUDName, c.userMapIDCRUDName = v, v
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.userMapIDCRUDName} },
		},
		{
			VarDoc: VarDoc{Name: "AUTH_SERVICE", Default: "", Mia: true,
				Description: "Mia-Platform's auth service (auth0-client): a host (`auth0-client`, meaning http://auth0-client), host:port, or an absolute http(s) URL. Set, participants may be given as an array of user ids (or as data entries with only userId, language, email, timeZone), and their fullName, email and groups are read from it (AUTH_SERVICE_USER_PATH). Unset, each participant must come with its groups and fullName."},
			parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				u := v
				if !strings.Contains(v, "://") {
					u = "http://" + v
				}
				base, err := parseBaseURL(u)
				if err != nil || strings.IndexFunc(v, unicode.IsSpace) >= 0 {
					return errors.New("expected a host name (auth0-client), host:port, or an absolute http:// or https:// URL without query, without spaces")
				}
				c.AuthService, c.AuthServiceURL = v, base
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.AuthService} },
		},
		{
			VarDoc: VarDoc{Name: "CUSTOM_ID_USERS_API_ENDPOINT", Default: "", Mia: true,
				Description: "URL of a users collection that resolves custom user ids (a CRUD `_id`, an email) to auth ids before AUTH_SERVICE is asked, e.g. `http://crud-service/users/`, with the JSON configuration's `customUserId` {source, target} (default `_id` and `authUserId`): see the README's AUTH_SERVICE section. Needs AUTH_SERVICE."},
			parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				if _, err := parseBaseURL(v); err != nil {
					return err
				}
				c.CustomIDUsersAPIEndpoint = v
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.CustomIDUsersAPIEndpoint} },
		},
		{
			VarDoc: VarDoc{Name: "DEFAULT_CLIENT_TYPE", Default: "", Mia: true,
				Description: "The `client-type` header sent to AUTH_SERVICE when the request has none (Mia: the application whose users auth0-client reads)."},
			parse: func(c *Config, v string) error {
				if v != "" && !isToken(v) {
					return errors.New("expected a client type such as backoffice (letters, digits and !#$%&'*+-.^_`|~)")
				}
				c.DefaultClientType = v
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.DefaultClientType} },
		},
		{
			VarDoc: VarDoc{Name: "UNLIMITED_TELECONSULTATION", Default: "true", Mia: true,
				Description: "`true`: a room stays open after its end_date. `false`: it closes at the end and everyone is ejected. true/false or 1/0."},
			value: "true",
			parse: func(c *Config, v string) (err error) { c.Unlimited, err = parseBool(v); return err },
			show:  func(c *Config) shown { return shown{value: strconv.FormatBool(c.Unlimited)} },
		},
		{
			VarDoc: VarDoc{Name: "LIVE_TELECONSULTATION", Default: "true", Mia: true,
				Description: "`true`: a call ends when a participant leaves and fewer than two remain. true/false or 1/0."},
			value: "true",
			parse: func(c *Config, v string) (err error) { c.Live, err = parseBool(v); return err },
			show:  func(c *Config) shown { return shown{value: strconv.FormatBool(c.Live)} },
		},
		{
			VarDoc: VarDoc{Name: "WAITING_ROOM", Default: "false",
				Description: "`true`: with the built-in video provider, participants whose role waits (`privileges.<role>.waits` of the JSON configuration; by default basic) are held in a waiting room, without media or chat, until a participant whose role admits (`admits`; by default plus) lets them in or declines them (docs/signalling.md). `false`: everyone enters the call at once. true/false or 1/0."},
			value: "false",
			parse: func(c *Config, v string) (err error) { c.WaitingRoom, err = parseBool(v); return err },
			show:  func(c *Config) shown { return shown{value: strconv.FormatBool(c.WaitingRoom)} },
		},
		{
			VarDoc: VarDoc{Name: "IMMUTABLE_PERIOD_MS", Default: "0", Mia: true,
				Description: "Milliseconds before start_date from which participants may join, links are revealed and changes are refused: a whole number from 0 to 604800000 (7 days)."},
			value: "0",
			parse: func(c *Config, v string) error {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 0 || n > maxImmutablePeriod.Milliseconds() {
					return fmt.Errorf("expected a whole number of milliseconds from 0 to %d (7 days)", maxImmutablePeriod.Milliseconds())
				}
				c.ImmutablePeriod = time.Duration(n) * time.Millisecond
				return nil
			},
			show: func(c *Config) shown {
				return shown{value: strconv.FormatInt(c.ImmutablePeriod.Milliseconds(), 10), note: c.ImmutablePeriod.String()}
			},
		},
		{
			VarDoc: VarDoc{Name: "TELECONSULTATION_DELETE_UPLOADS", Default: "false", Mia: true,
				Description: "`true`: the files uploaded during a call are deleted when it ends. true/false or 1/0."},
			value: "false",
			parse: func(c *Config, v string) (err error) { c.DeleteUploads, err = parseBool(v); return err },
			show:  func(c *Config) shown { return shown{value: strconv.FormatBool(c.DeleteUploads)} },
		},
	})
}

// LoadConfig reads every variable of [Variables] through getenv (os.Getenv
// in production), applies the defaults and validates. Surrounding spaces
// are ignored and an empty variable counts as unset. The error names every
// bad variable and says what is expected; it never repeats a secret.
func LoadConfig(getenv func(string) string) (*Config, error) {
	c := &Config{sources: map[string]string{}}
	var errs []error
	for _, v := range variables() {
		raw := strings.TrimSpace(getenv(v.Name))
		c.sources[v.Name] = sourceEnv
		if raw == "" {
			raw = v.value
			c.sources[v.Name] = sourceDefault
		}
		if err := v.parse(c, raw); err != nil {
			if v.Secret {
				errs = append(errs, fmt.Errorf("%s: %w", v.Name, err))
			} else {
				errs = append(errs, fmt.Errorf("%s=%s: %w", v.Name, quote(redactPassword(raw)), err))
			}
		}
	}
	if len(errs) == 0 {
		errs = append(c.checkProvider(), c.checkCombinations()...)
		errs = append(errs, c.checkWebhooks()...)
		errs = append(errs, c.checkFHIR()...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// checkProvider checks that the chosen video provider has its settings.
func (c *Config) checkProvider() []error {
	var errs []error
	need := func(name, value string) {
		if value == "" {
			errs = append(errs, fmt.Errorf("%s: required when VIDEO_PROVIDER=%s", name, c.VideoProvider))
		}
	}
	switch c.VideoProvider {
	case ProviderDaily:
		need("DAILY_API_KEY", c.Daily.APIKey)
	case ProviderKaleyra:
		need("BANDYER_API_SECRET_KEY", c.Kaleyra.APIKey)
		if c.Kaleyra.BaseURL == "" {
			// The JSON configuration's environment (Mia v1) chooses.
			c.Kaleyra.BaseURL = kaleyra.BaseURLs[c.ServiceConfig.Environment]
			if c.Kaleyra.BaseURL == "" {
				errs = append(errs, errors.New("BANDYER_BASE_URL: required when VIDEO_PROVIDER=kaleyra, unless the JSON configuration's environment (sandbox or production) chooses it"))
			}
		}
	}
	return errs
}

// checkCombinations checks the variables that depend on one another.
func (c *Config) checkCombinations() []error {
	var errs []error
	if c.TrustGatewayIdentity && c.TrustedProxies.Len() == 0 {
		errs = append(errs, errors.New("TRUST_GATEWAY_IDENTITY: true needs TRUSTED_PROXIES (the gateway's addresses)"))
	}
	if c.CustomIDUsersAPIEndpoint != "" && c.AuthService == "" {
		errs = append(errs, errors.New("CUSTOM_ID_USERS_API_ENDPOINT: needs AUTH_SERVICE (custom ids are resolved to its user ids)"))
	}
	return errs
}

// Settings returns the rules' parameters for [teleconsult.Service].
func (c *Config) Settings() teleconsult.Settings {
	sc := c.ServiceConfig
	sc.Privileges.Basic.Groups = slices.Clone(sc.Privileges.Basic.Groups)
	sc.Privileges.Plus.Groups = slices.Clone(sc.Privileges.Plus.Groups)
	sc.GroupsWithBackgroundList = slices.Clone(sc.GroupsWithBackgroundList)
	sc.UserIDPathInRequest = slices.Clone(sc.UserIDPathInRequest)
	return teleconsult.Settings{
		ImmutablePeriod:    c.ImmutablePeriod,
		Unlimited:          c.Unlimited,
		Live:               c.Live,
		WaitingRoom:        c.WaitingRoom,
		DeleteUploads:      c.DeleteUploads,
		UploadMaxBytes:     c.Media.UploadMaxBytes,
		UploadTypes:        slices.Clone(c.Media.UploadTypes),
		StartAudioOff:      c.StartAudioOff,
		StartVideoOff:      c.StartVideoOff,
		BackgroundOptional: c.BackgroundOptional,
		AuthService:        c.AuthService,
		PublicURL:          c.PublicURL,
		SessionTTL:         c.SessionTTL,
		Config:             sc,
		Invitations:        c.SMTP != nil,
		Webhooks:           c.webhookEndpoints(),
	}
}

// Print writes the effective configuration for `teleconsult config check`:
// one NAME=value line per variable, followed by its source (default, env or
// file) and notes, then the effective JSON configuration. Secrets are never
// written: only whether they are set, and where from. It reads DATA_DIR to
// tell whether generated keys exist, and creates nothing.
func (c *Config) Print(w io.Writer) {
	var b strings.Builder
	b.WriteString("# Teleconsult effective configuration: NAME=value  # source (default, env or file)\n")
	for _, v := range variables() {
		s := v.show(c)
		if s.masked {
			b.WriteString(v.Name + "=" + s.value)
		} else {
			b.WriteString(v.Name + "=" + quote(redactPassword(s.value)))
		}
		src := s.source
		if src == "" {
			src = c.source(v.Name)
		}
		b.WriteString("  # " + src)
		if v.Unused {
			b.WriteString(", unused (accepted for compatibility)")
		}
		if s.note != "" {
			b.WriteString(", " + s.note)
		}
		b.WriteString("\n")
	}
	if c.ServiceConfigPath == "" {
		b.WriteString("\n# Effective JSON configuration (default: TELECONSULTATION_SERVICE_CONFIG_PATH is not set):\n")
	} else {
		fmt.Fprintf(&b, "\n# Effective JSON configuration (file %s; absent fields have their defaults):\n", c.ServiceConfigPath)
	}
	js, err := json.MarshalIndent(c.ServiceConfig, "", "  ")
	if err != nil {
		fmt.Fprintf(&b, "# cannot encode: %v\n", err)
	} else {
		b.Write(js)
		b.WriteString("\n")
	}
	_, _ = io.WriteString(w, b.String())
}

// source returns where the variable name's value came from.
func (c *Config) source(name string) string {
	if s, ok := c.sources[name]; ok {
		return s
	}
	return sourceDefault
}

// secretStatus shows whether a secret is set, never its value.
func secretStatus(v string) shown { return fromShown(envvar.SecretStatus(v)) }

// apiKeysStatus shows where the API keys come from, never a key.
func apiKeysStatus(dataDir string, fromEnv []string) shown {
	if len(fromEnv) > 0 {
		return shown{masked: true, value: fmt.Sprintf("%s (%s)", mask, plural(len(fromEnv), "key"))}
	}
	path := filepath.Join(dataDir, APIKeysFile)
	hashes, err := readAPIKeyHashes(path)
	switch {
	case err != nil:
		return shown{masked: true, value: "(invalid: " + err.Error() + ")", source: sourceFile}
	case hashes == nil:
		return shown{masked: true, value: "(not set: one will be generated and printed once on first start; only its hash is kept in " + path + ")"}
	}
	return shown{masked: true, value: fmt.Sprintf("%s (%s hashed in %s)", mask, plural(len(hashes), "key"), path), source: sourceFile}
}

// encryptionKeyStatus shows where the encryption key comes from, never the
// key.
func encryptionKeyStatus(dataDir string, fromEnv []byte) shown {
	path := filepath.Join(dataDir, EncryptionKeyFile)
	fileKey, err := readEncryptionKeyFile(path)
	switch {
	case err != nil:
		return shown{masked: true, value: "(invalid: " + err.Error() + ")", source: sourceFile}
	case len(fromEnv) > 0 && fileKey != nil && !bytes.Equal(fileKey, fromEnv):
		return shown{masked: true, value: mask + " (set)", note: "DIFFERS from " + path + ": the service will refuse to start"}
	case len(fromEnv) > 0:
		return shown{masked: true, value: mask + " (set)"}
	case fileKey != nil:
		return shown{masked: true, value: mask + " (generated under DATA_DIR: " + path + ")", source: sourceFile}
	}
	return shown{masked: true, value: "(not set: will be generated on first start in " + path + ")"}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// quote returns s as is when it is plain, else Go-quoted, so that spaces,
// '#' and control characters are visible.
func quote(s string) string {
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '"' || r == '\'' || r == '\\' || r == '#' || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// parseBool is [envvar.Bool].
func parseBool(v string) (bool, error) { return envvar.Bool(v) }

// checkHostPort checks a LISTEN_ADDR.
func checkHostPort(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return errors.New("expected host:port, e.g. 127.0.0.1:8080, :8080 or [::1]:8080")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q: expected a number from 0 to 65535", port)
	}
	if strings.ContainsAny(host, "/ \t") {
		return fmt.Errorf("host %q: expected a host name or an IP address", host)
	}
	return nil
}

// defaultPublicURL is http://LISTEN_ADDR with a wildcard or empty host
// replaced by 127.0.0.1.
func defaultPublicURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil { // LISTEN_ADDR was invalid and is reported
		return teleconsult.DefaultSettings().PublicURL
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// parseBaseURL is [envvar.BaseURL]: an absolute http(s) URL without
// credentials, query or fragment, returned without trailing slash.
func parseBaseURL(v string) (string, error) { return envvar.BaseURL(v) }

// redactPassword hides the password of a value that is a URL with one
// (user:password@host), for values that are not secret but could carry
// credentials by mistake.
func redactPassword(v string) string {
	if !strings.Contains(v, "@") {
		return v
	}
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return v
	}
	if _, ok := u.User.Password(); !ok {
		return v
	}
	return redactDatabaseURL(v)
}

// redactDatabaseURL hides the passwords of a PostgreSQL URL: in the
// user-info part and in any query parameter whose name contains
// "password" (password, sslpassword).
func redactDatabaseURL(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		return mask
	}
	const placeholder = "REDACTED"
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), placeholder)
	}
	params := strings.Split(u.RawQuery, "&")
	for i, p := range params {
		name, _, _ := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err != nil || strings.Contains(strings.ToLower(n), "password") {
			params[i] = name + "=" + placeholder
		}
	}
	u.RawQuery = strings.Join(params, "&")
	return strings.ReplaceAll(u.String(), placeholder, mask)
}

// parseAPIKeys splits and checks API_KEYS, never repeating a key.
func parseAPIKeys(v string) ([]string, error) {
	var keys []string
	parts := strings.Split(v, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if err := checkAPIKey(p); err != nil {
			return nil, fmt.Errorf("key %d of %d: %w", i+1, len(parts), err)
		}
		if j := slices.Index(keys, p); j >= 0 {
			return nil, fmt.Errorf("key %d of %d: repeats an earlier key", i+1, len(parts))
		}
		keys = append(keys, p)
	}
	if len(keys) == 0 {
		return nil, errors.New("expected comma-separated keys, found none")
	}
	return keys, nil
}

// checkAPIKey checks one API key: at least 16 characters, all valid in a
// Bearer token (RFC 6750 b64token). The error does not repeat the key.
func checkAPIKey(k string) error {
	if len(k) < minAPIKeyLen {
		return fmt.Errorf("%d characters; expected at least %d (e.g. from openssl rand -base64 32)", len(k), minAPIKeyLen)
	}
	body := strings.TrimRight(k, "=")
	for _, r := range body {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && !strings.ContainsRune("-._~+/", r) {
			return errors.New("expected only A-Z a-z 0-9 - . _ ~ + / and trailing =, as in a Bearer token")
		}
	}
	if body == "" {
		return errors.New("expected a key, not only =")
	}
	return nil
}

// decodeEncryptionKey decodes ENCRYPTION_KEY, never repeating it.
func decodeEncryptionKey(v string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("not standard base64; expected %d random bytes in standard base64, 44 characters (openssl rand -base64 32)", teleconsult.KeySize)
	}
	if len(key) != teleconsult.KeySize {
		return nil, fmt.Errorf("decodes to %d bytes; expected exactly %d (openssl rand -base64 32)", len(key), teleconsult.KeySize)
	}
	return key, nil
}

// isToken reports whether s is an HTTP token (RFC 9110), as header names
// are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && !strings.ContainsRune("!#$%&'*+-.^_`|~", r) {
			return false
		}
	}
	return true
}

// readServiceConfig reads and parses the JSON configuration file. Errors
// give the JSON path (and the line for syntax errors); the caller names
// the variable and the file.
func readServiceConfig(path, userIDHeader string) (teleconsult.ServiceConfig, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the file the operator configured
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return teleconsult.ServiceConfig{}, fmt.Errorf("cannot read the file: %w", err)
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFileSize+1))
	if err != nil {
		return teleconsult.ServiceConfig{}, fmt.Errorf("cannot read the file: %w", err)
	}
	if len(data) > maxConfigFileSize {
		return teleconsult.ServiceConfig{}, fmt.Errorf("file larger than %d bytes", maxConfigFileSize)
	}
	cfg, err := teleconsult.ParseServiceConfig(bytes.NewReader(data), userIDHeader)
	if err != nil {
		return teleconsult.ServiceConfig{}, describeJSONError(data, err)
	}
	if err := checkDuplicateKeys(data); err != nil {
		return teleconsult.ServiceConfig{}, err
	}
	return cfg, nil
}

// describeJSONError rewrites an error of ParseServiceConfig so that it
// leads with the JSON path and says what is expected, without Go type
// names.
func describeJSONError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := lineCol(data, se.Offset)
		return fmt.Errorf("line %d, column %d: invalid JSON: %s", line, col, se.Error())
	case errors.As(err, &te):
		path := strings.TrimPrefix(te.Field, "ServiceConfig.")
		if path == "" {
			return fmt.Errorf("expected a JSON object, found a JSON %s", te.Value)
		}
		return fmt.Errorf("%s: expected %s, found a JSON %s", path, describeType(te.Type), te.Value)
	case errors.Is(err, io.EOF):
		return errors.New("empty file; expected a JSON object with at least \"privileges\"")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the JSON ends too early (truncated file?)")
	}
	msg := strings.TrimPrefix(err.Error(), "config file: ")
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		if unq, uerr := strconv.Unquote(name); uerr == nil {
			if paths := keyPaths(data, unq); len(paths) == 1 {
				return fmt.Errorf("%s: unknown field", paths[0])
			}
		}
		return fmt.Errorf("unknown field %s", name)
	}
	return errors.New(msg)
}

// describeType names what a Go type expects in JSON.
func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(describeType(t.Elem()), "an "), "a ") + "s"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	default:
		return "a number"
	}
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, max(col, 1)
}

// keyPaths returns the JSON paths where key occurs as an object key.
func keyPaths(data []byte, key string) []string {
	var paths []string
	_, _ = strictjson.Parse(data, strictjson.Options{Duplicates: true, Key: func(parent strictjson.Path, k string) {
		if k == key {
			paths = append(paths, strings.TrimPrefix(parent.String()+"."+k, "."))
		}
	}})
	return paths
}

// checkDuplicateKeys refuses an object key given twice: encoding/json
// would silently keep the last one.
func checkDuplicateKeys(data []byte) error {
	_, err := strictjson.Parse(data, strictjson.Options{})
	if e, ok := errors.AsType[*strictjson.Error](err); ok && e.Kind == strictjson.DuplicateKey {
		return fmt.Errorf("%s: duplicate key; expected each key once", strings.TrimPrefix(e.Path.String()+"."+e.Key, "."))
	}
	return nil
}
