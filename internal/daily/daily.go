// Package daily is the Daily video provider (VIDEO_PROVIDER=daily): each
// teleconsultation gets a private Daily room, each participant a meeting
// token minted when they open their personal link, and Daily's webhooks
// drive the call state.
//
// What is sent to Daily (see ../../../shared/reference/daily-api.md):
//
//   - POST /rooms with a name derived from the teleconsultation id and room
//     revision under a secret key (random-looking, no patient data),
//     privacy "private", nbf = start − IMMUTABLE_PERIOD_MS and, with
//     UNLIMITED_TELECONSULTATION=false, exp = end with eject_at_room_exp;
//     start_audio_off / start_video_off; enable_screenshare when any
//     participant's role may share the screen, enable_chat when every
//     participant's role may chat (Daily's chat is per room);
//     max_participants; enforce_unique_user_ids.
//   - POST /meeting-tokens per participant at the link exchange, never
//     stored: room_name, user_name, user_id (a random UUID, the user-id
//     map's entry), is_owner for plus, nbf/exp from the window (exp = end
//     with eject_at_token_exp when the window is limited, else the
//     session's expiry), enable_screenshare and permissions.can_send from
//     the role's tools.
//   - DELETE /rooms/{name} when the room is replaced or cancelled, and
//     POST /rooms/{name}/eject when the LIVE rule ends a call.
//
// Creating a room is idempotent: the name is ours, so a retry whose first
// attempt had in fact succeeded, or a later attempt at the same room
// revision, finds the room ("already exists"), updates its properties and
// adopts it instead of making a second one. A domain that refuses custom
// room names (Daily's HIPAA mode) is detected, and Daily then names the
// rooms; such a create is not retried after an ambiguous failure.
package daily

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/vendorhttp"
)

// Name is the provider's name, as in VIDEO_PROVIDER.
const Name = "daily"

// DefaultBaseURL is Daily's REST API.
const DefaultBaseURL = "https://api.daily.co/v1"

// roomNameLen is the length of the room names we choose: 20 characters
// of base64url (120 bits), short enough for Daily's 41-character limit on
// domain + room name with a domain of up to 21 characters.
const roomNameLen = 20

// Config configures a [Provider].
type Config struct {
	// APIKey is DAILY_API_KEY. Required.
	APIKey string
	// BaseURL is DAILY_API_URL; empty means [DefaultBaseURL].
	BaseURL string
	// WebhookSecret is DAILY_WEBHOOK_SECRET, base64-decoded; empty means
	// every webhook is refused.
	WebhookSecret []byte
	// NamingKey derives room names ([teleconsult.Keyring.NamingKey]).
	// Required.
	NamingKey []byte
	// RoomOrigin is the origin of the domain's rooms (DAILY_DOMAIN), such
	// as https://clinic.daily.co: the call page frames exactly it, so a
	// room elsewhere is refused at [Provider.Join]. Empty accepts any
	// https://<name>.daily.co room.
	RoomOrigin string
	// Timeout bounds every call to Daily, retries included
	// (PROVIDER_TIMEOUT); 0 means 10 s.
	Timeout time.Duration
	// Logger receives retries and refusals, never keys or patient data.
	Logger *slog.Logger
	// Transport, BaseBackoff and Sleep tune the HTTP client (tests).
	Transport   http.RoundTripper
	BaseBackoff time.Duration
	Sleep       func(ctx context.Context, d time.Duration) error
}

// Provider implements [teleconsult.VideoProvider] on Daily.
type Provider struct {
	c             *vendorhttp.Client
	namingKey     []byte
	webhookSecret []byte
	roomOrigin    string
	log           *slog.Logger
	// unnamed is set once Daily refused a name of ours (HIPAA mode).
	unnamed atomic.Bool
}

var (
	_ teleconsult.VideoProvider   = (*Provider)(nil)
	_ teleconsult.WebhookReceiver = (*Provider)(nil)
	_ teleconsult.CallEnder       = (*Provider)(nil)
)

