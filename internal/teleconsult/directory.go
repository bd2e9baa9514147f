package teleconsult

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// UserDirectory is an identity service that knows users by id: Mia's
// AUTH_SERVICE (an Auth0 client). With one, participants may be given by
// user id alone, and their full name, email and groups come from it.
type UserDirectory interface {
	// User returns the user with id. It returns ENOTFOUND for an unknown
	// user, EUNAVAILABLE when the service cannot be reached or does not
	// answer in time, and EBADGATEWAY when it answers wrongly; messages
	// name the service and the operation, never the user's data. ctx
	// carries the [ForwardedHeaders] of the request being served.
	User(ctx context.Context, id string) (DirectoryUser, error)
}

// DirectoryUser is what a [UserDirectory] knows of a user.
type DirectoryUser struct {
	FullName string
	Email    string
	Groups   []string
}

// ForwardedHeaders are headers of the request being served that a
// [UserDirectory] passes on to its service, as Mia's
// ADDITIONAL_HEADERS_TO_PROXY does (cookie, authorization, client-type),
// keyed by lower-case name. The domain carries them and never reads them.
type ForwardedHeaders map[string]string

type forwardedKey struct{}

// WithForwardedHeaders returns ctx carrying h.
func WithForwardedHeaders(ctx context.Context, h ForwardedHeaders) context.Context {
	return context.WithValue(ctx, forwardedKey{}, h)
}

// ForwardedHeadersFrom returns the headers stored in ctx, or nil.
func ForwardedHeadersFrom(ctx context.Context) ForwardedHeaders {
	h, _ := ctx.Value(forwardedKey{}).(ForwardedHeaders)
	return h
}

// maxDirectoryLookups bounds the look-ups in flight for one request.
const maxDirectoryLookups = 8

// resolveUsers fills in, from the user directory, the full name, groups
// and (unless given) email of participants given by user id. Without a
// directory it returns in as is. path(i) names participant i in messages
// ("participants.data[1]"). A participant given with groups or fullName is
// refused: with a directory they come from it. Look-ups run concurrently;
// the error of the first participant that failed is returned, and a
// failure of the directory keeps its code (EUNAVAILABLE, EBADGATEWAY).
func (s *Service) resolveUsers(ctx context.Context, in []ParticipantInput, path func(i int) string) ([]ParticipantInput, error) {
	if s.Directory == nil {
		return in, nil
	}
	if len(in) > MaxParticipants {
		return nil, invalid("participants.data: at most %d participants", MaxParticipants)
	}
	out := slices.Clone(in)
	for i := range out {
		p := &out[i]
		prefix := dot(path(i))
		switch {
		case len(p.Groups) > 0:
			return nil, invalid("%sgroups: comes from the auth service (AUTH_SERVICE); give only userId, and optionally language, email and timeZone", prefix)
		case p.FullName != "":
			return nil, invalid("%sfullName: comes from the auth service (AUTH_SERVICE); give only userId, and optionally language, email and timeZone", prefix)
		}
		p.UserID = strings.TrimSpace(p.UserID)
		if p.UserID == "" {
			return nil, invalid("%suserId: required", prefix)
		}
		if !validText(p.UserID, maxUserIDLen) {
			return nil, invalid("%suserId: at most %d printable characters", prefix, maxUserIDLen)
		}
	}
	errs := make([]error, len(out))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxDirectoryLookups)
	for i := range out {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = s.lookUp(ctx, &out[i], path(i))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lookUp fills p from the directory; where names p in messages.
func (s *Service) lookUp(ctx context.Context, p *ParticipantInput, where string) error {
	u, err := s.Directory.User(ctx, p.UserID)
	switch code := ErrorCode(err); {
	case code == ENOTFOUND:
		return invalid("%suserId: no such user in the auth service", dot(where))
	case err != nil:
		label := where
		if label == "" {
			label = "the participant"
		}
		return &Error{Code: code, Message: fmt.Sprintf("%s: %s", label, ErrorMessage(err)), Data: errData(err), Err: err}
	}
	if len(u.Groups) == 0 {
		return invalid("%sgroups: the auth service gives this user no groups", dot(where))
	}
	p.FullName, p.Groups = u.FullName, slices.Clone(u.Groups)
	if p.Email == "" {
		p.Email = u.Email
	}
	return nil
}

// dot returns path followed by a dot, or "" for "".
func dot(path string) string {
	if path == "" {
		return ""
	}
	return path + "."
}

// errData returns the caller-safe data of err's application error.
func errData(err error) map[string]string {
	// errors.As, as in ErrorCode and ErrorMessage: the code, message and
	// data come from the same application error.
	var e *Error
	if errors.As(err, &e) {
		return e.Data
	}
	return nil
}
