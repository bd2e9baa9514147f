// Package authsvc is the user directory of AUTH_SERVICE mode: it looks up
// participants given by user id in Mia-Platform's auth service (an Auth0
// client), and first resolves custom ids through
// CUSTOM_ID_USERS_API_ENDPOINT when one is set. It implements
// [teleconsult.UserDirectory].
//
// The contract (the README's "AUTH_SERVICE mode" states it for
// integrators). Mia does not publish its auth service's user endpoint, so
// Auth0's user object is used:
//
//	GET {AUTH_SERVICE}{AUTH_SERVICE_USER_PATH, {id} replaced by the path-escaped id}
//	client-type: <the request's client-type, else DEFAULT_CLIENT_TYPE>
//	cookie, authorization: <the request's own, when given; never our API key>
//	x-request-id: <the request's id>
//
//	200 {"user_id": "auth0|123", "name": "…", "email": "…", "app_metadata": {"groups": ["doctor"]}}
//	404 unknown user
//
// user_id must be the id asked for and name a non-empty string; email and
// app_metadata.groups may be absent; other fields are ignored.
//
// Custom ids (CUSTOM_ID_USERS_API_ENDPOINT, e.g. http://crud-service/users/,
// with the JSON configuration's customUserId {source, target}, default
// {"_id", "authUserId"}), called with the same headers:
//
//	source "_id":  GET {endpoint}/{id}            200 {"authUserId": "auth0|123", …}   404 unknown
//	other source:  GET {endpoint}/?{source}={id}  200 [{"authUserId": "auth0|123", …}] (one element; none: unknown)
//
// Calls have a time limit, retries on 429 and 5xx included (a GET is
// idempotent), through [vendorhttp]: a service that cannot be reached or
// does not answer in time is EUNAVAILABLE (503), one that answers wrongly
// EBADGATEWAY (502), an unknown user ENOTFOUND. Messages name the service's
// host and the operation, never a header, a body or the user's data.
package authsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/vendorhttp"
)

// DefaultUserPath is AUTH_SERVICE_USER_PATH's default: Auth0's users
// endpoint.
const DefaultUserPath = "/users/{id}"

// DefaultTimeout bounds one look-up, retries included.
const DefaultTimeout = 5 * time.Second

// Default customUserId of the JSON configuration.
const (
	DefaultCustomIDSource = "_id"
	DefaultCustomIDTarget = "authUserId"
)

// Config configures a [Directory].
type Config struct {
	// BaseURL (AUTH_SERVICE) is the auth service's absolute http(s) URL,
	// without trailing slash. Required.
	BaseURL string
	// UserPath (AUTH_SERVICE_USER_PATH) is the path of a user, holding
	// {id} once; "" means [DefaultUserPath].
	UserPath string
	// DefaultClientType (DEFAULT_CLIENT_TYPE) is sent as client-type when
	// the request has none.
	DefaultClientType string
	// CustomIDEndpoint (CUSTOM_ID_USERS_API_ENDPOINT) resolves custom ids
	// to auth ids first; "" means ids are auth ids.
	CustomIDEndpoint string
	// CustomIDSource and CustomIDTarget are customUserId.source and
	// .target; "" means the defaults.
	CustomIDSource, CustomIDTarget string
	// Timeout bounds one call, retries included; 0 means DefaultTimeout.
	Timeout time.Duration
	// Transport sends the requests; nil means vendorhttp's default.
	Transport http.RoundTripper
	// Logger receives the retries; nil discards.
	Logger *slog.Logger
	// BaseBackoff is vendorhttp's backoff base; 0 means its default.
	BaseBackoff time.Duration
}

// Directory looks users up in the auth service. It is safe for concurrent
// use.
type Directory struct {
	cfg    Config
	users  *vendorhttp.Client
	custom *vendorhttp.Client // nil without CustomIDEndpoint
}

var _ teleconsult.UserDirectory = (*Directory)(nil)

// New checks cfg and returns a directory.
func New(cfg Config) (*Directory, error) {
	if cfg.UserPath == "" {
		cfg.UserPath = DefaultUserPath
	}
	if err := CheckUserPath(cfg.UserPath); err != nil {
		return nil, fmt.Errorf("authsvc: user path: %w", err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.CustomIDSource == "" {
		cfg.CustomIDSource = DefaultCustomIDSource
	}
	if cfg.CustomIDTarget == "" {
		cfg.CustomIDTarget = DefaultCustomIDTarget
	}
	d := &Directory{cfg: cfg}
	var err error
	if d.users, err = d.client("auth service", cfg.BaseURL); err != nil {
		return nil, err
	}
	if cfg.CustomIDEndpoint != "" {
		if d.custom, err = d.client("custom id service", strings.TrimRight(cfg.CustomIDEndpoint, "/")); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *Directory) client(kind, base string) (*vendorhttp.Client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("authsvc: %s URL must be an absolute http(s) URL", kind)
	}
	return vendorhttp.New(vendorhttp.Config{
		Vendor: u.Host, Kind: kind, BaseURL: base,
		Auth:    func(http.Header) {}, // the request's own credentials go per call
		Timeout: d.cfg.Timeout, Transport: d.cfg.Transport, Logger: d.cfg.Logger,
		BaseBackoff: d.cfg.BaseBackoff,
	})
}

// CheckUserPath checks an AUTH_SERVICE_USER_PATH: an absolute path
// holding {id} exactly once, without query or fragment.
func CheckUserPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return errors.New("expected an absolute path such as /users/{id}")
	case strings.Count(p, "{id}") != 1:
		return errors.New("expected {id} exactly once, as in /users/{id}")
	case strings.ContainsAny(p, "?# \t"):
		return errors.New("expected a path without query, fragment or spaces")
	}
	return nil
}

