package main

import (
	"net/http"

	"github.com/teleconsult/teleconsult/internal/fhir"
	"github.com/teleconsult/teleconsult/internal/httpapi"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// FHIR wiring: the read routes (internal/fhir's handlers behind the API's
// authentication) and, with FHIR_SERVER_URL, the FHIR server as one more
// receiver of the webhook outbox.

// openFHIR returns the FHIR routes to mount (trusted callers only) and,
// when FHIR_SERVER_URL is set, adds the server to the outbox's receivers;
// call it before openWebhooks.
func (m *Main) openFHIR() []httpapi.Mount {
	cfg := m.Config.FHIR
	if cfg.ServerURL != "" {
		// A copy: the Encounter's state needs only the window rules.
		rules := m.Service.Settings
		target := fhir.NewTarget(cfg.Options, &rules, cfg.Authorization, m.Config.Webhook.Timeout, nil)
		m.Service.Settings.Webhooks = append(m.Service.Settings.Webhooks, teleconsult.WebhookEndpoint{
			Name: fhirReceiver, URL: cfg.ServerURL, Events: fhir.TargetEvents, Target: target,
		})
		m.Logger.Info("FHIR server on: each visit's Encounter is sent when a call starts and ends", "host", hostOf(cfg.ServerURL))
	}
	h := &fhir.Handler{Service: m.Service, Options: cfg.Options, Logger: m.Logger}
	return []httpapi.Mount{
		{Method: http.MethodGet, Path: fhir.AppointmentPath, Handler: h.Appointment()},
		{Method: http.MethodGet, Path: fhir.EncounterPath, Handler: h.Encounter()},
	}
}
