package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Defaults of [Target].
const (
	DefaultTimeout = 10 * time.Second
	// maxAnswerBytes is how much of a server's answer is read, and
	// discarded, so that the connection can be reused.
	maxAnswerBytes = 64 << 10
	// UserAgent names the sender.
	UserAgent = "Teleconsult-FHIR/1"
)

// TargetEvents are the events a FHIR server is sent an Encounter for.
var TargetEvents = []teleconsult.WebhookEvent{teleconsult.HookCallStarted, teleconsult.HookCallEnded}

// Target sends a teleconsultation's Encounter to a FHIR server when a call
// starts or ends: the update interaction (R4 http.html#update), PUT
// [base]/Encounter/{id} with the whole resource, the teleconsultation id
// being the Encounter's id (the server must allow update as create). It
// is a receiver of the domain's webhook outbox ([teleconsult.HookTarget]):
// each Encounter is stored with the change that caused it and sent in
// order, retried with backoff while the server fails. The bodies carry
// references, never names. Build it with [NewTarget].
type Target struct {
	opts     Options
	settings *teleconsult.Settings
	auth     string
	client   *http.Client
	timeout  time.Duration
}

var _ teleconsult.HookTarget = (*Target)(nil)

// NewTarget returns a Target describing teleconsultations with opts under
// settings (which decide the effective state), sending authorization (an
// Authorization header value such as "Bearer …"; empty sends none) and
// waiting at most timeout for an answer (0: [DefaultTimeout]). transport
// nil means a clone of http.DefaultTransport.
func NewTarget(opts Options, settings *teleconsult.Settings, authorization string, timeout time.Duration, transport http.RoundTripper) *Target {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if transport == nil {
		transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &Target{
		opts: opts, settings: settings, auth: authorization, timeout: timeout,
		client: &http.Client{
			Transport: transport,
			// A redirect is not followed: a PUT must not change its target.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Body implements [teleconsult.HookTarget]: the Encounter of tc, as the
// change stores it at version, at now.
func (t *Target) Body(_ teleconsult.WebhookEvent, tc *teleconsult.Teleconsultation, version int, now time.Time) ([]byte, error) {
	return json.Marshal(t.opts.Encounter(tc, View{Now: now, Settings: t.settings, Version: version, ForServer: true}))
}

// CheckServerURL checks a FHIR server's base URL (FHIR_SERVER_URL):
// absolute http or https with a host, no user information, query or
// fragment (R4 http.html#root: [base] is a path).
func CheckServerURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || len(raw) > 2048 || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return errors.New("expected the server's base URL: absolute http:// or https://, such as https://fhir.example.org/r4")
	case u.User != nil:
		return errors.New("must not hold a user name or password: give the credentials in FHIR_SERVER_AUTHORIZATION")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must be a base URL, without ?query or #fragment")
	}
	return nil
}

// Send implements [teleconsult.WebhookSender]: PUT d.Body to
// d.URL/Encounter/{id}. nil on a 2xx answer, else a
// [*teleconsult.WebhookError], permanent for a 4xx other than 408 and
// 429 (the server refuses this Encounter; the reason has the status, not
// the server's OperationOutcome).
func (t *Target) Send(ctx context.Context, d *teleconsult.WebhookDelivery) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	target := strings.TrimRight(d.URL, "/") + "/Encounter/" + url.PathEscape(d.TeleconsultationID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target, bytes.NewReader(d.Body))
	if err != nil {
		return &teleconsult.WebhookError{Permanent: true, Reason: "the FHIR server's URL is not usable", Err: err}
	}
	req.Header.Set("Content-Type", ContentType+"; charset=utf-8")
	req.Header.Set("Accept", ContentType)
	req.Header.Set("User-Agent", UserAgent)
	if t.auth != "" {
		req.Header.Set("Authorization", t.auth)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		reason := "the FHIR server could not be reached"
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			reason = "the FHIR server did not answer within " + t.timeout.String()
		}
		return &teleconsult.WebhookError{Reason: reason, Err: err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswerBytes))
	_ = resp.Body.Close() // only the status counts
	return outcome(resp.StatusCode)
}

// outcome classifies a FHIR server's status.
func outcome(st int) error {
	text := strconv.Itoa(st) + " " + http.StatusText(st)
	switch {
	case st >= 200 && st < 300:
		return nil
	case st == http.StatusRequestTimeout || st == http.StatusTooManyRequests:
		return &teleconsult.WebhookError{Status: st, Reason: "the FHIR server answered " + text + "; tried again later"}
	case st >= 400 && st < 500:
		return &teleconsult.WebhookError{Permanent: true, Status: st, Reason: "the FHIR server refused the Encounter: " + text}
	case st >= 300 && st < 400:
		return &teleconsult.WebhookError{Status: st, Reason: "the FHIR server answered " + text + " (a redirect, not followed)"}
	}
	return &teleconsult.WebhookError{Status: st, Reason: "the FHIR server answered " + text}
}