// New returns a Daily provider.
func New(cfg Config) (*Provider, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("daily: an API key (DAILY_API_KEY) is required")
	}
	if len(cfg.NamingKey) < 16 {
		return nil, errors.New("daily: a naming key is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	key := cfg.APIKey
	c, err := vendorhttp.New(vendorhttp.Config{
		Vendor: "Daily", KeyName: "DAILY_API_KEY", BaseURL: cfg.BaseURL,
		Auth:    func(h http.Header) { h.Set("Authorization", "Bearer "+key) },
		Timeout: cfg.Timeout, Transport: cfg.Transport, Logger: cfg.Logger,
		BaseBackoff: cfg.BaseBackoff, Sleep: cfg.Sleep,
	})
	if err != nil {
		return nil, err
	}
	return &Provider{c: c, namingKey: cfg.NamingKey, webhookSecret: cfg.WebhookSecret, roomOrigin: strings.TrimSuffix(cfg.RoomOrigin, "/"), log: cfg.Logger}, nil
}

// dailyHost is a room host on Daily's own domain.
var dailyHost = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.daily\.co$`)

// roomAllowed reports whether the call page may show the room at raw: a
// room on the configured origin, or without one on https://<name>.daily.co.
func (p *Provider) roomAllowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Host == "" {
		return false
	}
	if p.roomOrigin != "" {
		return u.Scheme+"://"+u.Host == p.roomOrigin
	}
	return u.Scheme == "https" && dailyHost.MatchString(u.Host)
}

// Name implements [teleconsult.VideoProvider.Name].
func (*Provider) Name() string { return Name }

// NewUser implements [teleconsult.VideoProvider.NewUser]: Daily has no
// users; the id is a random UUID, sent as the meeting token's user_id
// (at most 36 characters; a UUID survives Daily's HIPAA mode).
func (*Provider) NewUser(context.Context, string, teleconsult.Role) (string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// RoomName is the name of room revision rev of teleconsultation id: an
// HMAC under the naming key, so that it says nothing about the visit and
// cannot be guessed from the id.
func (p *Provider) RoomName(id string, rev int) string {
	m := hmac.New(sha256.New, p.namingKey)
	m.Write([]byte("daily room\x00" + id + "\x00" + strconv.Itoa(rev)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:roomNameLen]
}

// roomProperties are the RoomProperties we set.
type roomProperties struct {
	NBF                  int64 `json:"nbf"`
	Exp                  int64 `json:"exp,omitempty"`
	EjectAtRoomExp       bool  `json:"eject_at_room_exp,omitempty"`
	MaxParticipants      int   `json:"max_participants"`
	EnableScreenshare    bool  `json:"enable_screenshare"`
	EnableChat           bool  `json:"enable_chat"`
	StartAudioOff        bool  `json:"start_audio_off"`
	StartVideoOff        bool  `json:"start_video_off"`
	EnforceUniqueUserIDs bool  `json:"enforce_unique_user_ids"`
}

type createRoomRequest struct {
	Name       string         `json:"name,omitempty"`
	Privacy    string         `json:"privacy"`
	Properties roomProperties `json:"properties"`
}

type updateRoomRequest struct {
	Privacy    string         `json:"privacy"`
	Properties roomProperties `json:"properties"`
}

// room is the part of Daily's room object we read.
type room struct {
	Name    string `json:"name"`
	URL     string `json:"url"`
	Privacy string `json:"privacy"`
}

// apiError is Daily's error body: error is the stable type.
type apiError struct {
	Error string `json:"error"`
}

var roomNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// properties returns the room properties of tc under s.
func properties(tc *teleconsult.Teleconsultation, s *teleconsult.Settings) roomProperties {
	w := tc.Window(s)
	parts := tc.ActiveParticipants()
	props := roomProperties{
		NBF:                  w.Opens.Unix(),
		MaxParticipants:      len(parts),
		StartAudioOff:        s.StartAudioOff,
		StartVideoOff:        s.StartVideoOff,
		EnforceUniqueUserIDs: true,
		EnableChat:           len(parts) > 0,
	}
	if w.Limited {
		props.Exp, props.EjectAtRoomExp = w.End.Unix(), true
	}
	for _, pt := range parts {
		tools := s.Config.Privileges.Tools(pt.Role)
		props.EnableScreenshare = props.EnableScreenshare || tools.ScreenSharing
		props.EnableChat = props.EnableChat && tools.Chat
	}
	return props
}

// CreateRoom implements [teleconsult.VideoProvider.CreateRoom].
func (p *Provider) CreateRoom(ctx context.Context, tc *teleconsult.Teleconsultation, s *teleconsult.Settings) (*teleconsult.Room, error) {
	props := properties(tc, s)
	if !p.unnamed.Load() {
		name := p.RoomName(tc.ID, tc.RoomRevision+1)
		r, err := p.createNamed(ctx, name, props)
		if !errors.Is(err, errNameRefused) {
			return r, err
		}
		p.unnamed.Store(true)
		p.log.Warn("Daily refuses the room names we choose (HIPAA mode?): Daily names the rooms from now on; a lost answer to a create may leave an unused room")
	}
	const op = "create room"
	resp, err := p.c.Do(ctx, vendorhttp.Request{Op: op, Method: http.MethodPost, Path: "/rooms",
		Body: createRoomRequest{Privacy: "private", Properties: props}})
	if err != nil {
		return nil, err
	}
	if !resp.OK() {
		return nil, p.unexpected(resp, op)
	}
	return p.decodeRoom(resp, op, "")
}

// errNameRefused says that Daily refused to create a room with our name,
// and that no such room exists.
var errNameRefused = errors.New("daily: room name refused")

// createNamed creates room name, or adopts it if an earlier attempt made
// it: its properties are set to props.
func (p *Provider) createNamed(ctx context.Context, name string, props roomProperties) (*teleconsult.Room, error) {
	const op = "create room"
	resp, err := p.c.Do(ctx, vendorhttp.Request{Op: op, Method: http.MethodPost, Path: "/rooms", Idempotent: true,
		Body: createRoomRequest{Name: name, Privacy: "private", Properties: props}})
	if err != nil {
		return nil, err
	}
	if resp.OK() {
		return p.decodeRoom(resp, op, name)
	}
	if resp.Status != http.StatusBadRequest {
		return nil, p.unexpected(resp, op)
	}
	// A 400 for a name of ours: is it "already exists" (a retried create
	// that had succeeded)? Daily's error type does not say; the room does.
	const getOp = "find room"
	got, err := p.c.Do(ctx, vendorhttp.Request{Op: getOp, Method: http.MethodGet, Path: "/rooms/" + url.PathEscape(name), Idempotent: true})
	if err != nil {
		return nil, err
	}
	switch {
	case got.Status == http.StatusNotFound:
		return nil, errNameRefused
	case !got.OK():
		return nil, p.unexpected(got, getOp)
	}
	const updOp = "update room"
	upd, err := p.c.Do(ctx, vendorhttp.Request{Op: updOp, Method: http.MethodPost, Path: "/rooms/" + url.PathEscape(name), Idempotent: true,
		Body: updateRoomRequest{Privacy: "private", Properties: props}})
	if err != nil {
		return nil, err
	}
	if !upd.OK() {
		return nil, p.unexpected(upd, updOp)
	}
	p.log.Info("Daily room already existed: adopted", "room", name)
	return p.decodeRoom(upd, updOp, name)
}

// decodeRoom reads a room object; want, when set, is the name it must
// have.
func (p *Provider) decodeRoom(resp *vendorhttp.Response, op, want string) (*teleconsult.Room, error) {
	var r room
	if err := p.c.Decode(resp, op, &r, func() error { return checkRoom(&r, want) }); err != nil {
		return nil, err
	}
	return &teleconsult.Room{ID: r.Name, URL: r.URL}, nil
}

// checkRoom checks a room object from Daily.
func checkRoom(r *room, want string) error {
	switch {
	case !roomNameRE.MatchString(r.Name):
		return errors.New("no valid room name")
	case want != "" && r.Name != want:
		return errors.New("not the room asked for")
	case r.Privacy != "private":
		return errors.New("the room is not private")
	}
	u, err := url.Parse(r.URL)
	if err != nil || u.Host == "" || u.User != nil || len(r.URL) > 2048 || (u.Scheme != "https" && !loopbackHTTP(u)) {
		return errors.New("no valid room URL")
	}
	return nil
}

// loopbackHTTP reports whether u is http on a loopback address: a local
// stand-in for Daily's rooms (tests, development).
func loopbackHTTP(u *url.URL) bool {
	ip := net.ParseIP(u.Hostname())
	return u.Scheme == "http" && ip != nil && ip.IsLoopback()
}

// unexpected is the error for an answer we cannot use, with Daily's error
// type when the body has one.
func (p *Provider) unexpected(resp *vendorhttp.Response, op string) error {
	var e apiError
	_ = json.Unmarshal(resp.Body, &e)
	return p.c.Unexpected(resp, op, e.Error)
}

// DeleteRoom implements [teleconsult.VideoProvider.DeleteRoom]; a room that
// is gone (404, which Daily also answers for expired rooms) is fine.
func (p *Provider) DeleteRoom(ctx context.Context, tc *teleconsult.Teleconsultation) error {
	if tc.ProviderRoomID == "" {
		return nil
	}
	const op = "delete room"
	resp, err := p.c.Do(ctx, vendorhttp.Request{Op: op, Method: http.MethodDelete, Path: "/rooms/" + url.PathEscape(tc.ProviderRoomID), Idempotent: true})
	if err != nil {
		return err
	}
	if resp.OK() || resp.Status == http.StatusNotFound {
		return nil
	}
	return p.unexpected(resp, op)
}

// tokenProperties are the meeting token's properties we set.
type tokenProperties struct {
	RoomName          string       `json:"room_name"`
	UserName          string       `json:"user_name,omitempty"`
	UserID            string       `json:"user_id"`
	IsOwner           bool         `json:"is_owner"`
	NBF               int64        `json:"nbf"`
	Exp               int64        `json:"exp"`
	EjectAtTokenExp   bool         `json:"eject_at_token_exp,omitempty"`
	EnableScreenshare bool         `json:"enable_screenshare"`
	StartAudioOff     bool         `json:"start_audio_off"`
	StartVideoOff     bool         `json:"start_video_off"`
	Permissions       *permissions `json:"permissions"`
}

type permissions struct {
	HasPresence bool     `json:"has_presence"`
	CanSend     []string `json:"can_send"`
	CanAdmin    any      `json:"can_admin"`
}

type tokenRequest struct {
	Properties tokenProperties `json:"properties"`
}

type tokenResponse struct {
	Token string `json:"token"`
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9._~+/=-]{8,}$`)

