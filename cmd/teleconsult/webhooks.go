package main

import (
	"context"
	"net/url"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/webhook"
)

// Outgoing webhooks wiring: the signing HTTP sender (internal/webhook)
// behind the domain's webhook worker.

// openWebhooks makes the webhook worker when receivers are configured
// (WEBHOOK_URL, the JSON configuration's webhooks); Serve starts it.
func (m *Main) openWebhooks() {
	eps := m.Service.Settings.Webhooks
	if len(eps) == 0 {
		m.Logger.Info("outgoing webhooks are off: WEBHOOK_URL is not set and the JSON configuration names no webhooks")
		return
	}
	m.Hooks = &teleconsult.WebhookOutbox{Service: m.Service, Sender: webhook.New(m.Config.Webhook.Timeout, nil)}
	m.Service.Hooks = m.Hooks
	for _, e := range eps {
		// The URL's path and query may hold a receiver's token: the host only.
		m.Logger.Info("outgoing webhooks on", "receiver", e.Name, "host", hostOf(e.URL), "events", len(e.Events))
	}
}

// runWebhooks starts the webhook worker, if any, and returns a function
// that waits for it to stop after ctx is done.
func (m *Main) runWebhooks(ctx context.Context) (wait func()) {
	if m.Hooks == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Hooks.Run(ctx)
	}()
	return func() {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			m.Logger.Warn("webhook worker still busy at shutdown; its event will be delivered again after restart")
		}
	}
}

// hostOf is the host of a URL, for logs.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
