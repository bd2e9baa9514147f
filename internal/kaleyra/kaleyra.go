// Package kaleyra is the Kaleyra Video (formerly Bandyer) provider
// (VIDEO_PROVIDER=kaleyra), as Mia-Platform's Teleconsultation Service uses
// it (see ../../../shared/reference/kaleyra-api.md): Kaleyra users in the
// user-id map, immutable rooms made with every participant at once, a
// personal Kaleyra link per participant, SDK credentials, room details and
// upload deletion. Every call sends the company key as the apikey header.
//
//   - Users: POST /v2/users {id, role}, made on first use with role plus or
//     basic from the privileges (basic when unknown, as for POST
//     /credentials). The id is derived from the external user id under a
//     secret key, so it says nothing about the person and a repeated
//     attempt (after a lost answer, or a room that could not be made) finds
//     the user instead of making a second one (and a second licence).
//   - Rooms: POST /v2/rooms {participants: [{user_id, is_admin, tools}],
//     duration} with is_admin for plus, the role's eight tools, and the
//     duration (seconds, at least 60) when UNLIMITED_TELECONSULTATION=false.
//     The answer's per-participant links are kept encrypted and handed out
//     only at the link exchange, after our window and revocation checks.
//     Kaleyra chooses the room id, so a create is never retried after an
//     ambiguous failure (a timeout, 500, 502, 504): only when Kaleyra says
//     it did not process it (429, 503) or could not be reached. A lost
//     answer can therefore leave an unused room at Kaleyra, but never two
//     rooms in use.
//   - Rooms are immutable: a change deletes the room (DELETE
//     /v2/rooms/{id}) and makes a new one, the teleconsultation id stays.
//   - GET /v2/rooms/{id} feeds the details of GET /teleconsultation/{id};
//     POST {base}/rest/sdk/credentials {user_id} feeds POST /credentials;
//     GET /v2/uploads?room_id= and DELETE /v2/uploads/{key} delete uploads.
//   - Company backgrounds (Mia's /settings routes) pass through: POST
//     {base}/rest/company/virtual_background (multipart) and POST
//     {base}/rest/company/update {background_alias} (backgrounds.go).
//
// Field names the reference marks as unconfirmed (the answer's links, the
// room details, the upload deletion path) are in one place each below.
package kaleyra

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/vendorhttp"
)

// Name is the provider's name, as in VIDEO_PROVIDER.
const Name = "kaleyra"

// Limits.
const (
	// MinDuration is Kaleyra's shortest room duration.
	MinDuration = 60 * time.Second
	// detailsTTL is how long room details are reused: GET is polled by
	// Mia's frontend.
	detailsTTL = 5 * time.Second
	// maxDetails bounds the details cache.
	maxDetails = 1000
	// uploadsPage is the page size of the upload listing; maxUploads
	// bounds what one deletion lists.
	uploadsPage = 50
	maxUploads  = 1000
)

// Config configures a [Provider].
type Config struct {
	// APIKey is BANDYER_API_SECRET_KEY. Required.
	APIKey string
	// BaseURL is BANDYER_BASE_URL, the v2 API base
	// (https://api.<region>.bandyer.com). Required.
	BaseURL string
	// NamingKey derives user ids ([teleconsult.Keyring.NamingKey]).
	// Required.
	NamingKey []byte
	// Timeout bounds every call, retries included (PROVIDER_TIMEOUT).
	Timeout time.Duration
	// Logger receives retries, never keys or patient data.
	Logger *slog.Logger
	// Transport, BaseBackoff and Sleep tune the HTTP client (tests).
	Transport   http.RoundTripper
	BaseBackoff time.Duration
	Sleep       func(ctx context.Context, d time.Duration) error
	// Now is the clock of the details cache and of credentials; nil means
	// time.Now.
	Now func() time.Time
}

// Provider implements [teleconsult.VideoProvider] on Kaleyra Video.
type Provider struct {
	c         *vendorhttp.Client
	namingKey []byte
	log       *slog.Logger
	now       func() time.Time

	mu      sync.Mutex
	details map[string]cachedDetails
}

