package main

import (
	"log/slog"
	"strings"
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
		if len(cfg.DailyWebhookSecret) == 0 {
			log.Warn("DAILY_WEBHOOK_SECRET is not set: Daily's webhooks are refused, so the call state (in progress, ended, time used, LIVE rule) does not follow Daily calls")
		}
		if cfg.DailyDomain == "" {
			log.Warn("DAILY_DOMAIN is not set: the call page frames rooms of any Daily domain (https://*.daily.co); set it to your domain to allow exactly its rooms")
		}
		return daily.New(daily.Config{
			APIKey: cfg.DailyAPIKey, BaseURL: cfg.DailyAPIURL, WebhookSecret: cfg.DailyWebhookSecret,
			RoomOrigin: cfg.DailyDomain, NamingKey: keys.NamingKey(), Timeout: cfg.ProviderTimeout, Logger: log,
		})
	case ProviderKaleyra:
		return kaleyra.New(kaleyra.Config{
			APIKey: cfg.BandyerAPISecretKey, BaseURL: cfg.BandyerBaseURL,
			NamingKey: keys.NamingKey(), Timeout: cfg.ProviderTimeout, Logger: log,
		})
	default:
		return sfu.NewProvider(nil, sfuConfig(cfg, now, log))
	}
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
	if cfg.DailyDomain != "" {
		return []string{cfg.DailyDomain}
	}
	return []string{"https://*.daily.co"}
}

// sfuConfig is the built-in SFU's configuration from the environment.
func sfuConfig(cfg *Config, now func() time.Time, log *slog.Logger) sfu.Config {
	c := sfu.DefaultConfig()
	md := cfg.Media
	switch {
	case md.UDPPortMin != 0 && md.UDPPortMin == md.UDPPortMax:
		c.UDPPort = int(md.UDPPortMin)
	case md.UDPPortMin != 0:
		c.UDPPortMin, c.UDPPortMax = md.UDPPortMin, md.UDPPortMax
	}
	c.PublicIP = md.PublicIP
	c.LoopbackCandidates = md.LoopbackCandidates
	for _, u := range md.ICEServers {
		s := sfu.ICEServer{URLs: []string{u}}
		if strings.HasPrefix(u, "turn") {
			s.Username, s.Credential = md.TURNUsername, md.TURNPassword
		}
		c.ICEServers = append(c.ICEServers, s)
	}
	c.TURN.Enabled, c.TURN.Port, c.TURN.Realm = md.TURNEnabled, int(md.TURNPort), md.TURNRealm
	c.StartAudioOff, c.StartVideoOff = cfg.StartAudioOff, cfg.StartVideoOff
	c.MaxPendingPerClient, c.MaxPending = cfg.Net.PendingPerClient, cfg.Net.PendingMax
	c.Now, c.Logger = now, log
	return c
}
