package teleconsult

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Tools are the in-call tools a role may use. The names and JSON keys are
// those of Mia's configuration file, privileges.{basic,plus}.tools. The server enforces them.
type Tools struct {
	Chat              bool `json:"chat"`
	ScreenSharing     bool `json:"screen_sharing"`
	FileUpload        bool `json:"file_upload"`
	Whiteboard        bool `json:"whiteboard"`
	Snapshot          bool `json:"snapshot"`
	LiveEdit          bool `json:"live_edit"`
	LivePointer       bool `json:"live_pointer"`
	PresentToEveryone bool `json:"present_to_everyone"`
}

// AllTools has every tool enabled; it is the default for both roles.
var AllTools = Tools{true, true, true, true, true, true, true, true}

// Privilege lists the groups that have a role and the tools of that role.
type Privilege struct {
	Groups []string `json:"groups"`
	Tools  Tools    `json:"tools"`
	// Waits and Admits are the role's part in the waiting room
	// (WAITING_ROOM): whether its participants wait to be let in, and
	// whether they may let others in. Unset: basic waits, plus admits
	// (see [Privileges.Waits] and [Privileges.Admits]).
	Waits  *bool `json:"waits,omitempty"`
	Admits *bool `json:"admits,omitempty"`
}

// UnmarshalJSON decodes a privilege. Without a "tools" object every tool is
// on, as in Mia's default; a "tools" object lists what is on, and a tool
// it leaves out is off.
func (p *Privilege) UnmarshalJSON(b []byte) error {
	var raw struct {
		Groups []string `json:"groups"`
		Tools  *Tools   `json:"tools"`
		Waits  *bool    `json:"waits"`
		Admits *bool    `json:"admits"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	p.Groups, p.Tools, p.Waits, p.Admits = raw.Groups, AllTools, raw.Waits, raw.Admits
	if raw.Tools != nil {
		p.Tools = *raw.Tools
	}
	return nil
}

// Privileges holds the two roles of Mia's configuration: basic and plus.
type Privileges struct {
	Basic Privilege `json:"basic"`
	Plus  Privilege `json:"plus"`
}

// ThemeColors are the colours of one theme mode.
type ThemeColors struct {
	PrimaryColor string `json:"primaryColor"`
	AccentColor  string `json:"accentColor"`
}

// Theme has a light and a dark mode.
type Theme struct {
	Light ThemeColors `json:"light"`
	Dark  ThemeColors `json:"dark"`
}

// CompanyLogo is where the company logo is served from.
type CompanyLogo struct {
	URL string `json:"url"`
}

// PathStep is one step of userIdPathInRequest: From is "object", "json" or
// "array"; Extract is the field (or index, for "array") taken at this step.
type PathStep struct {
	From    string `json:"from"`
	Extract string `json:"extract"`
}

// ServiceConfig is the JSON configuration file of Mia's Teleconsultation Service
// (TELECONSULTATION_SERVICE_CONFIG_PATH).
type ServiceConfig struct {
	Privileges               Privileges  `json:"privileges"`
	Theme                    Theme       `json:"theme"`
	CompanyLogo              CompanyLogo `json:"companyLogo"`
	GroupsWithBackgroundList []string    `json:"groupsWithBackgroundList,omitempty"`
	UserIDPathInRequest      []PathStep  `json:"userIdPathInRequest,omitempty"`
	// Environment (Mia v1: "sandbox" or "production") chooses Kaleyra's
	// API base when BANDYER_BASE_URL is unset. Mode (Mia v1: "window") is
	// checked and otherwise unused.
	Environment string `json:"environment,omitempty"`
	Mode        string `json:"mode,omitempty"`
	// CustomUserID (Mia 1.8) names the fields with which
	// CUSTOM_ID_USERS_API_ENDPOINT resolves custom ids.
	CustomUserID *CustomUserID `json:"customUserId,omitempty"`
	// Webhooks are receivers of outgoing webhooks, each with its own
	// secret and event filter (besides WEBHOOK_URL's).
	Webhooks []WebhookEndpoint `json:"webhooks,omitempty"`
}

// CustomUserID is Mia's customUserId setting: a custom id is looked up in
// the users collection by its Source field, and its Target field holds the
// auth service's id.
type CustomUserID struct {
	Source string `json:"source"`
	Target string `json:"target"`
}

// DefaultServiceConfig returns the configuration used when no file is given:
// Mia's v2 default (basic: patient, plus: doctor, every tool on), with the
// caller's user id read from the header named userIDHeader.
func DefaultServiceConfig(userIDHeader string) ServiceConfig {
	return ServiceConfig{
		Privileges: Privileges{
			Basic: Privilege{Groups: []string{"patient"}, Tools: AllTools},
			Plus:  Privilege{Groups: []string{"doctor"}, Tools: AllTools},
		},
		Theme: Theme{
			Light: ThemeColors{PrimaryColor: "#ffffff", AccentColor: "#480ca8"},
			Dark:  ThemeColors{PrimaryColor: "#003049", AccentColor: "#d62828"},
		},
		UserIDPathInRequest: DefaultUserIDPath(userIDHeader),
	}
}

// DefaultUserIDPath is Mia's default userIdPathInRequest: the header named
// header (USERID_HEADER_KEY, default "miauserid").
func DefaultUserIDPath(header string) []PathStep {
	return []PathStep{{From: "object", Extract: "headers"}, {From: "object", Extract: header}}
}

// ParseServiceConfig decodes a configuration file. Fields absent from the
// file keep the defaults of [DefaultServiceConfig], except that a file's
// privileges replace the default ones. Unknown fields are refused. The
// result is validated; errors name the JSON path of the bad value.
func ParseServiceConfig(r io.Reader, userIDHeader string) (ServiceConfig, error) {
	cfg := DefaultServiceConfig(userIDHeader)
	// Decode privileges into a fresh value so that a file naming only
	// "plus" does not silently inherit the default "basic" groups.
	var raw struct {
		ServiceConfig
		Privileges *Privileges `json:"privileges"`
	}
	raw.ServiceConfig = cfg
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return ServiceConfig{}, fmt.Errorf("config file: %w", err)
	}
	if dec.More() {
		return ServiceConfig{}, fmt.Errorf("config file: trailing data after the JSON object")
	}
	cfg = raw.ServiceConfig
	if raw.Privileges == nil {
		return ServiceConfig{}, fmt.Errorf("config file: privileges: required")
	}
	cfg.Privileges = *raw.Privileges
	if len(cfg.UserIDPathInRequest) == 0 {
		cfg.UserIDPathInRequest = DefaultUserIDPath(userIDHeader)
	}
	return cfg, cfg.Validate()
}

var colorRE = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$`)

// Validate checks the configuration. The error names the JSON path.
func (c *ServiceConfig) Validate() error {
	seen := map[string]string{}
	for _, p := range []struct {
		name string
		priv Privilege
	}{{"basic", c.Privileges.Basic}, {"plus", c.Privileges.Plus}} {
		if len(p.priv.Groups) == 0 {
			return fmt.Errorf("privileges.%s.groups: at least one group is required", p.name)
		}
		for i, g := range p.priv.Groups {
			if strings.TrimSpace(g) == "" {
				return fmt.Errorf("privileges.%s.groups[%d]: empty group name", p.name, i)
			}
			if other, dup := seen[g]; dup {
				return fmt.Errorf("privileges.%s.groups[%d]: group %q is also listed in privileges.%s.groups", p.name, i, g, other)
			}
			seen[g] = p.name
		}
	}
	if err := c.Privileges.checkWaiting(); err != nil {
		return err
	}
	for _, t := range []struct {
		path, v string
	}{
		{"theme.light.primaryColor", c.Theme.Light.PrimaryColor},
		{"theme.light.accentColor", c.Theme.Light.AccentColor},
		{"theme.dark.primaryColor", c.Theme.Dark.PrimaryColor},
		{"theme.dark.accentColor", c.Theme.Dark.AccentColor},
	} {
		if t.v != "" && !colorRE.MatchString(t.v) {
			return fmt.Errorf("%s: %q is not a #rgb, #rrggbb or #rrggbbaa colour", t.path, t.v)
		}
	}
	if u := c.CompanyLogo.URL; u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "/") {
		return fmt.Errorf("companyLogo.url: %q must be an http(s) URL or an absolute path", u)
	}
	for i, g := range c.GroupsWithBackgroundList {
		if _, ok := seen[g]; !ok {
			return fmt.Errorf("groupsWithBackgroundList[%d]: group %q is not listed in any privileges", i, g)
		}
	}
	switch c.Environment {
	case "", "sandbox", "production":
	default:
		return fmt.Errorf("environment: %q must be sandbox or production", c.Environment)
	}
	switch c.Mode {
	case "", "window":
	default:
		return fmt.Errorf("mode: %q must be window (the only mode Mia documents)", c.Mode)
	}
	if cu := c.CustomUserID; cu != nil {
		for _, f := range []struct{ name, v string }{{"source", cu.Source}, {"target", cu.Target}} {
			if strings.TrimSpace(f.v) == "" || !validText(f.v, 64) {
				return fmt.Errorf("customUserId.%s: a field name of 1 to 64 printable characters is required", f.name)
			}
		}
	}
	if _, err := CheckWebhooks(c.Webhooks); err != nil {
		return err
	}
	if len(c.UserIDPathInRequest) == 0 {
		return fmt.Errorf("userIdPathInRequest: at least one step is required")
	}
	for i, s := range c.UserIDPathInRequest {
		switch {
		case !slices.Contains([]string{"object", "json", "array"}, s.From):
			return fmt.Errorf("userIdPathInRequest[%d].from: %q must be object, json or array", i, s.From)
		case i == 0 && s.From != "object":
			return fmt.Errorf("userIdPathInRequest[0].from: the first step must be object")
		case s.Extract == "":
			return fmt.Errorf("userIdPathInRequest[%d].extract: required", i)
		case s.From == "array" && !isIndex(s.Extract):
			return fmt.Errorf("userIdPathInRequest[%d].extract: %q must be an array index (0, 1, …)", i, s.Extract)
		}
	}
	if first := c.UserIDPathInRequest[0]; !slices.Contains([]string{"headers", "query", "body"}, first.Extract) {
		return fmt.Errorf("userIdPathInRequest[0].extract: the request's %q, %q or %q, not %q", "headers", "query", "body", first.Extract)
	}
	return nil
}

