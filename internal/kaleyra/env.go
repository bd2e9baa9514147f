package kaleyra

import (
	"github.com/teleconsult/teleconsult/internal/envvar"
)

// BaseURLs are Kaleyra's v2 API bases (Europe) by the JSON configuration's
// environment (Mia-Platform's "sandbox" or "production"), for a
// deployment that does not set BANDYER_BASE_URL.
var BaseURLs = map[string]string{
	"sandbox":    "https://api.sandbox.eu.bandyer.com",
	"production": "https://api.eu.bandyer.com",
}

// Variables are Kaleyra's environment variables, with Mia-Platform's
// names, in the order they are read and documented, bound to the fields of
// [Config] they set: BANDYER_API_SECRET_KEY (APIKey) and BANDYER_BASE_URL
// (BaseURL, left empty when unset: the caller may choose it from
// [BaseURLs]). The other fields are the caller's.
func Variables() []envvar.Var[Config] {
	return []envvar.Var[Config]{
		{
			Doc: envvar.Doc{Name: "BANDYER_API_SECRET_KEY", Default: "", Mia: true, Secret: true,
				Description: "Kaleyra (formerly Bandyer) API secret key. Required when VIDEO_PROVIDER=kaleyra."},
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
			Doc: envvar.Doc{Name: "BANDYER_BASE_URL", Default: "", Mia: true,
				Description: "Kaleyra v2 REST API base URL, e.g. `https://api.sandbox.eu.bandyer.com` or `https://api.eu.bandyer.com`. Required when VIDEO_PROVIDER=kaleyra, unless the JSON configuration's `environment` chooses it: `sandbox` gives https://api.sandbox.eu.bandyer.com, `production` https://api.eu.bandyer.com."},
			Parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				u, err := envvar.BaseURL(v)
				if err != nil {
					return err
				}
				c.BaseURL = u
				return nil
			},
			Show: func(c *Config) envvar.Shown { return envvar.Shown{Value: c.BaseURL} },
		},
	}
}