// maxTokenLen bounds a meeting token (a JWT of a few hundred bytes).
const maxTokenLen = 4096

// Join implements [teleconsult.VideoProvider.Join]: it mints a meeting token
// for p, valid from the window's opening until its end when the window is
// limited (then Daily ejects at that time), else until the session's
// expiry o.Until (then it only bounds when the participant can join).
// Daily's meeting tokens have no virtual background: o.Background is not
// used.
func (p *Provider) Join(ctx context.Context, tc *teleconsult.Teleconsultation, pt *teleconsult.Participant, s *teleconsult.Settings, o teleconsult.JoinOptions) (*teleconsult.JoinTarget, error) {
	until := o.Until
	if tc.ProviderRoomID == "" || tc.ProviderRoomURL == "" {
		return nil, teleconsult.Errorf(teleconsult.EINTERNAL, "teleconsultation %s has no Daily room", tc.ID)
	}
	if !p.roomAllowed(tc.ProviderRoomURL) {
		// The call page could not show it (its frame-src allows the
		// domain's origin only): say so here rather than in a blank frame.
		return nil, teleconsult.Errorf(teleconsult.EINTERNAL, "the Daily room of teleconsultation %s is not on DAILY_DOMAIN (%s)", tc.ID, cmp.Or(p.roomOrigin, "https://*.daily.co"))
	}
	w := tc.Window(s)
	tools := s.Config.Privileges.Tools(pt.Role)
	props := tokenProperties{
		RoomName: tc.ProviderRoomID, UserName: pt.FullName, UserID: pt.ProviderUserID,
		IsOwner: pt.Role == teleconsult.RolePlus, NBF: w.Opens.Unix(), Exp: until.Unix(),
		EnableScreenshare: tools.ScreenSharing, StartAudioOff: s.StartAudioOff, StartVideoOff: s.StartVideoOff,
		Permissions: &permissions{HasPresence: true, CanSend: []string{"video", "audio"}, CanAdmin: false},
	}
	if w.Limited {
		props.Exp, props.EjectAtTokenExp = w.End.Unix(), true
	}
	if tools.ScreenSharing {
		props.Permissions.CanSend = append(props.Permissions.CanSend, "screenVideo", "screenAudio")
	}
	if pt.Role == teleconsult.RolePlus {
		props.Permissions.CanAdmin = []string{"participants"}
	}
	const op = "create meeting token"
	resp, err := p.c.Do(ctx, vendorhttp.Request{Op: op, Method: http.MethodPost, Path: "/meeting-tokens", Idempotent: true,
		Body: tokenRequest{Properties: props}})
	if err != nil {
		return nil, err
	}
	if !resp.OK() {
		return nil, p.unexpected(resp, op)
	}
	token, err := p.decodeToken(resp, op)
	if err != nil {
		return nil, err
	}
	return &teleconsult.JoinTarget{Provider: Name, URL: tc.ProviderRoomURL, Token: token, ExpiresAt: time.Unix(props.Exp, 0).UTC()}, nil
}

