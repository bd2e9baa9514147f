// Package vendorhttp is the HTTP plumbing that the hosted video provider
// adapters (internal/daily, internal/kaleyra) share: JSON requests to a
// vendor's REST API with a time limit on every call, retries with
// exponential backoff on 429 and 5xx that honour Retry-After, a cap on the
// size of what is read back, and vendor failures turned into the domain's
// errors (EUNAVAILABLE → 503, EBADGATEWAY → 502) with messages that name
// the vendor and the operation but never a key, a header or a body.
//
// It is a library, not an adapter: it talks to no particular vendor and
// holds no rules, so the adapters that use it stay independent of each
// other.
//
// Retries and duplicates: a request is always retried when the vendor says
// it did not process it (429, 503) or when the connection could not be
// made. After an ambiguous failure (a timeout, a connection lost after
// sending, 500, 502, 504) it is retried only if [Request.Idempotent]:
// the caller says that doing it twice is harmless, for example because it
// names what it creates and adopts what already exists.
package vendorhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Defaults of [Config].
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxAttempts      = 4
	DefaultMaxResponseBytes = 1 << 20
	DefaultBaseBackoff      = 200 * time.Millisecond
	DefaultMaxBackoff       = 2 * time.Second
	// maxRetryAfter bounds a Retry-After: a larger one is not waited for.
	maxRetryAfter = time.Hour
)

// Config configures a [Client].
type Config struct {
	// Vendor names the vendor in messages and logs: "Daily", "Kaleyra".
	Vendor string
	// Kind says what the vendor is, before its name in messages: "" means
	// "video provider"; the auth service adapter says "auth service".
	Kind string
	// KeyName is the variable holding the vendor's API key, named when the
	// vendor refuses it: "DAILY_API_KEY".
	KeyName string
	// BaseURL is the API's base, without trailing slash. Required.
	BaseURL string
	// Auth sets the authentication headers of every request. Required.
	Auth func(h http.Header)
	// Timeout bounds one call, retries and waits included; 0 means
	// [DefaultTimeout].
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one call; 0 means
	// [DefaultMaxAttempts].
	MaxAttempts int
	// MaxResponseBytes caps what is read of a response; a larger one is a
	// bad gateway. 0 means [DefaultMaxResponseBytes].
	MaxResponseBytes int64
	// BaseBackoff and MaxBackoff shape the exponential backoff between
	// attempts (with jitter); 0 means the defaults.
	BaseBackoff, MaxBackoff time.Duration
	// Transport sends the requests; nil means a clone of
	// http.DefaultTransport (TLS verification on, proxies from the
	// environment).
	Transport http.RoundTripper
	// Logger receives a line per retry, without headers or bodies; nil
	// discards.
	Logger *slog.Logger
	// Sleep waits d unless ctx ends first; nil means a timer. Tests
	// record the waits instead.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client calls one vendor's REST API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client
}

