package main

import (
	"encoding/base64"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/sfu"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// mustLoad loads the configuration from m or fails the test.
func mustLoad(t *testing.T, m map[string]string) *Config {
	t.Helper()
	c, err := LoadConfig(env(m))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	return c
}

// writeFile writes content to name under a temporary directory and returns
// its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testKey is a valid ENCRYPTION_KEY.
var testKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// Ensure an empty environment gives every documented default.
func TestLoadConfigDefaults(t *testing.T) {
	c := mustLoad(t, nil)
	for _, tt := range []struct {
		name      string
		got, want any
	}{
		{"ListenAddr", c.ListenAddr, "127.0.0.1:8080"},
		{"PublicURL", c.PublicURL, "http://127.0.0.1:8080"},
		{"DataDir", c.DataDir, "./data"},
		{"DatabaseURL", c.DatabaseURL, ""},
		{"DatabaseDriver", c.DatabaseDriver, DriverSQLite},
		{"SQLitePath", c.SQLitePath, filepath.Join("data", "teleconsult.db")},
		{"APIKeys", len(c.APIKeys), 0},
		{"EncryptionKey", len(c.EncryptionKey), 0},
		{"UserIDHeader", c.UserIDHeader, "miauserid"},
		{"VideoProvider", c.VideoProvider, ProviderBuiltin},
		{"Daily.APIKey", c.Daily.APIKey, ""},
		{"Daily.BaseURL", c.Daily.BaseURL, "https://api.daily.co/v1"},
		{"SessionTTL", c.SessionTTL, 15 * time.Minute},
		{"LogLevel", c.LogLevel, slog.LevelInfo},
		{"LogFormat", c.LogFormat, LogFormatText},
		{"MaxBodyBytes", c.MaxBodyBytes, int64(1048576)},
		{"Kaleyra.APIKey", c.Kaleyra.APIKey, ""},
		{"Kaleyra.BaseURL", c.Kaleyra.BaseURL, ""},
		{"ServiceConfigPath", c.ServiceConfigPath, ""},
		{"TeleconsultationsCRUDName", c.TeleconsultationsCRUDName, ""},
		{"UserIDMapCRUDName", c.UserIDMapCRUDName, ""},
		{"AuthService", c.AuthService, ""},
		{"CustomIDUsersAPIEndpoint", c.CustomIDUsersAPIEndpoint, ""},
		{"DefaultClientType", c.DefaultClientType, ""},
		{"Unlimited", c.Unlimited, true},
		{"Live", c.Live, true},
		{"ImmutablePeriod", c.ImmutablePeriod, time.Duration(0)},
		{"DeleteUploads", c.DeleteUploads, false},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if got, want := c.Settings(), teleconsult.DefaultSettings(); !reflect.DeepEqual(got, want) {
		t.Errorf("Settings() = %+v\nwant DefaultSettings() = %+v", got, want)
	}
}

// Ensure every variable is read from the environment and parsed.
func TestLoadConfigValues(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeFile(t, "config.json", `{
		"privileges": {
			"basic": {"groups": ["customer"], "tools": {"chat": true}},
			"plus": {"groups": ["doctor", "nurse"]}
		},
		"environment": "sandbox", "mode": "window"
	}`)
	c := mustLoad(t, map[string]string{
		"LISTEN_ADDR":                          "  0.0.0.0:9000 ",
		"PUBLIC_URL":                           "HTTPS://visit.example.org/tc/",
		"DATA_DIR":                             dir,
		"DATABASE_URL":                         "postgresql://tc:pw@db.example.org:5432/tc?sslmode=require",
		"API_KEYS":                             "abcdefghijklmnop, qrstuvwxyz012345==",
		"ENCRYPTION_KEY":                       testKey,
		"USERID_HEADER_KEY":                    "X-User-Id",
		"VIDEO_PROVIDER":                       "Kaleyra",
		"DAILY_API_KEY":                        "daily-key",
		"DAILY_API_URL":                        "http://127.0.0.1:7777/v1/",
		"SESSION_TTL":                          "1h30m",
		"LOG_LEVEL":                            "DEBUG",
		"LOG_FORMAT":                           "json",
		"MAX_BODY_BYTES":                       "2048",
		"BANDYER_API_SECRET_KEY":               "ak_live_123",
		"BANDYER_BASE_URL":                     "https://api.sandbox.eu.bandyer.com/",
		"TELECONSULTATION_SERVICE_CONFIG_PATH": cfgPath,
		"TELECONSULTATIONS_CRUD_NAME":          "teleconsultations",
		"USER_ID_MAP_CRUD_NAME":                "user-id-map",
		"AUTH_SERVICE":                         "auth0-client",
		"CUSTOM_ID_USERS_API_ENDPOINT":         "http://crud-service/users/",
		"DEFAULT_CLIENT_TYPE":                  "backoffice",
		"UNLIMITED_TELECONSULTATION":           "false",
		"LIVE_TELECONSULTATION":                "0",
		"IMMUTABLE_PERIOD_MS":                  "600000",
		"TELECONSULTATION_DELETE_UPLOADS":      "1",
		"UPLOAD_ALLOWED_TYPES":                 " PDF,.jpg ",
	})
	if got := c.Settings().UploadTypes; !slices.Equal(got, []string{"pdf", "jpg"}) {
		t.Errorf("UPLOAD_ALLOWED_TYPES: %v", got)
	}
	for _, tt := range []struct {
		name      string
		got, want any
	}{
		{"ListenAddr", c.ListenAddr, "0.0.0.0:9000"},
		{"PublicURL", c.PublicURL, "https://visit.example.org/tc"},
		{"DataDir", c.DataDir, dir},
		{"DatabaseURL", c.DatabaseURL, "postgresql://tc:pw@db.example.org:5432/tc?sslmode=require"},
		{"DatabaseDriver", c.DatabaseDriver, DriverPostgres},
		{"SQLitePath", c.SQLitePath, ""},
		{"APIKeys", strings.Join(c.APIKeys, ","), "abcdefghijklmnop,qrstuvwxyz012345=="},
		{"EncryptionKey", string(c.EncryptionKey), "0123456789abcdef0123456789abcdef"},
		{"UserIDHeader", c.UserIDHeader, "x-user-id"},
		{"VideoProvider", c.VideoProvider, ProviderKaleyra},
		{"Daily.APIKey", c.Daily.APIKey, "daily-key"},
		{"Daily.BaseURL", c.Daily.BaseURL, "http://127.0.0.1:7777/v1"},
		{"SessionTTL", c.SessionTTL, 90 * time.Minute},
		{"LogLevel", c.LogLevel, slog.LevelDebug},
		{"LogFormat", c.LogFormat, LogFormatJSON},
		{"MaxBodyBytes", c.MaxBodyBytes, int64(2048)},
		{"Kaleyra.APIKey", c.Kaleyra.APIKey, "ak_live_123"},
		{"Kaleyra.BaseURL", c.Kaleyra.BaseURL, "https://api.sandbox.eu.bandyer.com"},
		{"ServiceConfigPath", c.ServiceConfigPath, cfgPath},
		{"TeleconsultationsCRUDName", c.TeleconsultationsCRUDName, "teleconsultations"},
		{"UserIDMapCRUDName", c.UserIDMapCRUDName, "user-id-map"},
		{"AuthService", c.AuthService, "auth0-client"},
		{"CustomIDUsersAPIEndpoint", c.CustomIDUsersAPIEndpoint, "http://crud-service/users/"},
		{"DefaultClientType", c.DefaultClientType, "backoffice"},
		{"Unlimited", c.Unlimited, false},
		{"Live", c.Live, false},
		{"ImmutablePeriod", c.ImmutablePeriod, 10 * time.Minute},
		{"DeleteUploads", c.DeleteUploads, true},
		{"basic groups", strings.Join(c.ServiceConfig.Privileges.Basic.Groups, ","), "customer"},
		{"plus groups", strings.Join(c.ServiceConfig.Privileges.Plus.Groups, ","), "doctor,nurse"},
		{"basic chat", c.ServiceConfig.Privileges.Basic.Tools.Chat, true},
		// The default userIdPathInRequest reads USERID_HEADER_KEY, lowercased.
		{"userIdPathInRequest", c.ServiceConfig.UserIDPathInRequest[1].Extract, "x-user-id"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	s := c.Settings()
	if s.ImmutablePeriod != 10*time.Minute || s.Unlimited || s.Live || !s.DeleteUploads ||
		s.AuthService != "auth0-client" || s.PublicURL != "https://visit.example.org/tc" || s.SessionTTL != 90*time.Minute ||
		!reflect.DeepEqual(s.Config, c.ServiceConfig) {
		t.Errorf("Settings() = %+v", s)
	}
	// Settings must not share slices with the Config.
	s.Config.Privileges.Plus.Groups[0] = "changed"
	if c.ServiceConfig.Privileges.Plus.Groups[0] != "doctor" {
		t.Error("Settings() shares the groups slice with the Config")
	}
}

// Ensure the default PUBLIC_URL follows LISTEN_ADDR, with a wildcard host
// replaced by 127.0.0.1, and that a given PUBLIC_URL is normalised.
func TestPublicURL(t *testing.T) {
	for _, tt := range []struct {
		listen, public, want string
	}{
		{"127.0.0.1:8080", "", "http://127.0.0.1:8080"},
		{"0.0.0.0:9000", "", "http://127.0.0.1:9000"},
		{":9000", "", "http://127.0.0.1:9000"},
		{"[::]:9000", "", "http://127.0.0.1:9000"},
		{"[::1]:9000", "", "http://[::1]:9000"},
		{"localhost:80", "", "http://localhost:80"},
		{"0.0.0.0:9000", "https://tc.example.org/", "https://tc.example.org"},
		{"0.0.0.0:9000", "https://tc.example.org/visits//", "https://tc.example.org/visits"},
		{"0.0.0.0:9000", "http://10.0.0.5:8443", "http://10.0.0.5:8443"},
	} {
		c := mustLoad(t, map[string]string{"LISTEN_ADDR": tt.listen, "PUBLIC_URL": tt.public})
		if c.PublicURL != tt.want {
			t.Errorf("LISTEN_ADDR=%s PUBLIC_URL=%s: PublicURL = %s, want %s", tt.listen, tt.public, c.PublicURL, tt.want)
		}
	}
}

// Ensure a bad value of each variable is refused with an error that names
// the variable and says what is expected, and that a secret is never
// repeated in the error.
func TestLoadConfigBadValues(t *testing.T) {
	for _, tt := range []struct {
		name, value string
		want        string // part of the expectation in the message
	}{
		{"LISTEN_ADDR", "8080", "host:port"},
		{"LISTEN_ADDR", "localhost", "host:port"},
		{"LISTEN_ADDR", "127.0.0.1:http", "number from 0 to 65535"},
		{"LISTEN_ADDR", "127.0.0.1:70000", "number from 0 to 65535"},
		{"LISTEN_ADDR", "http://x:80", "host"},
		{"PUBLIC_URL", "example.org", "absolute http:// or https:// URL"},
		{"PUBLIC_URL", "ftp://example.org", "absolute http:// or https:// URL"},
		{"PUBLIC_URL", "/relative", "absolute http:// or https:// URL"},
		{"PUBLIC_URL", "https://", "absolute http:// or https:// URL"},
		{"PUBLIC_URL", "https://example.org/?a=b", "without query"},
		{"PUBLIC_URL", "https://example.org/#top", "fragment"},
		{"PUBLIC_URL", "https://example.org?", "without query"},
		{"PUBLIC_URL", "https://u:PASSWORD@example.org", "without user name or password"},
		{"BANDYER_BASE_URL", "https://u:PASSWORD@api.eu.bandyer.com", "without user name or password"},
		{"FRAME_ANCESTORS", "portal.example.org", "origins such as https://portal.example.org"},
		{"FRAME_ANCESTORS", "https://portal.example.org/app", "origins such as"},
		{"FRAME_ANCESTORS", "https://a.example.org,'self'", "origins such as"},
		{"FRAME_ANCESTORS", "https://*.example.org", "origins such as"},
		{"DAILY_DOMAIN", "clinic.daily.co", "Daily domain's name"},
		{"DAILY_DOMAIN", "https://clinic.daily.co/room", "Daily domain's name"},
		{"DAILY_DOMAIN", "http://clinic.daily.co", "http only on a loopback address"},
		{"DAILY_DOMAIN", "-clinic", "Daily domain's name"},
		{"DATA_DIR", "a\x00b", "directory"},
		{"AUDIT_RETENTION", "30m", "from 1h to 100 years"},
		{"AUDIT_RETENTION", "-2d", "a number of days such as 2190d"},
		{"AUDIT_RETENTION", "forever", "0 (keep every entry)"},
		{"AUDIT_RETENTION", "99999d", "from 1h to 100 years"},
		{"DATABASE_URL", "mysql://u:p@db/x", "postgres://"},
		{"DATABASE_URL", "host=db user=tc", "postgres://"},
		{"DATABASE_URL", "postgres://u:p%zz@db/x", "not a valid URL"},
		{"UPLOAD_ALLOWED_TYPES", "pdf,html", `"html" is not a known file type: expected some of png,jpg`},
		{"UPLOAD_ALLOWED_TYPES", " , ", "at least one of png"},
		{"API_KEYS", "short", "at least 16"},
		{"API_KEYS", "abcdefghijklmnop,short", "key 2 of 2"},
		{"API_KEYS", "abcdefghijklmnop qrstuv", "Bearer token"},
		{"API_KEYS", "abcdefghijklmnop,abcdefghijklmnop", "repeats"},
		{"API_KEYS", ",,", "found none"},
		{"ENCRYPTION_KEY", "not base64!", "standard base64"},
		{"ENCRYPTION_KEY", base64.StdEncoding.EncodeToString(make([]byte, 16)), "expected exactly 32"},
		{"ENCRYPTION_KEY", base64.RawURLEncoding.EncodeToString(make([]byte, 32)), "standard base64"},
		{"USERID_HEADER_KEY", "user id", "HTTP header name"},
		{"USERID_HEADER_KEY", "x-user:id", "HTTP header name"},
		{"VIDEO_PROVIDER", "zoom", "builtin, daily or kaleyra"},
		{"DAILY_API_KEY", "has space", "visible ASCII"},
		{"DAILY_API_URL", "api.daily.co", "absolute http:// or https:// URL"},
		{"SESSION_TTL", "15", "duration"},
		{"SESSION_TTL", "30s", "from 1m0s to 24h0m0s"},
		{"SESSION_TTL", "25h", "from 1m0s to 24h0m0s"},
		{"LOG_LEVEL", "verbose", "debug, info, warn or error"},
		{"LOG_FORMAT", "logfmt", "text or json"},
		{"MAX_BODY_BYTES", "1MB", "whole number of bytes"},
		{"MAX_BODY_BYTES", "0", "from 1024"},
		{"MAX_BODY_BYTES", "99999999999", "to 1073741824"},
		{"BANDYER_API_SECRET_KEY", "ak live", "visible ASCII"},
		{"BANDYER_BASE_URL", "api.eu.bandyer.com", "absolute http:// or https:// URL"},
		{"TELECONSULTATION_SERVICE_CONFIG_PATH", "/nonexistent/config.json", "cannot read the file"},
		{"AUTH_SERVICE", "auth service", "host name"},
		{"AUTH_SERVICE", "ftp://auth0-client", "absolute http:// or https:// URL"},
		{"AUTH_SERVICE", "http://auth0-client/?x=1", "without query"},
		{"AUTH_SERVICE_USER_PATH", "/users/", "{id} exactly once"},
		{"AUTH_SERVICE_USER_PATH", "users/{id}", "absolute path"},
		{"AUTH_SERVICE_TIMEOUT", "5", "duration"},
		{"CUSTOM_ID_USERS_API_ENDPOINT", "crud-service/users/", "absolute http:// or https:// URL"},
		{"DEFAULT_CLIENT_TYPE", "back office", "client type"},
		{"TRUSTED_PROXIES", "10.0.0.0/8,proxy", `entry 2 "proxy"`},
		{"TRUSTED_PROXIES", "10.0.0.1/8", "did you mean 10.0.0.0/8"},
		{"TRUST_GATEWAY_IDENTITY", "yes", "true or false"},
		{"UNLIMITED_TELECONSULTATION", "yes", "true or false"},
		{"LIVE_TELECONSULTATION", "on", "true or false"},
		{"TELECONSULTATION_DELETE_UPLOADS", "2", "true or false"},
		{"IMMUTABLE_PERIOD_MS", "-1", "from 0 to 604800000"},
		{"IMMUTABLE_PERIOD_MS", "600000.5", "whole number of milliseconds"},
		{"IMMUTABLE_PERIOD_MS", "10m", "whole number of milliseconds"},
		{"IMMUTABLE_PERIOD_MS", "604800001", "from 0 to 604800000"},
	} {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := LoadConfig(env(map[string]string{tt.name: tt.value}))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.name+"=") && !strings.HasPrefix(msg, tt.name+":") {
				t.Errorf("error does not start with the variable's name: %q", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not say %q", msg, tt.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("one bad variable gave several errors: %q", msg)
			}
			if isSecret(tt.name) && strings.Contains(msg, tt.value) {
				t.Errorf("error repeats the secret value: %q", msg)
			}
			if strings.Contains(msg, "PASSWORD") {
				t.Errorf("error repeats a password: %q", msg)
			}
		})
	}
}

// isSecret reports whether the variable name is documented as secret.
func isSecret(name string) bool {
	for _, v := range Variables() {
		if v.Name == name {
			return v.Secret
		}
	}
	panic("unknown variable " + name)
}

// Ensure FRAME_ANCESTORS and DAILY_DOMAIN are read into origins.
func TestFramingValues(t *testing.T) {
	for _, tt := range []struct {
		env       map[string]string
		ancestors []string
		daily     string
	}{
		{map[string]string{}, nil, ""},
		{map[string]string{"FRAME_ANCESTORS": " https://portal.example.org, http://127.0.0.1:9000/  https://portal.example.org"},
			[]string{"https://portal.example.org", "http://127.0.0.1:9000"}, ""},
		{map[string]string{"DAILY_DOMAIN": "Clinic"}, nil, "https://clinic.daily.co"},
		{map[string]string{"DAILY_DOMAIN": "https://video.clinic.example/"}, nil, "https://video.clinic.example"},
		{map[string]string{"DAILY_DOMAIN": "http://127.0.0.1:9000"}, nil, "http://127.0.0.1:9000"},
	} {
		c := mustLoad(t, tt.env)
		if !slices.Equal(c.FrameAncestors, tt.ancestors) || c.Daily.RoomOrigin != tt.daily {
			t.Errorf("%v: frame ancestors %q, Daily domain %q; want %q, %q", tt.env, c.FrameAncestors, c.Daily.RoomOrigin, tt.ancestors, tt.daily)
		}
	}
}

// Ensure every bad variable is reported at once.
func TestLoadConfigReportsEveryError(t *testing.T) {
	_, err := LoadConfig(env(map[string]string{"LOG_LEVEL": "loud", "SESSION_TTL": "forever", "LIVE_TELECONSULTATION": "maybe"}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"LOG_LEVEL=loud", "SESSION_TTL=forever", "LIVE_TELECONSULTATION=maybe"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

// Ensure each video provider requires its credentials, naming the missing
// variable.
func TestVideoProviderRequirements(t *testing.T) {
	for _, tt := range []struct {
		env     map[string]string
		wantErr []string
	}{
		{map[string]string{"VIDEO_PROVIDER": "builtin"}, nil},
		{map[string]string{"VIDEO_PROVIDER": "daily"}, []string{"DAILY_API_KEY: required when VIDEO_PROVIDER=daily"}},
		{map[string]string{"VIDEO_PROVIDER": "daily", "DAILY_API_KEY": "k"}, nil},
		{map[string]string{"VIDEO_PROVIDER": "kaleyra"}, []string{
			"BANDYER_API_SECRET_KEY: required when VIDEO_PROVIDER=kaleyra",
			"BANDYER_BASE_URL: required when VIDEO_PROVIDER=kaleyra",
		}},
		{map[string]string{"VIDEO_PROVIDER": "kaleyra", "BANDYER_API_SECRET_KEY": "k"}, []string{"BANDYER_BASE_URL: required"}},
		{map[string]string{"VIDEO_PROVIDER": "kaleyra", "BANDYER_BASE_URL": "https://api.eu.bandyer.com"}, []string{"BANDYER_API_SECRET_KEY: required"}},
		{map[string]string{"VIDEO_PROVIDER": "kaleyra", "BANDYER_API_SECRET_KEY": "k", "BANDYER_BASE_URL": "https://api.eu.bandyer.com"}, nil},
	} {
		_, err := LoadConfig(env(tt.env))
		switch {
		case len(tt.wantErr) == 0 && err != nil:
			t.Errorf("%v: %v", tt.env, err)
		case len(tt.wantErr) > 0 && err == nil:
			t.Errorf("%v: no error", tt.env)
		}
		for _, want := range tt.wantErr {
			if err != nil && !strings.Contains(err.Error(), want) {
				t.Errorf("%v: error %q does not say %q", tt.env, err, want)
			}
		}
	}
}

// Ensure errors in the JSON file name the variable, the file and the JSON
// path.
func TestServiceConfigFileErrors(t *testing.T) {
	const privs = `"privileges": {"basic": {"groups": ["patient"]}, "plus": {"groups": ["doctor"]}}`
	for _, tt := range []struct {
		name, content, want string
	}{
		{"no plus groups", `{"privileges": {"basic": {"groups": ["patient"]}, "plus": {"groups": []}}}`,
			"privileges.plus.groups: at least one group is required"},
		{"no privileges", `{"theme": {}}`, "privileges: required"},
		{"group in both", `{"privileges": {"basic": {"groups": ["a"]}, "plus": {"groups": ["a"]}}}`, "privileges.plus.groups[0]"},
		{"groups not an array", `{"privileges": {"basic": {"groups": "patient"}, "plus": {"groups": ["doctor"]}}}`,
			"privileges.basic.groups: expected an array of strings, found a JSON string"},
		{"tool not a bool", `{"privileges": {"basic": {"groups": ["p"], "tools": {"chat": "yes"}}, "plus": {"groups": ["d"]}}}`,
			"privileges.basic.tools.chat: expected true or false, found a JSON string"},
		{"colour not a string", `{` + privs + `, "theme": {"light": {"primaryColor": 5}}}`,
			"theme.light.primaryColor: expected a string, found a JSON number"},
		{"bad colour", `{` + privs + `, "theme": {"dark": {"accentColor": "red"}}}`, "theme.dark.accentColor"},
		{"unknown nested field", `{` + privs + `, "theme": {"light": {"primary": "#fff"}}}`, "theme.light.primary: unknown field"},
		{"unknown top field", `{` + privs + `, "logo": {}}`, "logo: unknown field"},
		{"bad path step", `{` + privs + `, "userIdPathInRequest": [{"from": "body", "extract": "x"}]}`, "userIdPathInRequest[0].from"},
		{"background group", `{` + privs + `, "groupsWithBackgroundList": ["nurse"]}`, "groupsWithBackgroundList[0]"},
		{"duplicate key", `{` + privs + `, "theme": {"light": {"primaryColor": "#fff", "primaryColor": "#000"}}}`,
			"theme.light.primaryColor: duplicate key"},
		{"duplicate in array", `{` + privs + `, "userIdPathInRequest": [{"from": "object", "extract": "headers"}, {"from": "object", "from": "json", "extract": "x"}]}`,
			"userIdPathInRequest[1].from: duplicate key"},
		{"syntax", "{\n  " + privs + ",\n}", "line 3, column 1: invalid JSON"},
		{"truncated", `{` + privs, "ends too early"},
		{"empty", ``, "empty file"},
		{"array", `[]`, "expected a JSON object, found a JSON array"},
		{"trailing data", `{` + privs + `} {}`, "trailing data"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "config.json", tt.content)
			_, err := LoadConfig(env(map[string]string{"TELECONSULTATION_SERVICE_CONFIG_PATH": path}))
			if err == nil {
				t.Fatal("no error")
			}
			prefix := "TELECONSULTATION_SERVICE_CONFIG_PATH=" + path + ": "
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "Go struct") || strings.Contains(err.Error(), "config file:") {
				t.Errorf("error %q speaks of Go internals", err)
			}
		})
	}
}

// secretEnv is an environment with a distinctive value for every secret.
func secretEnv(t *testing.T) (map[string]string, []string) {
	secrets := []string{
		"apikey-one-SECRET-0001", "apikey-two-SECRET-0002",
		testKey,
		"bandyer-SECRET-0003",
		"daily-SECRET-0004",
		"dbpass-SECRET-0005", "sslpass-SECRET-0006",
		"custom-SECRET-0007",
	}
	return map[string]string{
		"DATA_DIR":                    t.TempDir(),
		"API_KEYS":                    secrets[0] + "," + secrets[1],
		"ENCRYPTION_KEY":              secrets[2],
		"BANDYER_API_SECRET_KEY":      secrets[3],
		"BANDYER_BASE_URL":            "https://api.sandbox.eu.bandyer.com",
		"VIDEO_PROVIDER":              "daily",
		"DAILY_API_KEY":               secrets[4],
		"DATABASE_URL":                "postgres://tc:" + secrets[5] + "@db:5432/tc?sslmode=verify-full&sslpassword=" + secrets[6],
		"TELECONSULTATIONS_CRUD_NAME": "teleconsultations",
		"USER_MAP_ID_CRUD_NAME":       "http://user:" + secrets[7] + "@crud-service/users/",
	}, secrets
}

// Ensure config check shows every variable with its source, masks secrets
// and never prints one.
func TestPrintNeverShowsSecrets(t *testing.T) {
	m, secrets := secretEnv(t)
	c := mustLoad(t, m)
	var b strings.Builder
	c.Print(&b)
	out := b.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("output contains the secret %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, string(c.EncryptionKey)) {
		t.Error("output contains the raw encryption key")
	}
	for _, want := range []string{
		"\nAPI_KEYS=****** (2 keys)  # env\n",
		"\nENCRYPTION_KEY=****** (set)  # env\n",
		"\nDAILY_API_KEY=****** (set)  # env\n",
		"\nBANDYER_API_SECRET_KEY=****** (set)  # env\n",
		"\nDATABASE_URL=postgres://tc:******@db:5432/tc?sslmode=verify-full&sslpassword=******  # env, PostgreSQL\n",
		"\nTELECONSULTATIONS_CRUD_NAME=teleconsultations  # env, unused",
		"\nUSER_ID_MAP_CRUD_NAME=  # default, unused",
		"\nLISTEN_ADDR=127.0.0.1:8080  # default\n",
		"\nUNLIMITED_TELECONSULTATION=true  # default\n",
		"\"present_to_everyone\": true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, v := range Variables() {
		if !strings.Contains(out, "\n"+v.Name+"=") {
			t.Errorf("output lacks %s", v.Name)
		}
	}
}

// Ensure config check tells where generated keys are, without creating
// them, and shows the JSON file as the source of the JSON configuration.
func TestPrintKeyFilesAndConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeFile(t, "config.json", `{"privileges": {"basic": {"groups": ["customer"]}, "plus": {"groups": ["doctor"]}}}`)
	c := mustLoad(t, map[string]string{"DATA_DIR": dir, "TELECONSULTATION_SERVICE_CONFIG_PATH": cfgPath})
	printed := func() string {
		var b strings.Builder
		c.Print(&b)
		return b.String()
	}
	out := printed()
	for _, want := range []string{
		"ENCRYPTION_KEY=(not set: will be generated on first start",
		"API_KEYS=(not set: one will be generated",
		"# Effective JSON configuration (file " + cfgPath,
		`"customer"`,
		"TELECONSULTATION_SERVICE_CONFIG_PATH=" + cfgPath + "  # env\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("Print created files: %v", entries)
	}

	key, _, err := LoadOrCreateEncryptionKey(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, newKey, err := LoadOrCreateAPIKeys(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	out = printed()
	for _, want := range []string{
		"ENCRYPTION_KEY=****** (generated under DATA_DIR: " + filepath.Join(dir, EncryptionKeyFile) + ")  # file\n",
		"API_KEYS=****** (1 key hashed in " + filepath.Join(dir, APIKeysFile) + ")  # file\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, newKey) || strings.Contains(out, base64.StdEncoding.EncodeToString(key)) {
		t.Errorf("output contains a generated key:\n%s", out)
	}

	// A different ENCRYPTION_KEY is flagged.
	c = mustLoad(t, map[string]string{"DATA_DIR": dir, "ENCRYPTION_KEY": testKey})
	if out := printed(); !strings.Contains(out, "DIFFERS from") || strings.Contains(out, testKey) {
		t.Errorf("mismatch not flagged, or key shown:\n%s", out)
	}
}

// Ensure Variables documents exactly the variables LoadConfig reads, each
// once, with a description, and that its defaults are the effective ones.
func TestVariables(t *testing.T) {
	var read []string
	if _, err := LoadConfig(func(k string) string { read = append(read, k); return "" }); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range Variables() {
		names = append(names, v.Name)
		if v.Description == "" {
			t.Errorf("%s has no description", v.Name)
		}
		if v.Secret && v.Default != "" {
			t.Errorf("%s is secret and has a default", v.Name)
		}
	}
	if !slices.Equal(read, names) {
		t.Errorf("LoadConfig reads %v\nVariables documents %v", read, names)
	}
	if s := slices.Clone(names); len(slices.Compact(slices.Sorted(slices.Values(s)))) != len(names) {
		t.Errorf("a variable is documented twice: %v", names)
	}
	// A documented default, set explicitly, gives the same configuration
	// as leaving the variable unset.
	def := mustLoad(t, nil)
	for _, v := range Variables() {
		if v.Default == "" || v.Name == "PUBLIC_URL" {
			continue
		}
		c := mustLoad(t, map[string]string{v.Name: v.Default})
		c.sources, def.sources = nil, nil
		if !reflect.DeepEqual(c, def) {
			t.Errorf("%s=%s differs from the default configuration", v.Name, v.Default)
		}
	}
	for _, name := range []string{"UNLIMITED_TELECONSULTATION", "IMMUTABLE_PERIOD_MS", "TELECONSULTATION_DELETE_UPLOADS", "BANDYER_API_SECRET_KEY"} {
		if i := slices.Index(names, name); i < 0 || !Variables()[i].Mia {
			t.Errorf("%s is not documented as Mia's", name)
		}
	}
}

// Ensure the Mia drop-in settings parse, and that the variables that
// depend on one another refuse bad combinations by name.
func TestMiaDropInConfig(t *testing.T) {
	c := mustLoad(t, map[string]string{"TRUSTED_PROXIES": " 10.0.0.0/8, 192.0.2.7 ", "TRUST_GATEWAY_IDENTITY": "true",
		"AUTH_SERVICE": "auth0-client:8080", "CUSTOM_ID_USERS_API_ENDPOINT": "http://crud-service/users/",
		"AUTH_SERVICE_USER_PATH": "/api/users/{id}", "DEFAULT_CLIENT_TYPE": "backoffice", "USER_MAP_ID_CRUD_NAME": "users-map"})
	if c.TrustedProxies.String() != "10.0.0.0/8,192.0.2.7/32" || !c.TrustGatewayIdentity || c.AuthServiceURL != "http://auth0-client:8080" ||
		c.AuthServiceUserPath != "/api/users/{id}" || c.AuthServiceTimeout != 5*time.Second || c.UserIDMapCRUDName != "users-map" {
		t.Errorf("config %+v", c)
	}
	if d := mustLoad(t, map[string]string{}); d.TrustedProxies.Len() != 0 || d.TrustGatewayIdentity || d.AuthServiceURL != "" || d.AuthServiceUserPath != "/users/{id}" {
		t.Errorf("defaults: nothing trusted, no auth service: %+v", d)
	}
	if u := mustLoad(t, map[string]string{"AUTH_SERVICE": "https://auth.example.org/v1/"}); u.AuthServiceURL != "https://auth.example.org/v1" {
		t.Errorf("AUTH_SERVICE URL %q", u.AuthServiceURL)
	}
	// Both spellings of the user-id map's name: the same value is fine.
	mustLoad(t, map[string]string{"USER_ID_MAP_CRUD_NAME": "m", "USER_MAP_ID_CRUD_NAME": "m"})
	kaleyra := map[string]string{"VIDEO_PROVIDER": "kaleyra", "BANDYER_API_SECRET_KEY": "k"}
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TRUST_GATEWAY_IDENTITY": "true"}, "TRUST_GATEWAY_IDENTITY: true needs TRUSTED_PROXIES"},
		{map[string]string{"CUSTOM_ID_USERS_API_ENDPOINT": "http://crud/users/"}, "CUSTOM_ID_USERS_API_ENDPOINT: needs AUTH_SERVICE"},
		{map[string]string{"USER_ID_MAP_CRUD_NAME": "a", "USER_MAP_ID_CRUD_NAME": "b"}, "USER_MAP_ID_CRUD_NAME=b: differs from USER_ID_MAP_CRUD_NAME"},
		{kaleyra, "BANDYER_BASE_URL: required when VIDEO_PROVIDER=kaleyra, unless the JSON configuration's environment"},
		{map[string]string{"TELECONSULTATION_SERVICE_CONFIG_PATH": writeFile(t, "env.json", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"environment":"prod"}`)},
			`TELECONSULTATION_SERVICE_CONFIG_PATH=`},
		{map[string]string{"TELECONSULTATION_SERVICE_CONFIG_PATH": writeFile(t, "mode.json", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"mode":"tab"}`)},
			`mode: "tab" must be window`},
	} {
		_, err := LoadConfig(env(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.env, err, tt.want)
		}
	}
	// environment chooses Kaleyra's base URL when BANDYER_BASE_URL is unset.
	for envName, want := range map[string]string{"sandbox": "https://api.sandbox.eu.bandyer.com", "production": "https://api.eu.bandyer.com"} {
		m := maps.Clone(kaleyra)
		m["TELECONSULTATION_SERVICE_CONFIG_PATH"] = writeFile(t, envName+".json", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"environment":"`+envName+`","mode":"window"}`)
		c := mustLoad(t, m)
		var b strings.Builder
		c.Print(&b)
		if c.Kaleyra.BaseURL != want || !strings.Contains(b.String(), "BANDYER_BASE_URL="+want+"  # default, from the JSON configuration's environment "+envName) {
			t.Errorf("%s: %q\n%s", envName, c.Kaleyra.BaseURL, b.String())
		}
		m["BANDYER_BASE_URL"] = "http://127.0.0.1:9/"
		if c := mustLoad(t, m); c.Kaleyra.BaseURL != "http://127.0.0.1:9" {
			t.Errorf("BANDYER_BASE_URL given: %q", c.Kaleyra.BaseURL)
		}
	}
}

// Ensure the built-in SFU gets its variables (read by sfu.Variables) with
// the rules cmd keeps: loopback candidates by default on a loopback
// LISTEN_ADDR, START_* and the socket caps from their own variables.
func TestSFUConfig(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want func(c sfu.Config) bool
	}{
		{map[string]string{}, func(c sfu.Config) bool {
			return c.LoopbackCandidates && c.UDPPort == 0 && c.TURN.Port == 3478 && c.TURN.Realm == "teleconsult" && c.StartAudioOff && c.StartVideoOff &&
				c.MaxPendingPerClient == 32 && c.MaxPending == 256
		}},
		{map[string]string{"LISTEN_ADDR": "localhost:8080"}, func(c sfu.Config) bool { return c.LoopbackCandidates }},
		{map[string]string{"LISTEN_ADDR": "[::1]:8080"}, func(c sfu.Config) bool { return c.LoopbackCandidates }},
		{map[string]string{"LISTEN_ADDR": ":8080"}, func(c sfu.Config) bool { return !c.LoopbackCandidates }},
		{map[string]string{"LISTEN_ADDR": "0.0.0.0:8080", "RTC_LOOPBACK_CANDIDATES": "true"}, func(c sfu.Config) bool { return c.LoopbackCandidates }},
		{map[string]string{"LISTEN_ADDR": "127.0.0.1:8080", "RTC_LOOPBACK_CANDIDATES": "false"}, func(c sfu.Config) bool { return !c.LoopbackCandidates }},
		{map[string]string{"RTC_UDP_PORT": "50000", "START_AUDIO_OFF": "false", "WS_PENDING_MAX": "9"}, func(c sfu.Config) bool {
			return c.UDPPort == 50000 && !c.StartAudioOff && c.StartVideoOff && c.MaxPending == 9
		}},
		{map[string]string{"RTC_UDP_PORT": "40000-40100", "RTC_PUBLIC_IP": "192.0.2.1", "ICE_SERVERS": "turn:t:3478", "TURN_USERNAME": "u", "TURN_PASSWORD": "p",
			"TURN_ENABLED": "true", "TURN_PORT": "5349", "TURN_REALM": "clinic"}, func(c sfu.Config) bool {
			return c.UDPPort == 0 && c.UDPPortMin == 40000 && c.UDPPortMax == 40100 && c.PublicIP == "192.0.2.1" &&
				len(c.ICEServers) == 1 && c.ICEServers[0].URLs[0] == "turn:t:3478" && c.ICEUsername == "u" && c.ICECredential == "p" &&
				c.TURN.Enabled && c.TURN.Port == 5349 && c.TURN.Realm == "clinic"
		}},
	} {
		c := sfuConfig(mustLoad(t, tt.env), time.Now, slog.New(slog.DiscardHandler))
		if !tt.want(c) || c.Now == nil || c.Logger == nil {
			t.Errorf("%v: %+v", tt.env, c)
		}
	}
}
