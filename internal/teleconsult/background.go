package teleconsult

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"image"
	"image/jpeg"
	"image/png"
	"regexp"
	"time"
)

// Company backgrounds (Mia's POST /settings/background-image and PATCH
// /settings/update). A background image is the company's, not a patient's:
// it is stored as it was sent (not encrypted) and shown to every
// participant given the virtual background ([Settings.Background]).

// BuiltinProvider is the built-in SFU's name, as in VIDEO_PROVIDER and
// [JoinTarget.Provider].
const BuiltinProvider = "builtin"

// Limits of a background image.
const (
	// MaxBackgroundBytes is Mia's limit of an uploaded background: 10 MiB.
	MaxBackgroundBytes = 10 << 20
	// MaxBackgroundSide and MaxBackgroundPixels bound the decoded image,
	// checked from its header before any pixel is decoded, so that a
	// small file claiming a huge picture (a decompression bomb) costs
	// nothing: 4096×4096 is 64 MiB decoded, more than a background needs.
	MaxBackgroundSide   = 4096
	MaxBackgroundPixels = 4096 * 4096
)

// Background is a company background image. Data is its content; the
// store's lookups without content leave it nil.
type Background struct {
	// Alias names the image (32 lower-case hex digits, random; Kaleyra's
	// background_alias when the provider keeps the images).
	Alias       string
	ContentType string
	Width       int
	Height      int
	Size        int64
	Data        []byte
	// URL is where the image is, when the provider keeps it (Kaleyra);
	// empty for the images this service keeps and serves.
	URL       string
	CreatedAt time.Time
}

// Company is the company's settings as Mia's PATCH /settings/update
// returns them (Kaleyra's company object).
type Company struct {
	Name              string
	DefaultLanguage   string
	DefaultBackground *Background
	// EndCallRedirectURL, UserDetailsProviderURL and
	// EndCallRedirectTimeoutMS are Kaleyra's; empty for the built-in
	// provider.
	EndCallRedirectURL       string
	UserDetailsProviderURL   string
	EndCallRedirectTimeoutMS int
}

// BackgroundStore keeps the company's background images and which one is
// the default (implemented by the SQL store, so every replica sees them).
type BackgroundStore interface {
	// AddBackground stores b (with its Data).
	AddBackground(ctx context.Context, b *Background) error
	// FindBackground returns the background with alias, with its Data, or
	// ENOTFOUND.
	FindBackground(ctx context.Context, alias string) (*Background, error)
	// SetDefaultBackground makes alias the company's default; ENOTFOUND
	// when no background has that alias.
	SetDefaultBackground(ctx context.Context, alias string) error
	// DefaultBackground returns the default background without its Data,
	// or ENOTFOUND when none was set.
	DefaultBackground(ctx context.Context) (*Background, error)
}

// BackgroundHost is a [VideoProvider] whose platform keeps the company's
// background images itself (Kaleyra): uploads and the default go there
// and this service keeps none.
type BackgroundHost interface {
	// UploadBackground uploads a checked image and returns it as the
	// platform names it (Alias, URL, CreatedAt).
	UploadBackground(ctx context.Context, b *Background) (*Background, error)
	// SetDefaultBackground makes the image with alias the company's
	// default and returns the company's settings.
	SetDefaultBackground(ctx context.Context, alias string) (*Company, error)
}

// CallBackground is the virtual background a participant of the built-in
// call page joins with.
type CallBackground struct {
	// Alias is the company's default background image, shown behind the
	// participant; empty means blur.
	Alias string
	// Optional says the participant may switch it off
	// (BACKGROUND_OPTIONAL).
	Optional bool
}

var aliasRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ValidBackgroundAlias reports whether s has the form of a background
// alias of this service (32 lower-case hex digits).
func ValidBackgroundAlias(s string) bool { return aliasRE.MatchString(s) }

// ErrNotAnImage refuses a background that is not a PNG or JPEG image.
var ErrNotAnImage = &Error{Code: EINVALID, Message: "virtual_background: must be a PNG or JPEG image"}