// New checks cfg, fills in the defaults and returns a client.
func New(cfg Config) (*Client, error) {
	if cfg.Vendor == "" || cfg.BaseURL == "" || cfg.Auth == nil {
		return nil, errors.New("vendorhttp: Vendor, BaseURL and Auth are required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("vendorhttp: %s base URL must be an absolute http(s) URL", cfg.Vendor)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Kind == "" {
		cfg.Kind = "video provider"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = DefaultBaseBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	rt := cfg.Transport
	if rt == nil {
		rt = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &Client{cfg: cfg, http: &http.Client{
		Transport: rt,
		// A vendor API does not redirect; following could carry the key
		// to another host (Go drops Authorization on such redirects, but
		// not custom headers such as Kaleyra's apikey).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// Vendor returns the vendor's name.
func (c *Client) Vendor() string { return c.cfg.Vendor }

// Timeout returns the time limit of one call.
func (c *Client) Timeout() time.Duration { return c.cfg.Timeout }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Request is one call to the vendor.
type Request struct {
	// Op names the call in messages and logs: "create room".
	Op     string
	Method string
	// Path is appended to the base URL; the caller escapes its segments
	// (url.PathEscape).
	Path  string
	Query url.Values
	// Header holds more headers of this call (set after Config.Auth's):
	// for example credentials passed on from the request being served.
	Header http.Header
	// Body, when not nil, is sent as JSON.
	Body any
	// Raw, when Body is nil, is sent as it is, with the Content-Type that
	// Header gives (a multipart upload).
	Raw []byte
	// Idempotent says that the call may be repeated after an ambiguous
	// failure without doing something twice.
	Idempotent bool
}

// Response is the vendor's answer: a 2xx, 3xx or 4xx other than 429 (the
// rest are errors of [Client.Do]).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// OK reports whether the status is 2xx.
func (r *Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// errTooLarge is the cause of a response over the size cap.
var errTooLarge = errors.New("response over the size limit")

// Do sends req and returns the vendor's answer, retrying as the package
// documentation says, all within the client's timeout. It returns an error
// (EUNAVAILABLE or EBADGATEWAY) when no usable answer came: the vendor
// could not be reached, did not answer in time, kept refusing (429, 5xx)
// or answered with more than the size cap.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = json.Marshal(req.Body); err != nil {
			return nil, &teleconsult.Error{Code: teleconsult.EINTERNAL, Message: "cannot encode a request to " + c.cfg.Vendor, Err: err}
		}
	} else if req.Raw != nil {
		body = req.Raw
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		resp, err := c.once(ctx, req, body)
		var retryAfter time.Duration
		retry := false
		switch {
		case errors.Is(err, errTooLarge):
			return nil, c.fail(teleconsult.EBADGATEWAY, req.Op, fmt.Sprintf("answered with more than %d bytes", c.cfg.MaxResponseBytes), err)
		case err != nil && ctx.Err() != nil:
			return nil, c.timeoutError(ctx, req.Op, err)
		case err != nil:
			retry = req.Idempotent || notSent(err)
		case resp.Status == http.StatusTooManyRequests || resp.Status == http.StatusServiceUnavailable:
			retry, retryAfter = true, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		case resp.Status >= 500:
			retry = req.Idempotent
		default:
			return resp, nil
		}
		final := func() error {
			if err != nil {
				return c.fail(teleconsult.EUNAVAILABLE, req.Op, "cannot be reached", err)
			}
			return c.statusError(req.Op, resp, retryAfter)
		}
		if !retry || attempt >= c.cfg.MaxAttempts {
			return nil, final()
		}
		wait := c.backoff(attempt)
		if retryAfter > wait {
			wait = retryAfter
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, final()
		}
		status := 0
		if resp != nil {
			status = resp.Status
		}
		c.cfg.Logger.Warn("vendor call failed; retrying", "vendor", c.cfg.Vendor, "op", req.Op, "status", status,
			"attempt", attempt, "wait_ms", wait.Milliseconds(), "err", errText(err))
		if serr := c.cfg.Sleep(ctx, wait); serr != nil {
			return nil, c.timeoutError(ctx, req.Op, serr)
		}
	}
}

// once makes one attempt.
func (c *Client) once(ctx context.Context, req Request, body []byte) (*Response, error) {
	u := c.cfg.BaseURL + req.Path
	if len(req.Query) > 0 {
		u += "?" + req.Query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, u, rd)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", "teleconsult")
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	c.cfg.Auth(hr.Header)
	for k, vs := range req.Header {
		hr.Header[http.CanonicalHeaderKey(k)] = vs
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }() // what was read is all we use
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > c.cfg.MaxResponseBytes {
		return nil, errTooLarge
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// notSent reports whether err happened before the request could reach the
// vendor (no connection), so that repeating it cannot do anything twice.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// backoff is the wait before attempt+1: BaseBackoff doubled per attempt,
// capped at MaxBackoff, with jitter (between half and all of it).
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.BaseBackoff << min(attempt-1, 20)
	if d > c.cfg.MaxBackoff || d <= 0 {
		d = c.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1) //nolint:gosec // G404: jitter spreads retries, it guards no secret
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date. It
// returns 0 when there is none or it cannot be read.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}

// timeoutError is the error of a call whose time ran out (or whose caller
// went away).
func (c *Client) timeoutError(ctx context.Context, op string, cause error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return c.fail(teleconsult.EUNAVAILABLE, op, "did not answer within "+c.cfg.Timeout.String(), cause)
	}
	return c.fail(teleconsult.EUNAVAILABLE, op, "call cancelled", cause)
}

// statusError is the error of a 429 or 5xx that was not, or no longer,
// retried.
func (c *Client) statusError(op string, resp *Response, retryAfter time.Duration) error {
	switch resp.Status {
	case http.StatusTooManyRequests:
		msg := "is limiting the rate of requests"
		var data map[string]string
		if retryAfter > 0 {
			secs := strconv.Itoa(int((retryAfter + time.Second - 1) / time.Second))
			msg += "; try again in " + secs + " seconds"
			data = map[string]string{"retryAfter": secs}
		}
		e := c.fail(teleconsult.EUNAVAILABLE, op, msg, nil)
		e.Data = data
		return e
	case http.StatusServiceUnavailable:
		return c.fail(teleconsult.EUNAVAILABLE, op, "is unavailable (HTTP 503)", nil)
	}
	return c.fail(teleconsult.EBADGATEWAY, op, "failed (HTTP "+strconv.Itoa(resp.Status)+")", nil)
}

// fail builds "<Vendor> <what> (<op>)" errors.
func (c *Client) fail(code, op, what string, cause error) *teleconsult.Error {
	return &teleconsult.Error{Code: code, Message: fmt.Sprintf("%s %s %s (%s)", c.cfg.Kind, c.cfg.Vendor, what, op), Err: cause}
}

// Unexpected returns the error for a response the caller cannot use: a 3xx
// or 4xx it did not expect, or a 2xx it could not read. vendorErr is the
// vendor's stable error type from the body, if the caller found one; it is
// shown only if it looks like one (letters, digits, - and _).
func (c *Client) Unexpected(resp *Response, op, vendorErr string) error {
	switch {
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		return c.fail(teleconsult.EBADGATEWAY, op,
			fmt.Sprintf("refused our credentials (HTTP %d): check %s", resp.Status, c.cfg.KeyName), nil)
	case resp.OK():
		return c.fail(teleconsult.EBADGATEWAY, op, "gave an answer that cannot be read", nil)
	}
	what := "answered HTTP " + strconv.Itoa(resp.Status)
	if errTypeRE.MatchString(vendorErr) {
		what += " " + vendorErr
	}
	return c.fail(teleconsult.EBADGATEWAY, op, what, nil)
}

var errTypeRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Decode decodes a JSON answer into v. A malformed answer, or one that
// check refuses, is EBADGATEWAY; the decoding error is kept for the log
// (it names a type or an offset, not content).
func (c *Client) Decode(resp *Response, op string, v any, check func() error) error {
	if err := json.Unmarshal(resp.Body, v); err != nil {
		return c.fail(teleconsult.EBADGATEWAY, op, "gave a malformed answer", err)
	}
	if check != nil {
		if err := check(); err != nil {
			return c.fail(teleconsult.EBADGATEWAY, op, "gave an unexpected answer: "+err.Error(), nil)
		}
	}
	return nil
}

// errText is err's text for a log line, or "".
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
