package fhir

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/teleconsult/teleconsult/internal/envvar"
)

// Config is the FHIR configuration read from the environment.
type Config struct {
	// Options describe the resources, for the routes and the server.
	Options Options
	// ServerURL (FHIR_SERVER_URL) is the base URL of the FHIR server sent
	// the Encounters; empty: none.
	ServerURL string
	// Authorization (FHIR_SERVER_AUTHORIZATION) is the Authorization
	// header sent to it; empty: none. Secret.
	Authorization string
}

// maxAuthorization bounds FHIR_SERVER_AUTHORIZATION.
const maxAuthorization = 8 << 10

// Variables are the FHIR environment variables, in the order they are read
// and documented, bound to the fields of [Config] they set.
func Variables() []envvar.Var[Config] {
	return []envvar.Var[Config]{
		{
			Doc: envvar.Doc{Name: "FHIR_SERVER_URL", Default: "",
				Description: "Base URL of a FHIR R4 server to send each visit's Encounter to when a call starts and when it ends (`PUT [base]/Encounter/{id}`, the teleconsultation id as the Encounter's id: the server must allow update as create). Delivered through the webhook outbox (receiver `fhir`): in order, retried with backoff while the server fails. Unset: nothing is sent; `GET /fhir/…` works either way."},
			Parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				if err := CheckServerURL(v); err != nil {
					return err
				}
				c.ServerURL = strings.TrimRight(v, "/")
				return nil
			},
			Show: func(c *Config) envvar.Shown { return envvar.Shown{Value: c.ServerURL} },
		},
		{
			Doc: envvar.Doc{Name: "FHIR_SERVER_AUTHORIZATION", Default: "", Secret: true,
				Description: "Value of the `Authorization` header sent to FHIR_SERVER_URL, such as `Bearer <token>` or `Basic <base64>`. Unset: none."},
			Parse: func(c *Config, v string) error {
				if v == "" {
					return nil
				}
				if len(v) > maxAuthorization {
					return errors.New("expected a header value of at most " + strconv.Itoa(maxAuthorization) + " bytes")
				}
				for _, r := range v {
					if r < ' ' || r >= 0x7f {
						return errors.New("expected a header value of visible ASCII characters and spaces, such as Bearer <token>")
					}
				}
				c.Authorization = v
				return nil
			},
			Show: func(c *Config) envvar.Shown { return envvar.SecretStatus(c.Authorization) },
		},
		{
			Doc: envvar.Doc{Name: "FHIR_USER_ID_SYSTEM", Default: DefaultUserSystem,
				Description: "Identifier system (an absolute URI) of the booking system's user ids: participants are references `{\"type\": \"Practitioner\" or \"Patient\", \"identifier\": {\"system\": this, \"value\": userId}}`."},
			Value: DefaultUserSystem,
			Parse: func(c *Config, v string) error {
				if err := checkSystem(v); err != nil {
					return err
				}
				c.Options.UserSystem = v
				return nil
			},
			Show: func(c *Config) envvar.Shown { return envvar.Shown{Value: c.Options.UserSystem} },
		},
		{
			Doc: envvar.Doc{Name: "FHIR_APPOINTMENT_ID_SYSTEM", Default: DefaultAppointmentSystem,
				Description: "Identifier system (an absolute URI) of the booking system's appointment ids (`appointmentId`): `Appointment.identifier` and the Encounter's reference to its appointment."},
			Value: DefaultAppointmentSystem,
			Parse: func(c *Config, v string) error {
				if err := checkSystem(v); err != nil {
					return err
				}
				c.Options.AppointmentSystem = v
				return nil
			},
			Show: func(c *Config) envvar.Shown { return envvar.Shown{Value: c.Options.AppointmentSystem} },
		},
		{
			Doc: envvar.Doc{Name: "FHIR_PARTICIPANT_NAMES", Default: "false",
				Description: "Show participants' full names (`Reference.display`) in the answers of `GET /fhir/Appointment/{id}` and `GET /fhir/Encounter/{id}`. The Encounters sent to FHIR_SERVER_URL never carry names."},
			Value: "false",
			Parse: func(c *Config, v string) (err error) { c.Options.Names, err = envvar.Bool(v); return err },
			Show:  func(c *Config) envvar.Shown { return envvar.Shown{Value: strconv.FormatBool(c.Options.Names)} },
		},
	}
}

// checkSystem checks an identifier system: an absolute URI (a URL or a
// URN), without spaces, at most 1024 bytes.
func checkSystem(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || len(v) > 1024 || strings.ContainsAny(v, " \t\r\n") || (u.Opaque == "" && u.Host == "") {
		return errors.New("expected an absolute URI such as https://booking.example.org/users or urn:oid:1.2.3")
	}
	return nil
}
