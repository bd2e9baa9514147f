package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// WebhookConfig is the receiver of outgoing webhooks given in the
// environment; more receivers come from the JSON configuration's
// "webhooks".
type WebhookConfig struct {
	// URL (WEBHOOK_URL) receives the events; empty: no such receiver.
	URL string
	// Secret (WEBHOOK_SECRET) is its signing key, decoded. Secret.
	Secret []byte
	// Timeout (WEBHOOK_TIMEOUT) bounds one delivery attempt.
	Timeout time.Duration
	// warning is WEBHOOK_URL's, from [teleconsult.CheckWebhookURL].
	warning string
}

// Limits of WEBHOOK_TIMEOUT.
const (
	minWebhookTimeout = time.Second
	maxWebhookTimeout = time.Minute
)

// webhookVariables are the variables of [WebhookConfig].
func webhookVariables() []variable {
	return []variable{
		{
			VarDoc: VarDoc{Name: "WEBHOOK_URL", Default: "",
				Description: "Receiver of the outgoing webhooks (receiver `default`): an absolute http(s) URL, without user name or password. Every event (teleconsultation.created, .updated, .cancelled, .replaced, call.started, call.ended, participant.joined, participant.left, participant.waiting, invitation.failed) is POSTed to it, signed as Standard Webhooks says: see the README's webhooks section. Plain http is accepted, with a warning unless the host is this machine. Needs WEBHOOK_SECRET. More receivers, each with its own secret and events: the JSON configuration's `webhooks`."},
			parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				w, err := teleconsult.CheckWebhookURL(v)
				if err != nil {
					return err
				}
				c.Webhook.URL, c.Webhook.warning = v, w
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.Webhook.URL} },
		},
		{
			VarDoc: VarDoc{Name: "WEBHOOK_SECRET", Default: "", Secret: true,
				Description: "Signing secret of WEBHOOK_URL in Standard Webhooks' form: `whsec_` followed by the standard base64 of 24 to 64 random bytes (`echo whsec_$(openssl rand -base64 32)`). Give the same value to the receiver's Standard Webhooks library. Required with WEBHOOK_URL."},
			parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				k, err := teleconsult.ParseWebhookSecret(v)
				if err != nil {
					return err
				}
				c.Webhook.Secret = k
				return nil
			},
			show: func(c *Config) shown { return secretStatus(string(c.Webhook.Secret)) },
		},
		{
			VarDoc: VarDoc{Name: "WEBHOOK_TIMEOUT", Default: "10s",
				Description: "Longest wait for a webhook receiver's answer, per attempt (1s to 1m): a receiver that answers later counts as failed for now and is tried again later."},
			value: "10s",
			parse: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < minWebhookTimeout || d > maxWebhookTimeout {
					return fmt.Errorf("expected a duration such as 10s, from %v to %v", minWebhookTimeout, maxWebhookTimeout)
				}
				c.Webhook.Timeout = d
				return nil
			},
			show: func(c *Config) shown { return shown{value: c.Webhook.Timeout.String()} },
		},
	}
}

// checkWebhooks checks WEBHOOK_URL and WEBHOOK_SECRET together, and
// against the JSON configuration's receivers.
func (c *Config) checkWebhooks() []error {
	var errs []error
	switch {
	case c.Webhook.URL != "" && c.Webhook.Secret == nil:
		errs = append(errs, errors.New("WEBHOOK_SECRET: required with WEBHOOK_URL (whsec_ followed by base64: echo whsec_$(openssl rand -base64 32))"))
	case c.Webhook.URL == "" && c.Webhook.Secret != nil:
		errs = append(errs, errors.New("WEBHOOK_URL: required with WEBHOOK_SECRET (the receiver it signs for)"))
	}
	if c.Webhook.URL != "" {
		for i, e := range c.ServiceConfig.Webhooks {
			if e.Name == teleconsult.DefaultWebhookName {
				errs = append(errs, fmt.Errorf("TELECONSULTATION_SERVICE_CONFIG_PATH: webhooks[%d].name: %q is WEBHOOK_URL's receiver: choose another name", i, e.Name))
			}
		}
	}
	return errs
}

// webhookEndpoints are every receiver: WEBHOOK_URL's first, then the JSON
// configuration's.
func (c *Config) webhookEndpoints() []teleconsult.WebhookEndpoint {
	var out []teleconsult.WebhookEndpoint
	if c.Webhook.URL != "" {
		out = append(out, teleconsult.WebhookEndpoint{Name: teleconsult.DefaultWebhookName, URL: c.Webhook.URL, Secret: c.Webhook.Secret})
	}
	return append(out, c.ServiceConfig.Webhooks...)
}

// webhookWarnings are the warnings of the receivers' URLs.
func (c *Config) webhookWarnings() []string {
	var out []string
	if c.Webhook.warning != "" {
		out = append(out, "WEBHOOK_URL: "+c.Webhook.warning)
	}
	w, _ := teleconsult.CheckWebhooks(c.ServiceConfig.Webhooks)
	return append(out, w...)
}
