package daily

import (
	"encoding/base64"
	"reflect"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/envvar"
)

// readEnv sets cfg from env through Variables, as the command does.
func readEnv(cfg *Config, env map[string]string) error {
	return envvar.Read(Variables(), cfg, env)
}

// Ensure Daily's variables set the fields of Config they document, show
// the secrets masked, and refuse bad values without repeating a secret.
func TestVariables(t *testing.T) {
	secret := []byte("0123456789abcdef-webhook")
	for _, tt := range []struct {
		env  map[string]string
		want Config
	}{
		{nil, Config{BaseURL: DefaultBaseURL}},
		{map[string]string{"DAILY_API_KEY": "key-SECRET", "DAILY_API_URL": "http://127.0.0.1:7777/v1/",
			"DAILY_WEBHOOK_SECRET": base64.StdEncoding.EncodeToString(secret), "DAILY_DOMAIN": "Clinic"},
			Config{APIKey: "key-SECRET", BaseURL: "http://127.0.0.1:7777/v1", WebhookSecret: secret, RoomOrigin: "https://clinic.daily.co"}},
		{map[string]string{"DAILY_DOMAIN": "https://video.clinic.example/"}, Config{BaseURL: DefaultBaseURL, RoomOrigin: "https://video.clinic.example"}},
		{map[string]string{"DAILY_DOMAIN": "http://127.0.0.1:9000"}, Config{BaseURL: DefaultBaseURL, RoomOrigin: "http://127.0.0.1:9000"}},
	} {
		var c Config
		if err := readEnv(&c, tt.env); err != nil {
			t.Fatalf("%v: %v", tt.env, err)
		}
		if !reflect.DeepEqual(c, tt.want) {
			t.Errorf("%v: %+v, want %+v", tt.env, c, tt.want)
		}
		for _, v := range Variables() {
			s := v.Show(&c)
			if v.Secret && (!s.Masked || strings.Contains(s.Value, "SECRET") || strings.Contains(s.Value, "webhook")) {
				t.Errorf("%s shown as %+v", v.Name, s)
			}
		}
	}
	for _, tt := range []struct{ name, value, want string }{
		{"DAILY_API_KEY", "has s3cr3t space", "visible ASCII"},
		{"DAILY_API_URL", "api.daily.co", "absolute http:// or https:// URL"},
		{"DAILY_WEBHOOK_SECRET", "not base64 s3cr3t", "standard base64 of at least 16 bytes"},
		{"DAILY_WEBHOOK_SECRET", base64.StdEncoding.EncodeToString([]byte("short")), "at least 16 bytes"},
		{"DAILY_DOMAIN", "clinic.daily.co", "Daily domain's name"},
		{"DAILY_DOMAIN", "https://clinic.daily.co/room", "Daily domain's name"},
		{"DAILY_DOMAIN", "http://clinic.daily.co", "http only on a loopback address"},
		{"DAILY_DOMAIN", "-clinic", "Daily domain's name"},
	} {
		err := readEnv(&Config{}, map[string]string{tt.name: tt.value})
		if err == nil || !strings.HasPrefix(err.Error(), tt.name+": ") || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s=%s: %v, want %q", tt.name, tt.value, err, tt.want)
		}
	}
}

// FuzzParseDomain checks that whatever DAILY_DOMAIN holds, an accepted
// value is an origin without path, query, credentials or policy
// separators, and reads back as itself.
func FuzzParseDomain(f *testing.F) {
	for _, s := range []string{"clinic", "Clinic", "https://clinic.daily.co", "http://127.0.0.1:9000/", "https://a;b", "https://u@x", "-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		o, err := ParseDomain(v)
		if err != nil {
			return
		}
		if !strings.HasPrefix(o, "https://") && !strings.HasPrefix(o, "http://") || strings.ContainsAny(o, " ;,'\"*@?#") ||
			strings.Count(o, "/") != 2 {
			t.Fatalf("ParseDomain(%q) = %q", v, o)
		}
		if again, err := ParseDomain(o); err != nil || again != o {
			t.Fatalf("ParseDomain(%q) = %q, then %q %v", v, o, again, err)
		}
	})
}