// CheckBackgroundImage checks that data is a whole PNG or JPEG image of
// at most MaxBackgroundSide pixels a side and MaxBackgroundPixels in all,
// and returns its type and size. The header is read first (without
// decoding pixels) so that a decompression bomb is refused for what it
// claims; then the whole image is decoded, so that a cut or damaged file
// is refused too. Every refusal is EINVALID except a file over
// MaxBackgroundBytes, ETOOLARGE.
func CheckBackgroundImage(data []byte) (contentType string, width, height int, err error) {
	if len(data) > MaxBackgroundBytes {
		return "", 0, 0, Errorf(ETOOLARGE, "virtual_background: the image is larger than the limit of %d bytes", MaxBackgroundBytes)
	}
	var decode func([]byte) error
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		contentType = "image/png"
		decode = func(b []byte) error { _, err := png.Decode(bytes.NewReader(b)); return err }
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		contentType = "image/jpeg"
		decode = func(b []byte) error { _, err := jpeg.Decode(bytes.NewReader(b)); return err }
	default:
		return "", 0, 0, ErrNotAnImage
	}
	var cfg image.Config
	if contentType == "image/png" {
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	} else {
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		return "", 0, 0, ErrNotAnImage
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxBackgroundSide || cfg.Height > MaxBackgroundSide ||
		int64(cfg.Width)*int64(cfg.Height) > MaxBackgroundPixels {
		return "", 0, 0, Errorf(EINVALID, "virtual_background: the image is %d×%d pixels; at most %d a side", cfg.Width, cfg.Height, MaxBackgroundSide)
	}
	if decode(data) != nil {
		return "", 0, 0, Errorf(EINVALID, "virtual_background: the image is damaged or cut short")
	}
	return contentType, cfg.Width, cfg.Height, nil
}

func newAlias() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Service) backgroundsConfigured() error {
	if _, ok := s.Provider.(BackgroundHost); ok {
		return nil
	}
	if s.Backgrounds == nil {
		return Errorf(EUNAVAILABLE, "background images are not available on this server")
	}
	return nil
}

// UploadBackground checks data ([CheckBackgroundImage]) and keeps it as a
// company background: at the provider when it keeps backgrounds
// ([BackgroundHost]), else in the store. It does not make it the default
// ([Service.SetDefaultBackground] does).
func (s *Service) UploadBackground(ctx context.Context, data []byte) (*Background, error) {
	if err := s.backgroundsConfigured(); err != nil {
		return nil, err
	}
	ct, w, h, err := CheckBackgroundImage(data)
	if err != nil {
		return nil, err
	}
	b := &Background{ContentType: ct, Width: w, Height: h, Size: int64(len(data)), Data: data}
	if host, ok := s.Provider.(BackgroundHost); ok {
		return host.UploadBackground(ctx, b)
	}
	b.Alias, b.CreatedAt = newAlias(), s.now()
	if err := s.Backgrounds.AddBackground(ctx, b); err != nil {
		return nil, err
	}
	return b, nil
}

// SetDefaultBackground makes the background with alias the company's
// default and returns the company's settings. An unknown alias is
// ENOTFOUND.
func (s *Service) SetDefaultBackground(ctx context.Context, alias string) (*Company, error) {
	if err := s.backgroundsConfigured(); err != nil {
		return nil, err
	}
	if alias == "" || len(alias) > 256 || !validText(alias, 256) {
		return nil, invalid("background_alias: required, at most 256 printable characters")
	}
	if host, ok := s.Provider.(BackgroundHost); ok {
		return host.SetDefaultBackground(ctx, alias)
	}
	if !ValidBackgroundAlias(alias) {
		return nil, Errorf(ENOTFOUND, "no background image with that background_alias")
	}
	if err := s.Backgrounds.SetDefaultBackground(ctx, alias); err != nil {
		if ErrorCode(err) == ENOTFOUND {
			return nil, Errorf(ENOTFOUND, "no background image with that background_alias")
		}
		return nil, err
	}
	b, err := s.Backgrounds.DefaultBackground(ctx)
	if err != nil {
		return nil, err
	}
	return &Company{DefaultLanguage: "en", DefaultBackground: b}, nil
}

// BackgroundImage returns a background image this service keeps, with its
// content, for the call pages; ENOTFOUND when there is none with alias.
func (s *Service) BackgroundImage(ctx context.Context, alias string) (*Background, error) {
	if s.Backgrounds == nil || !ValidBackgroundAlias(alias) {
		return nil, Errorf(ENOTFOUND, "no background image with that alias")
	}
	return s.Backgrounds.FindBackground(ctx, alias)
}

// callBackground is the background participant p joins the built-in call
// page with, or nil: blur, or the company's default image when one is set.
// A store that cannot say what the default is gives blur: the participant
// still has a background.
func (s *Service) callBackground(ctx context.Context, p *Participant, asked bool) *CallBackground {
	if !s.Settings.Background(p, asked) {
		return nil
	}
	cb := &CallBackground{Optional: s.Settings.BackgroundOptional}
	if s.Backgrounds == nil {
		return cb
	}
	b, err := s.Backgrounds.DefaultBackground(ctx)
	switch {
	case err == nil:
		cb.Alias = b.Alias
	case ErrorCode(err) != ENOTFOUND:
		s.log().Warn("could not read the default background; blurring instead", "err", err)
	}
	return cb
}
