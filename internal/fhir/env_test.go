package fhir_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/envvar"
	"github.com/teleconsult/teleconsult/internal/fhir"
)

// Ensure the FHIR variables set the fields they document, show the
// authorization masked, and refuse bad values without repeating it.
func TestVariables(t *testing.T) {
	defaults := fhir.Config{Options: fhir.Options{UserSystem: fhir.DefaultUserSystem, AppointmentSystem: fhir.DefaultAppointmentSystem}}
	for _, tt := range []struct {
		env  map[string]string
		want fhir.Config
	}{
		{nil, defaults},
		{map[string]string{"FHIR_SERVER_URL": "https://fhir.example.org/r4/", "FHIR_SERVER_AUTHORIZATION": "Bearer SECRET-token",
			"FHIR_USER_ID_SYSTEM": "https://booking.example.org/users", "FHIR_APPOINTMENT_ID_SYSTEM": "urn:oid:1.2.3.4", "FHIR_PARTICIPANT_NAMES": "true"},
			fhir.Config{ServerURL: "https://fhir.example.org/r4", Authorization: "Bearer SECRET-token",
				Options: fhir.Options{UserSystem: "https://booking.example.org/users", AppointmentSystem: "urn:oid:1.2.3.4", Names: true}}},
	} {
		var c fhir.Config
		if err := envvar.Read(fhir.Variables(), &c, tt.env); err != nil {
			t.Fatalf("%v: %v", tt.env, err)
		}
		if !reflect.DeepEqual(c, tt.want) {
			t.Errorf("%v: %+v, want %+v", tt.env, c, tt.want)
		}
		for _, v := range fhir.Variables() {
			if s := v.Show(&c); v.Secret && (!s.Masked || strings.Contains(s.Value, "SECRET")) {
				t.Errorf("%s shown as %+v", v.Name, s)
			}
		}
	}
	for _, tt := range []struct{ name, value, want string }{
		{"FHIR_SERVER_URL", "fhir.example.org", "base URL"},
		{"FHIR_SERVER_URL", "https://u:SECRET@h/r4", "FHIR_SERVER_AUTHORIZATION"},
		{"FHIR_SERVER_AUTHORIZATION", "Bearer SECRET\nX-Injected: 1", "visible ASCII"},
		{"FHIR_USER_ID_SYSTEM", "users", "absolute URI"},
		{"FHIR_APPOINTMENT_ID_SYSTEM", "https://has space", "absolute URI"},
		{"FHIR_PARTICIPANT_NAMES", "maybe", ""},
	} {
		var c fhir.Config
		err := envvar.Read(fhir.Variables(), &c, map[string]string{tt.name: tt.value})
		if err == nil || !strings.Contains(err.Error(), tt.name) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%q: %v", tt.name, tt.value, err)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: the error repeats the secret: %v", tt.name, err)
		}
	}
}
