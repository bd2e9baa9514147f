// Package webhook is the adapter that delivers the domain's outgoing
// webhook events ([teleconsult.WebhookSender]): one HTTP POST per attempt,
// signed as the Standard Webhooks specification says
// (https://www.standardwebhooks.com), so that a receiver can verify it with
// any of that specification's libraries.
//
// Every request carries
//
//	webhook-id:        the event's id, the same on every attempt
//	webhook-timestamp: the attempt's time, in Unix seconds
//	webhook-signature: v1,<base64 of HMAC-SHA256(secret, id "." timestamp "." body)>
//	content-type:      application/json
//
// where secret is the decoded key of the receiver's whsec_ secret. A
// request has a time limit, follows no redirect (a 3xx is a failure, tried
// again later), and reads at most a small part of the answer, which it
// discards. The retries, their backoff and the order of events are the
// domain's ([teleconsult.WebhookOutbox]); this package only says how one
// attempt went.
//
// It does not use internal/vendorhttp: that client is for JSON APIs under
// one base URL, with its own retries; here every receiver has its own URL
// and the outbox retries.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Defaults of [Sender].
const (
	DefaultTimeout = 10 * time.Second
	// MaxResponseBytes is how much of an answer is read (and discarded),
	// so that the connection can be reused without reading a huge body.
	MaxResponseBytes = 64 << 10
	// UserAgent names the sender.
	UserAgent = "Teleconsult-Webhooks/1"
)

// Sender posts signed events. The zero value is not usable: use [New].
type Sender struct {
	client  *http.Client
	timeout time.Duration
}

var _ teleconsult.WebhookSender = (*Sender)(nil)

// New returns a Sender whose attempts last at most timeout (0 means
// [DefaultTimeout]). transport nil means a clone of
// http.DefaultTransport.
func New(timeout time.Duration, transport http.RoundTripper) *Sender {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if transport == nil {
		transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &Sender{
		timeout: timeout,
		client: &http.Client{
			Transport: transport,
			// A redirect is not followed: the answer is the 3xx.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Sign returns the webhook-signature value of an event: "v1," and the
// base64 of HMAC-SHA256 under key over id.timestamp.body.
func Sign(key []byte, id string, timestamp time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Send implements [teleconsult.WebhookSender]: nil on a 2xx answer, else a
// [*teleconsult.WebhookError], permanent for a 4xx other than 408 and 429.
// The reason names the status or the kind of connection failure, never
// the receiver's body or the URL's query.
func (s *Sender) Send(ctx context.Context, d *teleconsult.WebhookDelivery) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return &teleconsult.WebhookError{Permanent: true, Reason: "the receiver's URL is not usable", Err: err}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h.Set("Webhook-Id", d.ID)
	h.Set("Webhook-Timestamp", strconv.FormatInt(d.Timestamp.Unix(), 10))
	h.Set("Webhook-Signature", Sign(d.Secret, d.ID, d.Timestamp, d.Body))
	resp, err := s.client.Do(req)
	if err != nil {
		reason := "the receiver could not be reached"
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			reason = "the receiver did not answer within " + s.timeout.String()
		}
		return &teleconsult.WebhookError{Reason: reason, Err: err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseBytes))
	_ = resp.Body.Close() // only the status counts
	st := resp.StatusCode
	switch {
	case st >= 200 && st < 300:
		return nil
	case st >= 300 && st < 400:
		return &teleconsult.WebhookError{Status: st, Reason: "the receiver answered " + strconv.Itoa(st) + " (a redirect, not followed)"}
	case st >= 400 && st < 500 && st != http.StatusRequestTimeout && st != http.StatusTooManyRequests:
		return &teleconsult.WebhookError{Permanent: true, Status: st, Reason: "the receiver refused the event: " + strconv.Itoa(st) + " " + http.StatusText(st)}
	default:
		return &teleconsult.WebhookError{Status: st, Reason: "the receiver answered " + strconv.Itoa(st) + " " + http.StatusText(st)}
	}
}
