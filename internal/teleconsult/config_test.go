package teleconsult

import (
	"strings"
	"testing"
)

func TestParseServiceConfig(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		wantErr string // substring; "" means valid
	}{
		{"Mia v1 documentation example", `{"privileges":{"basic":{"groups":["customer"],"tools":{"chat":true}},"plus":{"groups":["doctor"]}},"environment":"sandbox","mode":"window","theme":{"light":{"primaryColor":"#fff","accentColor":"#480ca8"}},"companyLogo":{"url":"https://www.insert.url.it"}}`, ""},
		{"user id path with json step", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"userIdPathInRequest":[{"from":"object","extract":"headers"},{"from":"object","extract":"miauserproperties"},{"from":"json","extract":"customUserId"}]}`, ""},
		{"no privileges", `{"theme":{}}`, "privileges: required"},
		{"empty plus groups", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":[]}}}`, "privileges.plus.groups"},
		{"group in both", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["p"]}}}`, "privileges.plus.groups[0]"},
		{"unknown field", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"colour":1}`, "unknown field"},
		{"unknown tool", `{"privileges":{"basic":{"groups":["p"],"tools":{"teleport":true}},"plus":{"groups":["d"]}}}`, "unknown field"},
		{"bad colour", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"theme":{"dark":{"accentColor":"red"}}}`, "theme.dark.accentColor"},
		{"bad logo", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"companyLogo":{"url":"javascript:alert(1)"}}`, "companyLogo.url"},
		{"background group unknown", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"groupsWithBackgroundList":["x"]}`, "groupsWithBackgroundList[0]"},
		{"path not starting with object", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"userIdPathInRequest":[{"from":"json","extract":"a"}]}`, "userIdPathInRequest[0].from"},
		{"path bad from", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"userIdPathInRequest":[{"from":"object","extract":"headers"},{"from":"xml","extract":"a"}]}`, "userIdPathInRequest[1].from"},
		{"bad environment", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"environment":"staging"}`, "environment: \"staging\" must be sandbox or production"},
		{"bad mode", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"mode":"embedded"}`, "mode: \"embedded\" must be window"},
		{"empty customUserId target", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"customUserId":{"source":"_id","target":""}}`, "customUserId.target"},
		{"path from params", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"userIdPathInRequest":[{"from":"object","extract":"params"}]}`, "userIdPathInRequest[0].extract"},
		{"path array step not an index", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"userIdPathInRequest":[{"from":"object","extract":"headers"},{"from":"object","extract":"x"},{"from":"json","extract":"ids"},{"from":"array","extract":"first"}]}`, "userIdPathInRequest[3].extract"},
		{"wrong type", `{"privileges":{"basic":{"groups":"p"},"plus":{"groups":["d"]}}}`, "cannot unmarshal"},
		{"trailing data", `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}}} {}`, "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseServiceConfig(strings.NewReader(tt.json), "miauserid")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q, want it to contain %q", err, tt.wantErr)
			}
			if err == nil && len(cfg.UserIDPathInRequest) == 0 {
				t.Fatal("no userIdPathInRequest after parsing")
			}
		})
	}
	// A role without tools has every tool, as in Mia's default configuration.
	cfg0, err := ParseServiceConfig(strings.NewReader(`{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}},"customUserId":{"source":"_id","target":"authUserId"}}`), "x-user")
	if err != nil {
		t.Fatal(err)
	}
	if cfg0.Privileges.Basic.Tools != AllTools {
		t.Errorf("basic tools without a tools object = %+v, want all", cfg0.Privileges.Basic.Tools)
	}
	// Tools left out of a tools object are off: the object is explicit.
	cfg, err := ParseServiceConfig(strings.NewReader(`{"privileges":{"basic":{"groups":["p"],"tools":{"chat":true}},"plus":{"groups":["d"]}}}`), "x-user")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Privileges.Basic.Tools; got != (Tools{Chat: true}) {
		t.Errorf("basic tools = %+v, want chat only", got)
	}
	if got := cfg.UserIDPathInRequest[1].Extract; got != "x-user" {
		t.Errorf("default user id header = %q, want x-user", got)
	}
	def := DefaultServiceConfig("miauserid")
	if err := def.Validate(); err != nil {
		t.Errorf("default config invalid: %v", err)
	}
}
