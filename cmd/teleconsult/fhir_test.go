package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fhirPut is an Encounter a fake FHIR server took.
type fhirPut struct {
	path, auth string
	encounter  map[string]any
}

// fakeFHIR is a FHIR server on loopback that answers 503 while down and
// keeps the Encounters PUT to it otherwise.
type fakeFHIR struct {
	mu    sync.Mutex
	down  bool
	tries int
	puts  []fhirPut
}

func (f *fakeFHIR) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries++
	if f.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var enc map[string]any
	if r.Method != http.MethodPut || json.Unmarshal(b, &enc) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.puts = append(f.puts, fhirPut{path: r.URL.Path, auth: r.Header.Get("Authorization"), encounter: enc})
	w.WriteHeader(http.StatusOK)
}

func (f *fakeFHIR) state() (tries int, puts []fhirPut) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tries, append([]fhirPut(nil), f.puts...)
}

// fhirGet reads a FHIR route with the API key (key "-": none).
func fhirGet(t *testing.T, s *testServer, path, key string) (int, string, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if key != "-" {
		req.Header.Set("Authorization", "Bearer "+s.Key)
	}
	resp, err := http.DefaultClient.Do(req) //nolint:gosec // G704: the test's own request, to its own server
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// Ensure the wired service serves the FHIR routes to trusted callers only,
// with names when FHIR_PARTICIPANT_NAMES says so, and sends the Encounter
// to FHIR_SERVER_URL on call start and end through the outbox: a server
// answering 503 gets them later, in order, with the authorization header
// and without names.
func TestFHIRThroughTheService(t *testing.T) {
	fs := &fakeFHIR{down: true}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	s := startServer(t, map[string]string{"FHIR_SERVER_URL": srv.URL + "/r4/", "FHIR_SERVER_AUTHORIZATION": "Bearer fhir-t0ken",
		"FHIR_PARTICIPANT_NAMES": "true", "FHIR_USER_ID_SYSTEM": "https://booking.example.org/users"})
	start := time.Now().Add(48 * time.Hour).Truncate(time.Minute)
	var created struct{ RoomID string }
	if st := s.do(t, "POST", api+"/teleconsultation", "", createBody(start, anna, mario), &created); st != 201 {
		t.Fatalf("create: %d", st)
	}
	id := created.RoomID

	st, ct, appt := fhirGet(t, s, "/fhir/Appointment/"+id, "")
	if st != 200 || ct != "application/fhir+json; charset=utf-8" || appt["resourceType"] != "Appointment" || appt["status"] != "booked" {
		t.Errorf("GET Appointment: %d %s %v", st, ct, appt)
	}
	if b, _ := json.Marshal(appt); !strings.Contains(string(b), `"display":"Dr. Anna Verdi"`) || !strings.Contains(string(b), `"system":"https://booking.example.org/users","value":"pat-1"`) {
		t.Errorf("Appointment participants: %s", b)
	}
	if st, _, _ := fhirGet(t, s, "/fhir/Encounter/"+id, "-"); st != 401 {
		t.Errorf("without the API key: %d", st)
	}
	if st, _, oo := fhirGet(t, s, "/fhir/Encounter/0123456789abcdef0123456789abcdef", ""); st != 404 || oo["resourceType"] != "OperationOutcome" {
		t.Errorf("unknown id: %d %v", st, oo)
	}

	ctx := context.Background()
	if err := s.Main.Service.CallStarted(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, _, enc := fhirGet(t, s, "/fhir/Encounter/"+id, ""); enc["status"] != "in-progress" {
		t.Errorf("Encounter during the call: %v", enc["status"])
	}
	if err := s.Main.Service.CallEnded(ctx, id); err != nil {
		t.Fatal(err)
	}
	// The server is down: the first update is tried and waits.
	deadline := time.Now().Add(10 * time.Second)
	for tries, _ := fs.state(); tries == 0; tries, _ = fs.state() {
		if time.Now().After(deadline) {
			t.Fatal("the FHIR server was never tried")
		}
		time.Sleep(20 * time.Millisecond)
	}
	fs.mu.Lock()
	fs.down = false
	fs.mu.Unlock()
	s.Clock.Set(s.Clock.Now().Add(time.Hour))
	var puts []fhirPut
	for _, puts = fs.state(); len(puts) < 2; _, puts = fs.state() {
		if time.Now().After(deadline) {
			t.Fatalf("the FHIR server got %d Encounters", len(puts))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, want := range []string{"in-progress", "finished"} {
		p := puts[i]
		b, _ := json.Marshal(p.encounter)
		if p.path != "/r4/Encounter/"+id || p.auth != "Bearer fhir-t0ken" || p.encounter["status"] != want || strings.Contains(string(b), "Anna") {
			t.Errorf("PUT %d: %s %q %s", i, p.path, p.auth, b)
		}
	}
	var d struct {
		Deliveries []struct{ Receiver, Type, Status string }
	}
	if st := s.do(t, "GET", api+"/teleconsultation/"+id+"/webhooks", "", nil, &d); st != 200 || len(d.Deliveries) != 2 ||
		d.Deliveries[0].Receiver != "fhir" || d.Deliveries[0].Status != "sent" || d.Deliveries[1].Type != "call.ended" {
		t.Errorf("delivery state: %d %+v", st, d)
	}
}

// Ensure the FHIR variables are checked at start-up.
func TestFHIRConfig(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"FHIR_SERVER_AUTHORIZATION": "Bearer x"}, "FHIR_SERVER_URL: required with FHIR_SERVER_AUTHORIZATION"},
		{map[string]string{"FHIR_SERVER_URL": "fhir.example.org"}, "FHIR_SERVER_URL="},
		{map[string]string{"FHIR_USER_ID_SYSTEM": "users"}, "FHIR_USER_ID_SYSTEM="},
	} {
		env := map[string]string{"API_KEYS": testAPIKey, "DATA_DIR": t.TempDir()}
		for k, v := range tt.env {
			env[k] = v
		}
		_, err := LoadConfig(func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.env, err, tt.want)
		}
	}
	env := map[string]string{"API_KEYS": testAPIKey, "DATA_DIR": t.TempDir(), "FHIR_SERVER_URL": "http://fhir.example.org/r4"}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(cfg.Warnings(), "\n"); !strings.Contains(w, "FHIR_SERVER_URL: plain http") {
		t.Errorf("warnings %q", w)
	}
}
