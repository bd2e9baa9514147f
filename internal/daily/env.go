package daily

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/teleconsult/teleconsult/internal/envvar"
)

// MinWebhookSecret is the shortest DAILY_WEBHOOK_SECRET, in bytes.
const MinWebhookSecret = 16

// Variables are Daily's environment variables, in the order they are read
// and documented, bound to the fields of [Config] they set: DAILY_API_KEY
// (APIKey), DAILY_API_URL (BaseURL), DAILY_WEBHOOK_SECRET (WebhookSecret)
// and DAILY_DOMAIN (RoomOrigin). The other fields are the caller's.
func Variables() []envvar.Var[Config] {
	return []envvar.Var[Config]{
		{
			Doc: envvar.Doc{Name: "DAILY_API_KEY", Default: "",
				Description: "Daily REST API key (from the Daily dashboard). Required when VIDEO_PROVIDER=daily.",
				Secret:      true},
			Parse: func(c *Config, v string) error {
				if err := envvar.HeaderSecret(v); err != nil {
					return err
				}
				c.APIKey = v
				return nil
			},
			Show: func(c *Config) envvar.Shown { return envvar.SecretStatus(c.APIKey) },
		},
		{
			Doc: envvar.Doc{Name: "DAILY_API_URL", Default: DefaultBaseURL,
				Description: "Daily REST API base URL (absolute http or https URL)."},
			Value: DefaultBaseURL,
			Parse: func(c *Config, v string) error {
				u, err := envvar.BaseURL(v)
				if err != nil {
					return err
				}
				c.BaseURL = u
				return nil
			},
			Show: func(c *Config) envvar.Shown { return envvar.Shown{Value: c.BaseURL} },
		},
		{
			Doc: envvar.Doc{Name: "DAILY_WEBHOOK_SECRET", Default: "",
				Description: "Key of the signatures of Daily's webhooks (`POST /api/v1/telecons-be/webhooks/daily`): standard base64 of at least 16 bytes, the `hmac` given to Daily's `POST /webhooks` (`openssl rand -base64 32`). Unset: every webhook is refused, and call state does not follow Daily calls.",
				Secret:      true},
			Parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				key, err := base64.StdEncoding.DecodeString(v)
				if err != nil || len(key) < MinWebhookSecret {
					return fmt.Errorf("expected standard base64 of at least %d bytes (openssl rand -base64 32)", MinWebhookSecret)
				}
				c.WebhookSecret = key
				return nil
			},
			Show: func(c *Config) envvar.Shown { return envvar.SecretStatus(string(c.WebhookSecret)) },
		},
		{
			Doc: envvar.Doc{Name: "DAILY_DOMAIN", Default: "",
				Description: "Your Daily domain: its name (`clinic` for rooms at https://clinic.daily.co) or the origin its rooms are served from (`https://clinic.daily.co`). The call page shows the Daily call in an iframe and allows exactly this origin in its `frame-src` (and delegates the camera and microphone to it); a room elsewhere is refused at the link exchange. Unset: any `https://*.daily.co` room is framed. Set it in production."},
			Parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				o, err := ParseDomain(v)
				if err != nil {
					return err
				}
				c.RoomOrigin = o
				return nil
			},
			Show: func(c *Config) envvar.Shown { return envvar.Shown{Value: c.RoomOrigin} },
		},
	}
}

// domainRE is a Daily domain name, the subdomain of daily.co.
var domainRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// ParseDomain reads DAILY_DOMAIN: a domain name (rooms at
// https://<name>.daily.co) or an origin (https; http only on a loopback
// host, for a local fake). It returns the origin of the domain's rooms.
func ParseDomain(v string) (string, error) {
	const want = "expected your Daily domain's name (clinic) or the origin of its rooms (https://clinic.daily.co)"
	if domainRE.MatchString(strings.ToLower(v)) {
		return "https://" + strings.ToLower(v) + ".daily.co", nil
	}
	o, err := envvar.Origin(v)
	if err != nil {
		return "", errors.New(want)
	}
	u, _ := url.Parse(o)
	if u.Scheme == "http" {
		if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
			return "", errors.New(want + "; http only on a loopback address")
		}
	}
	return o, nil
}
