package main

import (
	"log/slog"

	"github.com/teleconsult/teleconsult/internal/daily"
	"github.com/teleconsult/teleconsult/internal/kaleyra"
	"github.com/teleconsult/teleconsult/internal/sfu"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// newProvider returns the video provider of VIDEO_PROVIDER: the built-in
// SFU, Daily or Kaleyra, with its settings.
func newProvider(cfg *Config, keys *teleconsult.Keyring, log *slog.Logger) (teleconsult.VideoProvider, error) {
	switch cfg.VideoProvider {
	case ProviderDaily:
		if len(cfg.DailyWebhookSecret) == 0 {
			log.Warn("DAILY_WEBHOOK_SECRET is not set: Daily's webhooks are refused, so the call state (in progress, ended, time used, LIVE rule) does not follow Daily calls")
		}
		return daily.New(daily.Config{
			APIKey: cfg.DailyAPIKey, BaseURL: cfg.DailyAPIURL, WebhookSecret: cfg.DailyWebhookSecret,
			NamingKey: keys.NamingKey(), Timeout: cfg.ProviderTimeout, Logger: log,
		})
	case ProviderKaleyra:
		return kaleyra.New(kaleyra.Config{
			APIKey: cfg.BandyerAPISecretKey, BaseURL: cfg.BandyerBaseURL,
			NamingKey: keys.NamingKey(), Timeout: cfg.ProviderTimeout, Logger: log,
		})
	default:
		return sfu.NewProvider(), nil
	}
}