// headers are what a call passes on from the request being served.
func (d *Directory) headers(ctx context.Context) http.Header {
	h := http.Header{}
	fw := teleconsult.ForwardedHeadersFrom(ctx)
	for _, name := range []string{"cookie", "authorization", "x-request-id"} {
		if v := fw[name]; v != "" {
			h.Set(name, v)
		}
	}
	if ct := fw["client-type"]; ct != "" {
		h.Set("client-type", ct)
	} else if d.cfg.DefaultClientType != "" {
		h.Set("client-type", d.cfg.DefaultClientType)
	}
	return h
}

// auth0User is the part of Auth0's user object that is read.
type auth0User struct {
	UserID      *string `json:"user_id"`
	Name        *string `json:"name"`
	Email       *string `json:"email"`
	AppMetadata *struct {
		Groups []string `json:"groups"`
	} `json:"app_metadata"`
}

// User implements [teleconsult.UserDirectory]: it resolves a custom id
// first when CUSTOM_ID_USERS_API_ENDPOINT is set, then reads the user.
func (d *Directory) User(ctx context.Context, id string) (teleconsult.DirectoryUser, error) {
	h := d.headers(ctx)
	authID := id
	if d.custom != nil {
		var err error
		if authID, err = d.resolveCustomID(ctx, id, h); err != nil {
			return teleconsult.DirectoryUser{}, err
		}
	}
	const op = "get user"
	path := strings.Replace(d.cfg.UserPath, "{id}", url.PathEscape(authID), 1)
	resp, err := d.users.Do(ctx, vendorhttp.Request{Op: op, Method: http.MethodGet, Path: path, Header: h, Idempotent: true})
	if err != nil {
		return teleconsult.DirectoryUser{}, err
	}
	if err := d.refused(d.users, resp, op); err != nil {
		return teleconsult.DirectoryUser{}, err
	}
	var u auth0User
	err = d.users.Decode(resp, op, &u, func() error {
		switch {
		case u.UserID == nil || *u.UserID != authID:
			return errors.New("user_id is not the id asked for")
		case u.Name == nil || strings.TrimSpace(*u.Name) == "" || !utf8.ValidString(*u.Name):
			return errors.New("no name")
		}
		return nil
	})
	if err != nil {
		return teleconsult.DirectoryUser{}, err
	}
	out := teleconsult.DirectoryUser{FullName: strings.TrimSpace(*u.Name)}
	if u.Email != nil {
		out.Email = *u.Email
	}
	if u.AppMetadata != nil {
		out.Groups = u.AppMetadata.Groups
	}
	return out, nil
}

// refused turns the answers that are not a user into errors: 404 unknown
// (ENOTFOUND), 401 and 403 (the forwarded credentials refused) and any
// other non-2xx EBADGATEWAY. It returns nil for a 2xx.
func (d *Directory) refused(c *vendorhttp.Client, resp *vendorhttp.Response, op string) error {
	switch {
	case resp.OK():
		return nil
	case resp.Status == http.StatusNotFound:
		return teleconsult.Errorf(teleconsult.ENOTFOUND, "unknown user")
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		return teleconsult.Errorf(teleconsult.EBADGATEWAY, "%s %s refused the forwarded credentials (HTTP %d): check the request's cookie, authorization and client-type (DEFAULT_CLIENT_TYPE) (%s)",
			d.kindOf(c), c.Vendor(), resp.Status, op)
	}
	return c.Unexpected(resp, op, "")
}

func (d *Directory) kindOf(c *vendorhttp.Client) string {
	if c == d.custom {
		return "custom id service"
	}
	return "auth service"
}

// resolveCustomID returns the auth id of custom id id.
func (d *Directory) resolveCustomID(ctx context.Context, id string, h http.Header) (string, error) {
	const op = "resolve custom id"
	req := vendorhttp.Request{Op: op, Method: http.MethodGet, Header: h, Idempotent: true}
	byID := d.cfg.CustomIDSource == "_id"
	if byID {
		req.Path = "/" + url.PathEscape(id)
	} else {
		req.Path = "/"
		req.Query = url.Values{d.cfg.CustomIDSource: {id}}
	}
	resp, err := d.custom.Do(ctx, req)
	if err != nil {
		return "", err
	}
	if err := d.refused(d.custom, resp, op); err != nil {
		return "", err
	}
	var doc map[string]any
	if byID {
		if err := d.custom.Decode(resp, op, &doc, nil); err != nil {
			return "", err
		}
	} else {
		var docs []map[string]any
		if err := d.custom.Decode(resp, op, &docs, func() error {
			if len(docs) > 1 {
				return fmt.Errorf("%d users have this %s", len(docs), d.cfg.CustomIDSource)
			}
			return nil
		}); err != nil {
			return "", err
		}
		if len(docs) == 0 {
			return "", teleconsult.Errorf(teleconsult.ENOTFOUND, "unknown user")
		}
		doc = docs[0]
	}
	authID, _ := doc[d.cfg.CustomIDTarget].(string)
	if authID == "" {
		return "", teleconsult.Errorf(teleconsult.EBADGATEWAY, "custom id service %s gave an unexpected answer: no %s (%s)", d.custom.Vendor(), d.cfg.CustomIDTarget, op)
	}
	return authID, nil
}
