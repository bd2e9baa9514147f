package main

import (
	"log/slog"
	"time"

	"github.com/teleconsult/teleconsult/internal/authsvc"
	"github.com/teleconsult/teleconsult/internal/daily"
	"github.com/teleconsult/teleconsult/internal/kaleyra"
	"github.com/teleconsult/teleconsult/internal/sfu"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// newProvider returns the video provider of VIDEO_PROVIDER: the built-in
// SFU, Daily or Kaleyra, with its settings.
func newProvider(cfg *Config, keys *teleconsult.Keyring, now func() time.Time, log *slog.Logger) (teleconsult.VideoProvider, error) {
	switch cfg.VideoProvider {
	case ProviderDaily:
		if len(cfg.Daily.WebhookSecret) == 0 {
			log.Warn("DAILY_WEBHOOK_SECRET is not set: Daily's webhooks are refused, so the call state (in progress, ended, time used, LIVE rule) does not follow Daily calls")
		}
		if cfg.Daily.RoomOrigin == "" {
			log.Warn("DAILY_DOMAIN is not set: the call page frames rooms of any Daily domain (https://*.daily.co); set it to your domain to allow exactly its rooms")
		}
		c := cfg.Daily
		c.NamingKey, c.Timeout, c.Logger = keys.NamingKey(), cfg.ProviderTimeout, log
		return daily.New(c)
	case ProviderKaleyra:
		c := cfg.Kaleyra
		c.NamingKey, c.Timeout, c.Logger = keys.NamingKey(), cfg.ProviderTimeout, log
		return kaleyra.New(c)
	default:
		return sfu.NewProvider(nil, sfuConfig(cfg, now, log))
	}
}

// dailyVariables are Daily's variables (DAILY_*), read into cfg.Daily.
func dailyVariables() []variable {
	return bind(daily.Variables(), func(c *Config) *daily.Config { return &c.Daily })
}

// kaleyraVariables are Kaleyra's variables (BANDYER_*), read into
// cfg.Kaleyra; config check says when BANDYER_BASE_URL comes from the JSON
// configuration's environment (see checkProvider).
func kaleyraVariables() []variable {
	return withShow(bind(kaleyra.Variables(), func(c *Config) *kaleyra.Config { return &c.Kaleyra }), "BANDYER_BASE_URL",
		func(c *Config, s shown) shown {
			if c.source("BANDYER_BASE_URL") == sourceDefault && c.Kaleyra.BaseURL != "" {
				s.note = "from the JSON configuration's environment " + c.ServiceConfig.Environment
			}
			return s
		})
}

// newDirectory returns the user directory of AUTH_SERVICE mode, or nil
// without AUTH_SERVICE.
func newDirectory(cfg *Config, log *slog.Logger) (teleconsult.UserDirectory, error) {
	if cfg.AuthServiceURL == "" {
		return nil, nil
	}
	c := authsvc.Config{
		BaseURL: cfg.AuthServiceURL, UserPath: cfg.AuthServiceUserPath, DefaultClientType: cfg.DefaultClientType,
		CustomIDEndpoint: cfg.CustomIDUsersAPIEndpoint, Timeout: cfg.AuthServiceTimeout, Logger: log,
	}
	if cu := cfg.ServiceConfig.CustomUserID; cu != nil {
		c.CustomIDSource, c.CustomIDTarget = cu.Source, cu.Target
	}
	d, err := authsvc.New(c)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// callOrigins are the origins the call page shows in an iframe: the
// Daily domain's rooms (DAILY_DOMAIN, else any Daily domain); nothing for
// the built-in SFU (the call is the page itself) and Kaleyra (the page
// sends the participant on to their Kaleyra link).
func callOrigins(cfg *Config) []string {
	if cfg.VideoProvider != ProviderDaily {
		return nil
	}
	if cfg.Daily.RoomOrigin != "" {
		return []string{cfg.Daily.RoomOrigin}
	}
	return []string{"https://*.daily.co"}
}

// sfuConfig is the built-in SFU's configuration: its variables
// (cfg.SFU), with the settings it shares with the other providers and the
// service.
func sfuConfig(cfg *Config, now func() time.Time, log *slog.Logger) sfu.Config {
	c := cfg.SFU
	c.StartAudioOff, c.StartVideoOff = cfg.StartAudioOff, cfg.StartVideoOff
	c.MaxPendingPerClient, c.MaxPending = cfg.Net.PendingPerClient, cfg.Net.PendingMax
	c.Now, c.Logger = now, log
	return c
}