// isIndex reports whether s is a non-negative decimal integer.
func isIndex(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n < 1<<20
}

// Settings are the rules' parameters, from the environment and the JSON
// configuration file.
type Settings struct {
	// ImmutablePeriod (IMMUTABLE_PERIOD_MS) is how long before start_date
	// the room opens and changes are refused.
	ImmutablePeriod time.Duration
	// Unlimited (UNLIMITED_TELECONSULTATION) keeps the room open after its end.
	Unlimited bool
	// Live (LIVE_TELECONSULTATION) ends a call when fewer than two remain.
	Live bool
	// DeleteUploads (TELECONSULTATION_DELETE_UPLOADS) deletes uploads when a call ends.
	DeleteUploads bool
	// UploadMaxBytes (UPLOAD_MAX_BYTES) limits one uploaded file; 0 means
	// DefaultUploadMaxBytes.
	UploadMaxBytes int64
	// UploadTypes (UPLOAD_ALLOWED_TYPES) are the extensions of the types
	// of file participants may upload (see [CheckUploadType]); nil means
	// every type of [FileTypes].
	UploadTypes []string
	// StartAudioOff and StartVideoOff (START_AUDIO_OFF, START_VIDEO_OFF)
	// make participants join with microphone and camera off (on by default: a call starts muted).
	StartAudioOff bool
	StartVideoOff bool
	// BackgroundOptional (BACKGROUND_OPTIONAL) lets a participant given
	// the virtual background ([Settings.Background]) switch it off in the
	// built-in call page; by default they cannot.
	BackgroundOptional bool
	// AuthService (AUTH_SERVICE) enables the array-of-ids participants form.
	AuthService string
	// PublicURL is the base of personal links, without a trailing slash.
	PublicURL string
	// SessionTTL is the lifetime of a session token from a personal link
	// (POST /credentials without expiresIn gives one hour, as Mia does).
	SessionTTL time.Duration
	// Config is the JSON configuration file.
	Config ServiceConfig
	// WaitingRoom (WAITING_ROOM) holds the participants whose role waits
	// until one whose role admits lets them in (see [Settings.Waits]).
	WaitingRoom bool
	// Invitations is true when invitation emails are configured
	// (SMTP_URL): changes queue messages in the outbox.
	Invitations bool
	// Webhooks are the receivers of outgoing webhooks (WEBHOOK_URL and the
	// JSON configuration's "webhooks"); none means changes queue no
	// events.
	Webhooks []WebhookEndpoint
}

// Background reports whether participant p joins with the company's
// virtual background: when the link asks for it (asked: Mia's GET
// useBackground=true, carried by the personal link), or when one of p's
// groups is in the configuration's groupsWithBackgroundList. A link that
// does not ask (or asks useBackground=false) does not take away what the
// groups give.
func (s *Settings) Background(p *Participant, asked bool) bool {
	if asked {
		return true
	}
	for _, g := range p.Groups {
		if slices.Contains(s.Config.GroupsWithBackgroundList, g) {
			return true
		}
	}
	return false
}

// DefaultSettings returns the settings of a service started with no
// variables set.
func DefaultSettings() Settings {
	return Settings{
		Unlimited:      true,
		Live:           true,
		StartAudioOff:  true,
		StartVideoOff:  true,
		PublicURL:      "http://127.0.0.1:8080",
		SessionTTL:     15 * time.Minute,
		UploadMaxBytes: DefaultUploadMaxBytes,
		UploadTypes:    FileTypes(),
		Config:         DefaultServiceConfig("miauserid"),
	}
}
