package kaleyra

import (
	"strings"
	"testing"
)

// Ensure Kaleyra's variables set APIKey and BaseURL, leave BaseURL empty
// when unset (the caller chooses from BaseURLs), mask the key, and refuse
// bad values without repeating the key.
func TestVariables(t *testing.T) {
	read := func(env map[string]string) (Config, error) {
		var c Config
		for _, v := range Variables() {
			raw := strings.TrimSpace(env[v.Name])
			if raw == "" {
				raw = v.Value
			}
			if err := v.Parse(&c, raw); err != nil {
				return c, err
			}
		}
		return c, nil
	}
	if c, err := read(nil); err != nil || c.APIKey != "" || c.BaseURL != "" {
		t.Errorf("unset: %+v %v", c, err)
	}
	c, err := read(map[string]string{"BANDYER_API_SECRET_KEY": " ak_s3cr3t_1 ", "BANDYER_BASE_URL": "https://api.sandbox.eu.bandyer.com/"})
	if err != nil || c.APIKey != "ak_s3cr3t_1" || c.BaseURL != "https://api.sandbox.eu.bandyer.com" {
		t.Errorf("set: %+v %v", c, err)
	}
	for _, v := range Variables() {
		if s := v.Show(&c); !v.Mia || v.Secret && (!s.Masked || strings.Contains(s.Value, "s3cr3t")) {
			t.Errorf("%s: Mia %v, shown %+v", v.Name, v.Mia, s)
		}
	}
	for _, tt := range []struct{ name, value, want string }{
		{"BANDYER_API_SECRET_KEY", "ak s3cr3t", "visible ASCII"},
		{"BANDYER_BASE_URL", "api.eu.bandyer.com", "absolute http:// or https:// URL"},
		{"BANDYER_BASE_URL", "https://u:s3cr3t@api.eu.bandyer.com", "without user name or password"},
	} {
		if _, err := read(map[string]string{tt.name: tt.value}); err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s=%s: %v, want %q", tt.name, tt.value, err, tt.want)
		}
	}
	for env, u := range BaseURLs {
		if !strings.HasPrefix(u, "https://api.") || !strings.HasSuffix(u, ".bandyer.com") {
			t.Errorf("environment %s: %s", env, u)
		}
	}
}
