package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Ensure config check warns about a plain http PUBLIC_URL on another host
// and about every interface with the default PUBLIC_URL, and about
// nothing in the default, local or https set-ups.
func TestConfigWarnings(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string // one fragment per expected warning, in order
	}{
		{"defaults", nil, nil},
		{"loopback ip", map[string]string{"PUBLIC_URL": "http://127.0.0.2:8080"}, nil},
		{"localhost", map[string]string{"PUBLIC_URL": "http://localhost:8080"}, nil},
		{"ipv6 loopback", map[string]string{"LISTEN_ADDR": "[::1]:8080"}, nil},
		{"https", map[string]string{"LISTEN_ADDR": "0.0.0.0:8080", "PUBLIC_URL": "https://visits.clinic.example"}, nil},
		{"http on the lan", map[string]string{"LISTEN_ADDR": "0.0.0.0:8080", "PUBLIC_URL": "http://192.168.1.20:8080"},
			[]string{"PUBLIC_URL=http://192.168.1.20:8080 is plain http"}},
		{"http name", map[string]string{"PUBLIC_URL": "http://visits.clinic.example"},
			[]string{"browsers give the camera and microphone only to https pages"}},
		{"every interface", map[string]string{"LISTEN_ADDR": ":8080"},
			[]string{"LISTEN_ADDR=:8080 listens on every interface, but PUBLIC_URL is not set and defaults to http://127.0.0.1:8080"}},
		{"every interface ipv4", map[string]string{"LISTEN_ADDR": "0.0.0.0:9000"}, []string{"defaults to http://127.0.0.1:9000"}},
		{"every interface ipv6", map[string]string{"LISTEN_ADDR": "[::]:9000"}, []string{"LISTEN_ADDR=[::]:9000"}},
		{"a lan address", map[string]string{"LISTEN_ADDR": "192.168.1.20:8080"}, []string{"PUBLIC_URL=http://192.168.1.20:8080 is plain http"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustLoad(t, tt.env).Warnings()
			if len(got) != len(tt.want) {
				t.Fatalf("warnings %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
	// The command prints them on standard error, after the configuration.
	env := map[string]string{"LISTEN_ADDR": ":8080", "DATA_DIR": t.TempDir()}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"config", "check"}, func(k string) string { return env[k] }, &out, &errb); code != 0 {
		t.Fatalf("config check: %d %s", code, errb.String())
	}
	if !strings.HasPrefix(errb.String(), "teleconsult: warning: LISTEN_ADDR=:8080 listens on every interface") ||
		strings.Contains(out.String(), "warning") {
		t.Errorf("stdout %q\nstderr %q", out.String(), errb.String())
	}
}