type cachedDetails struct {
	d   *teleconsult.RoomDetails
	err error
	at  time.Time
}

var (
	_ teleconsult.VideoProvider     = (*Provider)(nil)
	_ teleconsult.RoomInspector     = (*Provider)(nil)
	_ teleconsult.CredentialsIssuer = (*Provider)(nil)
)

// New returns a Kaleyra provider.
func New(cfg Config) (*Provider, error) {
	if cfg.APIKey == "" || cfg.BaseURL == "" {
		return nil, errors.New("kaleyra: BANDYER_API_SECRET_KEY and BANDYER_BASE_URL are required")
	}
	if len(cfg.NamingKey) < 16 {
		return nil, errors.New("kaleyra: a naming key is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	key := cfg.APIKey
	c, err := vendorhttp.New(vendorhttp.Config{
		Vendor: "Kaleyra", KeyName: "BANDYER_API_SECRET_KEY", BaseURL: cfg.BaseURL,
		Auth:    func(h http.Header) { h.Set("apikey", key) },
		Timeout: cfg.Timeout, Transport: cfg.Transport, Logger: cfg.Logger,
		BaseBackoff: cfg.BaseBackoff, Sleep: cfg.Sleep,
	})
	if err != nil {
		return nil, err
	}
	return &Provider{c: c, namingKey: cfg.NamingKey, log: cfg.Logger, now: cfg.Now, details: map[string]cachedDetails{}}, nil
}

// Name implements [teleconsult.VideoProvider.Name].
func (*Provider) Name() string { return Name }

var (
	idRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	keyRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,256}$`)
	b32   = base32.StdEncoding.WithPadding(base32.NoPadding)
)

// kaleyraRole is the Kaleyra role of a role: plus, or basic (also for an
// unknown role: least privilege, no licence).
func kaleyraRole(r teleconsult.Role) string {
	if r == teleconsult.RolePlus {
		return "plus"
	}
	return "basic"
}

// UserID is the Kaleyra user id of external user userID: "tc_" and 26
// characters of an HMAC under the naming key.
func (p *Provider) UserID(userID string) string {
	m := hmac.New(sha256.New, p.namingKey)
	m.Write([]byte("kaleyra user\x00" + userID))
	return "tc_" + strings.ToLower(b32.EncodeToString(m.Sum(nil)))[:26]
}

// apiError reads the error type of a Kaleyra error body, if it has one.
type apiError struct {
	Error string `json:"error"`
}

func (p *Provider) unexpected(resp *vendorhttp.Response, op string) error {
	var e apiError
	_ = json.Unmarshal(resp.Body, &e)
	return p.c.Unexpected(resp, op, e.Error)
}

type createUserRequest struct {
	ID   string `json:"id"`
	Role string `json:"role"`
}

// userResponse accepts the shapes the reference lists for a user: v2's
// user_id, an id, or v1's {user: {id}}.
type userResponse struct {
	UserID string `json:"user_id"`
	ID     string `json:"id"`
	User   *struct {
		ID string `json:"id"`
	} `json:"user"`
}

// NewUser implements [teleconsult.VideoProvider.NewUser]: it makes the
// Kaleyra user of userID with the role's Kaleyra role (basic when unknown),
// or finds it if an earlier attempt made it.
func (p *Provider) NewUser(ctx context.Context, userID string, role teleconsult.Role) (string, error) {
	id := p.UserID(userID)
	const op = "create user"
	resp, err := p.c.Do(ctx, vendorhttp.Request{Op: op, Method: http.MethodPost, Path: "/v2/users", Idempotent: true,
		Body: createUserRequest{ID: id, Role: kaleyraRole(role)}})
	if err != nil {
		return "", err
	}
	if resp.OK() {
		var u userResponse
		if err := p.c.Decode(resp, op, &u, func() error {
			for _, got := range []string{u.UserID, u.ID} {
				if got != "" && got != id {
					return errors.New("another user id")
				}
			}
			if u.User != nil && u.User.ID != "" && u.User.ID != id {
				return errors.New("another user id")
			}
			return nil
		}); err != nil {
			return "", err
		}
		return id, nil
	}
	if resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden || resp.Status >= 300 && resp.Status < 400 {
		return "", p.unexpected(resp, op)
	}
	// Refused: is it because the user exists (a retry, or an attempt whose
	// room could not be made)? The user says.
	got, err := p.c.Do(ctx, vendorhttp.Request{Op: "find user", Method: http.MethodGet, Path: "/v2/users/" + url.PathEscape(id), Idempotent: true})
	if err != nil {
		return "", err
	}
	if !got.OK() {
		return "", p.unexpected(resp, op)
	}
	return id, nil
}

// tools is a participant's tools as Kaleyra takes them: the keys of the
// privileges' tools, every one sent (true or false).
type tools = teleconsult.Tools

type roomParticipant struct {
	UserID  string `json:"user_id"`
	IsAdmin bool   `json:"is_admin"`
	Tools   tools  `json:"tools"`
}

// createRoomRequest is the body of POST /v2/rooms. Live is
// LIVE_TELECONSULTATION: the room's live flag, which Mia's GET shows as
// details.live and which ends the call when fewer than two participants
// remain (the name is Mia's; Kaleyra's reference does not confirm it).
type createRoomRequest struct {
	Participants []roomParticipant `json:"participants"`
	Duration     int64             `json:"duration,omitempty"`
	Live         bool              `json:"live"`
}

// roomResponse is the answer to POST /v2/rooms: the room id and, per
// participant, the link to join. ("link" is the name this adapter
// expects; the reference confirms only that the answer returns each
// user's URL.)
type roomResponse struct {
	RoomID       string `json:"room_id"`
	Participants []struct {
		UserID string `json:"user_id"`
		Link   string `json:"link"`
	} `json:"participants"`
}

// CreateRoom implements [teleconsult.VideoProvider.CreateRoom].
func (p *Provider) CreateRoom(ctx context.Context, tc *teleconsult.Teleconsultation, s *teleconsult.Settings) (*teleconsult.Room, error) {
	parts := tc.ActiveParticipants()
	if len(parts) < 2 {
		return nil, teleconsult.Errorf(teleconsult.EINVALID, "participants.number: a Kaleyra room needs at least 2 participants")
	}
	req := createRoomRequest{Live: s.Live}
	byKaleyra := map[string]string{} // Kaleyra user id → external user id
	for _, pt := range parts {
		if pt.ProviderUserID == "" {
			return nil, teleconsult.Errorf(teleconsult.EINTERNAL, "participant of teleconsultation %s has no Kaleyra user", tc.ID)
		}
		byKaleyra[pt.ProviderUserID] = pt.UserID
		req.Participants = append(req.Participants, roomParticipant{
			UserID: pt.ProviderUserID, IsAdmin: pt.Role == teleconsult.RolePlus, Tools: s.Config.Privileges.Tools(pt.Role),
		})
	}
	if w := tc.Window(s); w.Limited {
		req.Duration = int64(max(w.End.Sub(w.Start), MinDuration) / time.Second)
	}
	const op = "create room"
	resp, err := p.c.Do(ctx, vendorhttp.Request{Op: op, Method: http.MethodPost, Path: "/v2/rooms", Body: req})
	if err != nil {
		return nil, err
	}
	if !resp.OK() {
		return nil, p.unexpected(resp, op)
	}
	return p.decodeRoom(resp, op, byKaleyra)
}

// decodeRoom reads the answer to a room creation: the room id and a valid
// https link for every participant asked for (byKaleyra maps their Kaleyra
// ids to external ids).
func (p *Provider) decodeRoom(resp *vendorhttp.Response, op string, byKaleyra map[string]string) (*teleconsult.Room, error) {
	var rr roomResponse
	room := &teleconsult.Room{Links: map[string]string{}}
	err := p.c.Decode(resp, op, &rr, func() error {
		if !idRE.MatchString(rr.RoomID) {
			return errors.New("no valid room id")
		}
		for _, rp := range rr.Participants {
			ext, ok := byKaleyra[rp.UserID]
			if !ok {
				continue
			}
			if !validLink(rp.Link) {
				return errors.New("a participant's link is not a valid https URL")
			}
			room.Links[ext] = rp.Link
		}
		if len(room.Links) != len(byKaleyra) {
			return errors.New("not every participant has a link")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	room.ID = rr.RoomID
	return room, nil
}

// validLink checks a participant's link: https (or http on a loopback
// address, for a local fake), a host, no user info.
func validLink(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || len(s) > 2048 {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return u.Scheme == "https" || (u.Scheme == "http" && ip != nil && ip.IsLoopback())
}

// DeleteRoom implements [teleconsult.VideoProvider.DeleteRoom]; a room
// already gone (404) is fine.
func (p *Provider) DeleteRoom(ctx context.Context, tc *teleconsult.Teleconsultation) error {
	if tc.ProviderRoomID == "" {
		return nil
	}
	const op = "delete room"
	resp, err := p.c.Do(ctx, vendorhttp.Request{Op: op, Method: http.MethodDelete, Path: "/v2/rooms/" + url.PathEscape(tc.ProviderRoomID), Idempotent: true})
	if err != nil {
		return err
	}
	p.mu.Lock()
	delete(p.details, tc.ProviderRoomID)
	p.mu.Unlock()
	if resp.OK() || resp.Status == http.StatusNotFound {
		return nil
	}
	return p.unexpected(resp, op)
}

// Join implements [teleconsult.VideoProvider.Join]: the participant's own
// Kaleyra link, made with the room, with the link options of [LinkURL].
func (*Provider) Join(_ context.Context, tc *teleconsult.Teleconsultation, pt *teleconsult.Participant, s *teleconsult.Settings, o teleconsult.JoinOptions) (*teleconsult.JoinTarget, error) {
	if pt.ProviderLink == "" {
		return nil, teleconsult.Errorf(teleconsult.EINTERNAL, "no Kaleyra link is stored for a participant of teleconsultation %s", tc.ID)
	}
	link, err := LinkURL(pt.ProviderLink, pt, s, o.Background)
	if err != nil {
		return nil, teleconsult.Errorf(teleconsult.EINTERNAL, "the Kaleyra link of a participant of teleconsultation %s: %v", tc.ID, err)
	}
	return &teleconsult.JoinTarget{Provider: Name, URL: link}, nil
}

// linkLanguages are the UI languages a Kaleyra link takes (language=).
var linkLanguages = []string{"de", "en", "es", "fr", "it", "pl"}

// LinkURL is the participant's Kaleyra link with the query options
// Kaleyra documents for links (developers.kaleyra.io, "Customization"):
//
//   - language: the participant's language, when Kaleyra's UI has it (de,
//     en, es, fr, it, pl; a region such as it-IT is cut to it); otherwise
//     none, and Kaleyra uses the company's default language;
//   - display_name: the participant's full name, shown to the others
//     (Kaleyra would otherwise show our random user id);
//   - audio_disabled and video_disabled: true with START_AUDIO_OFF and
//     START_VIDEO_OFF;
//   - virtual_background=image (the company's default background) with
//     background: Mia's useBackground, or one of the participant's groups
//     in the configuration's groupsWithBackgroundList
//     ([teleconsult.Settings.Background] decides).
//
// Options already in the link are replaced; anything else in it is kept.
func LinkURL(link string, pt *teleconsult.Participant, s *teleconsult.Settings, background bool) (string, error) {
	if !validLink(link) {
		return "", errors.New("not an https URL")
	}
	u, err := url.Parse(link)
	if err != nil {
		return "", err
	}
	q := u.Query()
	for _, k := range []string{"language", "l", "display_name", "dn", "audio_disabled", "ad", "video_disabled", "vd", "virtual_background", "vb"} {
		q.Del(k)
	}
	lang, _, _ := strings.Cut(strings.ToLower(pt.Language), "-")
	if slices.Contains(linkLanguages, lang) {
		q.Set("language", lang)
	}
	if name := strings.TrimSpace(pt.FullName); name != "" {
		q.Set("display_name", name)
	}
	q.Set("audio_disabled", strconv.FormatBool(s.StartAudioOff))
	q.Set("video_disabled", strconv.FormatBool(s.StartVideoOff))
	if background {
		q.Set("virtual_background", "image")
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// roomDetails is Kaleyra's room as GET /v2/rooms/{id} gives it; the names
// are those Mia shows in its GET, in Kaleyra's snake case (unconfirmed).
type roomDetails struct {
	RoomID                string `json:"room_id"`
	Recording             string `json:"recording"`
	RecordingStatus       string `json:"recording_status"`
	CallType              string `json:"call_type"`
	Status                string `json:"status"`
	Disabled              bool   `json:"disabled"`
	DurationUsedInSeconds *int64 `json:"duration_used_in_seconds"`
	Live                  *bool  `json:"live"`
}

var wordRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{0,64}$`)

// RoomDetails implements [teleconsult.RoomInspector]. Answers, failures
// included, are reused for a few seconds, so that a frontend polling GET
// during an outage does not wait on Kaleyra every time.
func (p *Provider) RoomDetails(ctx context.Context, tc *teleconsult.Teleconsultation) (*teleconsult.RoomDetails, error) {
	now := p.now()
	p.mu.Lock()
	if c, ok := p.details[tc.ProviderRoomID]; ok && now.Sub(c.at) < detailsTTL {
		p.mu.Unlock()
		return c.d, c.err
	}
	p.mu.Unlock()
	d, err := p.getDetails(ctx, tc.ProviderRoomID)
	p.mu.Lock()
	if len(p.details) >= maxDetails {
		clear(p.details)
	}
	p.details[tc.ProviderRoomID] = cachedDetails{d, err, now}
	p.mu.Unlock()
	return d, err
}

func (p *Provider) getDetails(ctx context.Context, room string) (*teleconsult.RoomDetails, error) {
	const op = "get room"
	resp, err := p.c.Do(ctx, vendorhttp.Request{Op: op, Method: http.MethodGet, Path: "/v2/rooms/" + url.PathEscape(room), Idempotent: true})
	if err != nil {
		return nil, err
	}
	if !resp.OK() {
		return nil, p.unexpected(resp, op)
	}
	return p.decodeDetails(resp, op)
}

// decodeDetails reads a room's details; words that do not look like
// Kaleyra's enum values are refused rather than shown.
func (p *Provider) decodeDetails(resp *vendorhttp.Response, op string) (*teleconsult.RoomDetails, error) {
	var rd roomDetails
	if err := p.c.Decode(resp, op, &rd, func() error {
		for _, w := range []string{rd.Recording, rd.RecordingStatus, rd.CallType, rd.Status} {
			if !wordRE.MatchString(w) {
				return errors.New("room details that are not Kaleyra's values")
			}
		}
		if rd.DurationUsedInSeconds != nil && (*rd.DurationUsedInSeconds < 0 || *rd.DurationUsedInSeconds > 10*86400) {
			return errors.New("a duration out of range")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	d := &teleconsult.RoomDetails{Status: rd.Status, Recording: rd.Recording, RecordingStatus: rd.RecordingStatus,
		CallType: rd.CallType, Disabled: rd.Disabled, Live: rd.Live}
	if rd.DurationUsedInSeconds != nil {
		used := time.Duration(*rd.DurationUsedInSeconds) * time.Second
		d.DurationUsed = &used
	}
	return d, nil
}

type credentialsRequest struct {
	UserID string `json:"user_id"`
}

type credentialsResponse struct {
	AccessToken string `json:"access_token"`
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9._~+/=-]{8,}$`)

const maxTokenLen = 8192

// Credentials implements [teleconsult.CredentialsIssuer]: Kaleyra's SDK
// access token for the user (POST {base}/rest/sdk/credentials). It
// expires when the token says (a JWT's exp), or after ttl, whichever
// comes first.
func (p *Provider) Credentials(ctx context.Context, providerUserID string, ttl time.Duration) (string, time.Time, error) {
	const op = "create SDK credentials"
	resp, err := p.c.Do(ctx, vendorhttp.Request{Op: op, Method: http.MethodPost, Path: "/rest/sdk/credentials", Idempotent: true,
		Body: credentialsRequest{UserID: providerUserID}})
	if err != nil {
		return "", time.Time{}, err
	}
	if !resp.OK() {
		return "", time.Time{}, p.unexpected(resp, op)
	}
	tok, err := p.decodeCredentials(resp, op)
	if err != nil {
		return "", time.Time{}, err
	}
	exp := p.now().Add(ttl).UTC()
	if jwtExp, ok := jwtExpiry(tok); ok && jwtExp.Before(exp) {
		exp = jwtExp
	}
	return tok, exp, nil
}

func (p *Provider) decodeCredentials(resp *vendorhttp.Response, op string) (string, error) {
	var cr credentialsResponse
	err := p.c.Decode(resp, op, &cr, func() error {
		if len(cr.AccessToken) > maxTokenLen || !tokenRE.MatchString(cr.AccessToken) {
			return errors.New("no valid access token")
		}
		return nil
	})
	return cr.AccessToken, err
}

// jwtExpiry reads the exp claim of a JWT without checking it (Kaleyra
// checks its own tokens); it is only used to say when the token ends.
func jwtExpiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var c struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return time.Time{}, false
	}
	n, err := c.Exp.Int64()
	if err != nil || n <= 0 || n > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(n, 0).UTC(), true
}

// uploadsResponse is a page of GET /v2/uploads.
type uploadsResponse struct {
	HasMore bool `json:"has_more"`
	Uploads []struct {
		Key string `json:"key"`
	} `json:"uploads"`
}

// DeleteUploads implements [teleconsult.VideoProvider.DeleteUploads]: it
// lists the room's uploads (GET /v2/uploads?room_id=) and deletes each one
// (DELETE /v2/uploads/{key}; a file already gone counts as deleted). A
// deletion that fails stops the run: Total and Deleted then differ, and a
// later call finishes.
func (p *Provider) DeleteUploads(ctx context.Context, tc *teleconsult.Teleconsultation) (teleconsult.UploadsDeleted, error) {
	var res teleconsult.UploadsDeleted
	if tc.ProviderRoomID == "" {
		return res, nil
	}
	var keys []string
	for offset := 0; offset < maxUploads; offset += uploadsPage {
		const op = "list uploads"
		q := url.Values{"room_id": {tc.ProviderRoomID}, "offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(uploadsPage)}}
		resp, err := p.c.Do(ctx, vendorhttp.Request{Op: op, Method: http.MethodGet, Path: "/v2/uploads", Query: q, Idempotent: true})
		if err != nil {
			return res, err
		}
		if !resp.OK() {
			return res, p.unexpected(resp, op)
		}
		page, err := p.decodeUploads(resp, op)
		if err != nil {
			return res, err
		}
		keys = append(keys, page.keys...)
		if !page.more || len(page.keys) == 0 {
			break
		}
	}
	res.Total = len(keys)
	for _, k := range keys {
		const op = "delete upload"
		resp, err := p.c.Do(ctx, vendorhttp.Request{Op: op, Method: http.MethodDelete, Path: "/v2/uploads/" + url.PathEscape(k), Idempotent: true})
		if err == nil && !resp.OK() && resp.Status != http.StatusNotFound {
			err = p.unexpected(resp, op)
		}
		if err != nil {
			p.log.Warn("could not delete an upload; the rest are left for a later call", "id", tc.ID, "room", tc.ProviderRoomID,
				"total", res.Total, "deleted", res.Deleted, "err", err)
			return res, nil
		}
		res.Deleted++
	}
	return res, nil
}

type uploadsPageResult struct {
	keys []string
	more bool
}

func (p *Provider) decodeUploads(resp *vendorhttp.Response, op string) (uploadsPageResult, error) {
	var ur uploadsResponse
	err := p.c.Decode(resp, op, &ur, func() error {
		if len(ur.Uploads) > uploadsPage {
			return errors.New("more uploads than asked for")
		}
		for _, u := range ur.Uploads {
			if !keyRE.MatchString(u.Key) {
				return errors.New("an upload without a valid key")
			}
		}
		return nil
	})
	if err != nil {
		return uploadsPageResult{}, err
	}
	out := uploadsPageResult{more: ur.HasMore}
	for _, u := range ur.Uploads {
		out.keys = append(out.keys, u.Key)
	}
	return out, nil
}
