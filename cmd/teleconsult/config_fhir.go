package main

import (
	"errors"
	"fmt"

	"github.com/teleconsult/teleconsult/internal/fhir"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// fhirReceiver is the name of FHIR_SERVER_URL's receiver in the webhook
// outbox and its delivery state.
const fhirReceiver = "fhir"

// fhirVariables are the variables of [fhir.Config].
func fhirVariables() []variable {
	return bind(fhir.Variables(), func(c *Config) *fhir.Config { return &c.FHIR })
}

// checkFHIR checks FHIR_SERVER_URL and FHIR_SERVER_AUTHORIZATION together,
// and against the JSON configuration's webhook receivers.
func (c *Config) checkFHIR() []error {
	var errs []error
	if c.FHIR.ServerURL == "" {
		if c.FHIR.Authorization != "" {
			errs = append(errs, errors.New("FHIR_SERVER_URL: required with FHIR_SERVER_AUTHORIZATION (the server it authenticates to)"))
		}
		return errs
	}
	for i, e := range c.ServiceConfig.Webhooks {
		if e.Name == fhirReceiver {
			errs = append(errs, fmt.Errorf("TELECONSULTATION_SERVICE_CONFIG_PATH: webhooks[%d].name: %q is FHIR_SERVER_URL's receiver: choose another name", i, e.Name))
		}
	}
	return errs
}

// fhirWarnings warn of plain http to another machine.
func (c *Config) fhirWarnings() []string {
	if c.FHIR.ServerURL == "" {
		return nil
	}
	if w, _ := teleconsult.CheckWebhookURL(c.FHIR.ServerURL); w != "" {
		return []string{"FHIR_SERVER_URL: " + w}
	}
	return nil
}