// decodeToken reads a meeting token answer.
func (p *Provider) decodeToken(resp *vendorhttp.Response, op string) (string, error) {
	var tr tokenResponse
	err := p.c.Decode(resp, op, &tr, func() error {
		if len(tr.Token) > maxTokenLen || !tokenRE.MatchString(tr.Token) {
			return errors.New("no valid token")
		}
		return nil
	})
	return tr.Token, err
}

// DeleteUploads implements [teleconsult.VideoProvider.DeleteUploads]. The
// Daily rooms made here have no file sharing (Daily's REST API has no
// upload store for them), so there is never anything to delete.
func (*Provider) DeleteUploads(context.Context, *teleconsult.Teleconsultation) (teleconsult.UploadsDeleted, error) {
	return teleconsult.UploadsDeleted{}, nil
}

type ejectRequest struct {
	UserIDs []string `json:"user_ids"`
}

// EndCall implements [teleconsult.CallEnder]: it ejects the participants
// still in the room (the LIVE rule ended the call). They may rejoin with
// their link while the window is open.
func (p *Provider) EndCall(ctx context.Context, tc *teleconsult.Teleconsultation) error {
	var ids []string
	for _, pt := range tc.ActiveParticipants() {
		if pt.ProviderUserID != "" && len(ids) < 100 {
			ids = append(ids, pt.ProviderUserID)
		}
	}
	if tc.ProviderRoomID == "" || len(ids) == 0 {
		return nil
	}
	const op = "eject participants"
	resp, err := p.c.Do(ctx, vendorhttp.Request{Op: op, Method: http.MethodPost, Path: "/rooms/" + url.PathEscape(tc.ProviderRoomID) + "/eject",
		Idempotent: true, Body: ejectRequest{UserIDs: ids}})
	if err != nil {
		return err
	}
	if resp.OK() || resp.Status == http.StatusNotFound {
		return nil
	}
	return p.unexpected(resp, op)
}
