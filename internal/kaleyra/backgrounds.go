package kaleyra

import (
	"bytes"
	"context"
	"errors"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/vendorhttp"
)

// Company backgrounds (kaleyra-api.md § 5): an image is uploaded (POST
// {base}/rest/company/virtual_background, multipart field
// virtual_background, as Mia's route names it), then made the company's
// default by "update company" (POST {base}/rest/company/update
// {background_alias}), which answers with the company object. The
// reference confirms the flow, the update's field and the object's fields;
// the upload's path and answer ({virtual_background: {background_alias,
// url, creation_date}}, the shape Mia passes on) are this adapter's
// reading, in this one place.

var _ teleconsult.BackgroundHost = (*Provider)(nil)

const (
	backgroundUploadPath = "/rest/company/virtual_background"
	companyUpdatePath    = "/rest/company/update"
)

// backgroundAliasRE bounds what Kaleyra may call an image.
var backgroundAliasRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

type backgroundAnswer struct {
	VirtualBackground *struct {
		BackgroundAlias string `json:"background_alias"`
		URL             string `json:"url"`
		CreationDate    string `json:"creation_date"`
	} `json:"virtual_background"`
}

// validHTTPS reports whether s is an absolute https URL (what the page
// loads the image from).
func validHTTPS(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && len(s) <= 2048
}

func parseDate(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err == nil
}

// UploadBackground implements [teleconsult.BackgroundHost.UploadBackground].
// An upload is not retried after an ambiguous failure: a lost answer would
// leave two images, harmless but unnamed.
func (p *Provider) UploadBackground(ctx context.Context, b *teleconsult.Background) (*teleconsult.Background, error) {
	const op = "upload background"
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h := textproto.MIMEHeader{}
	ext := ".png"
	if b.ContentType == "image/jpeg" {
		ext = ".jpg"
	}
	h.Set("Content-Disposition", `form-data; name="virtual_background"; filename="background`+ext+`"`)
	h.Set("Content-Type", b.ContentType)
	fw, err := mw.CreatePart(h)
	if err == nil {
		_, err = fw.Write(b.Data)
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		return nil, &teleconsult.Error{Code: teleconsult.EINTERNAL, Message: "cannot encode a request to Kaleyra", Err: err}
	}
	resp, err := p.c.Do(ctx, vendorhttp.Request{Op: op, Method: http.MethodPost, Path: backgroundUploadPath,
		Raw: body.Bytes(), Header: http.Header{"Content-Type": {mw.FormDataContentType()}}})
	if err != nil {
		return nil, err
	}
	if !resp.OK() {
		return nil, p.unexpected(resp, op)
	}
	var a backgroundAnswer
	var created time.Time
	err = p.c.Decode(resp, op, &a, func() error {
		v := a.VirtualBackground
		var ok bool
		switch {
		case v == nil || !backgroundAliasRE.MatchString(v.BackgroundAlias):
			return errors.New("no valid background_alias")
		case !validHTTPS(v.URL):
			return errors.New("no valid https url")
		}
		if created, ok = parseDate(v.CreationDate); !ok {
			return errors.New("no valid creation_date")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := *b
	out.Data = nil
	out.Alias, out.URL, out.CreatedAt = a.VirtualBackground.BackgroundAlias, a.VirtualBackground.URL, created
	return &out, nil
}

type companyAnswer struct {
	Company *struct {
		Name              string `json:"name"`
		DefaultLanguage   string `json:"default_language"`
		DefaultBackground *struct {
			Alias        string `json:"alias"`
			URL          string `json:"url"`
			CreationDate string `json:"creation_date"`
		} `json:"default_background"`
		EndCallRedirectURL       string `json:"end_call_redirect_url"`
		UserDetailsProviderURL   string `json:"user_details_provider_url"`
		EndCallRedirectTimeoutMS int    `json:"end_call_redirect_timeout_ms"`
	} `json:"company"`
}

// SetDefaultBackground implements
// [teleconsult.BackgroundHost.SetDefaultBackground]. An alias Kaleyra does
// not know (its 400 or 404) is ENOTFOUND.
func (p *Provider) SetDefaultBackground(ctx context.Context, alias string) (*teleconsult.Company, error) {
	const op = "update company"
	if !backgroundAliasRE.MatchString(alias) {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "no background image with that background_alias")
	}
	resp, err := p.c.Do(ctx, vendorhttp.Request{Op: op, Method: http.MethodPost, Path: companyUpdatePath, Idempotent: true,
		Body: map[string]string{"background_alias": alias}})
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusNotFound || resp.Status == http.StatusBadRequest {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "no background image with that background_alias")
	}
	if !resp.OK() {
		return nil, p.unexpected(resp, op)
	}
	var a companyAnswer
	var bg *teleconsult.Background
	err = p.c.Decode(resp, op, &a, func() error {
		c := a.Company
		if c == nil {
			return errors.New("no company")
		}
		if d := c.DefaultBackground; d != nil {
			at, ok := parseDate(d.CreationDate)
			if !backgroundAliasRE.MatchString(d.Alias) || !validHTTPS(d.URL) || !ok {
				return errors.New("no valid default_background")
			}
			bg = &teleconsult.Background{Alias: d.Alias, URL: d.URL, CreatedAt: at}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c := a.Company
	return &teleconsult.Company{Name: c.Name, DefaultLanguage: c.DefaultLanguage, DefaultBackground: bg,
		EndCallRedirectURL: c.EndCallRedirectURL, UserDetailsProviderURL: c.UserDetailsProviderURL,
		EndCallRedirectTimeoutMS: c.EndCallRedirectTimeoutMS}, nil
}
