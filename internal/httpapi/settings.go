package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Company settings: Mia's POST /settings/background-image and PATCH
// /settings/update (API key), and GET /settings/background-image/{alias}
// (public: the call page loads the company's background image from it; the
// alias is random and the image is the company's, not a patient's).

// backgroundPath is where an image this service keeps is served.
const backgroundPath = Prefix + "/settings/background-image/"

// BackgroundImagePath returns the path at which the call page loads the
// background image with alias.
func BackgroundImagePath(alias string) string { return backgroundPath + alias }

type backgroundJSON struct {
	BackgroundAlias string `json:"background_alias"`
	URL             string `json:"url"`
	CreationDate    string `json:"creation_date"`
}

type backgroundUploadResponse struct {
	VirtualBackground backgroundJSON `json:"virtual_background"`
}

type defaultBackgroundJSON struct {
	Alias        string `json:"alias"`
	URL          string `json:"url"`
	CreationDate string `json:"creation_date"`
}

type companyJSON struct {
	Name                     string                 `json:"name"`
	DefaultLanguage          string                 `json:"default_language"`
	DefaultBackground        *defaultBackgroundJSON `json:"default_background"`
	EndCallRedirectURL       string                 `json:"end_call_redirect_url"`
	UserDetailsProviderURL   string                 `json:"user_details_provider_url"`
	EndCallRedirectTimeoutMS int                    `json:"end_call_redirect_timeout_ms"`
}

type companyResponse struct {
	Company companyJSON `json:"company"`
}

// backgroundURL is where b is: the provider's URL, or ours.
func (s *Server) backgroundURL(b *teleconsult.Background) string {
	if b.URL != "" {
		return b.URL
	}
	return s.svc.Settings.PublicURL + BackgroundImagePath(b.Alias)
}

func tooLargeBackground() error {
	return &httpError{status: http.StatusRequestEntityTooLarge,
		msg: "virtual_background: the image is larger than the limit of " + strconv.Itoa(teleconsult.MaxBackgroundBytes) + " bytes"}
}

// handleBackgroundUpload is Mia's POST /settings/background-image: a
// multipart body whose field virtual_background is a PNG or JPEG image of
// at most 10 MiB. 200 {virtual_background: {background_alias, url,
// creation_date}}.
func (s *Server) handleBackgroundUpload(w http.ResponseWriter, r *http.Request) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return &httpError{status: http.StatusUnsupportedMediaType, msg: "send the image as multipart/form-data with one field named virtual_background"}
	}
	const limit = teleconsult.MaxBackgroundBytes
	if r.ContentLength > limit+multipartOverhead {
		return tooLargeBackground()
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit+multipartOverhead)
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequest("malformed multipart body")
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return badRequest("virtual_background: required (a multipart field named virtual_background)")
		}
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return tooLargeBackground()
			}
			return badRequest("malformed multipart body")
		}
		if part.FormName() != "virtual_background" {
			_ = part.Close()
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, limit+1))
		_ = part.Close()
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok || len(data) > limit {
			return tooLargeBackground()
		}
		if err != nil {
			return badRequest("malformed multipart body")
		}
		b, err := s.svc.UploadBackground(r.Context(), data)
		if err != nil {
			return err
		}
		s.writeJSON(w, r, http.StatusOK, backgroundUploadResponse{VirtualBackground: backgroundJSON{
			BackgroundAlias: b.Alias, URL: s.backgroundURL(b), CreationDate: formatTime(b.CreatedAt)}})
		return nil
	}
}

// handleSettingsUpdate is Mia's PATCH /settings/update {background_alias}:
// the image becomes the company's default. 200 {company: {...}}.
func (s *Server) handleSettingsUpdate(w http.ResponseWriter, r *http.Request) error {
	v, err := s.readJSON(w, r, true)
	if err != nil {
		return err
	}
	m, err := object(v, "", "background_alias")
	if err != nil {
		return err
	}
	alias, ok, err := stringField(m, "", "background_alias")
	if err != nil {
		return err
	}
	if !ok || alias == "" {
		return badRequest("background_alias: required")
	}
	c, err := s.svc.SetDefaultBackground(r.Context(), alias)
	if err != nil {
		return err
	}
	out := companyJSON{Name: c.Name, DefaultLanguage: c.DefaultLanguage, EndCallRedirectURL: c.EndCallRedirectURL,
		UserDetailsProviderURL: c.UserDetailsProviderURL, EndCallRedirectTimeoutMS: c.EndCallRedirectTimeoutMS}
	if b := c.DefaultBackground; b != nil {
		out.DefaultBackground = &defaultBackgroundJSON{Alias: b.Alias, URL: s.backgroundURL(b), CreationDate: formatTime(b.CreatedAt)}
	}
	s.writeJSON(w, r, http.StatusOK, companyResponse{Company: out})
	return nil
}

// handleBackgroundImage serves a background image this service keeps. Its
// content never changes under an alias, so it may be cached for good.
func (s *Server) handleBackgroundImage(w http.ResponseWriter, r *http.Request) error {
	b, err := s.svc.BackgroundImage(r.Context(), r.PathValue("alias"))
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", b.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(b.Data)))
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		// A PNG or JPEG checked at upload, sent as that type, not sniffed,
		// sandboxed: no page can come of it.
		_, _ = w.Write(b.Data) //nolint:gosec // G705: see above
	}
	return nil
}
