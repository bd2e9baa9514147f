package kaleyra

import (
	"bytes"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/kaleyra/kaleyratest"
	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure a background passes through to Kaleyra: uploaded as multipart
// (the image's bytes and type), then made the default by "update company",
// whose company object comes back.
func TestBackgroundPassThrough(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	img := []byte("\x89PNG\r\n\x1a\n fake but passed through as is")
	b, err := f.p.UploadBackground(ctx, &tc.Background{ContentType: "image/png", Width: 2, Height: 2, Size: int64(len(img)), Data: img})
	if err != nil {
		t.Fatal(err)
	}
	held, def := f.fake.Backgrounds()
	got, ok := held[b.Alias]
	if !ok || !bytes.Equal(got.Data, img) || got.ContentType != "image/png" || def != "" {
		t.Fatalf("Kaleyra holds %v (default %q); adapter said %+v", held, def, b)
	}
	if b.URL != "https://cdn.kaleyra.test/backgrounds/"+b.Alias || b.CreatedAt.IsZero() || b.Data != nil {
		t.Errorf("uploaded = %+v", b)
	}
	c, err := f.p.SetDefaultBackground(ctx, b.Alias)
	if err != nil {
		t.Fatal(err)
	}
	if _, def = f.fake.Backgrounds(); def != b.Alias {
		t.Errorf("Kaleyra's default = %q, want %q", def, b.Alias)
	}
	if c.Name != "Fake Clinic" || c.DefaultLanguage != "en" || c.EndCallRedirectTimeoutMS != 5000 ||
		c.DefaultBackground == nil || c.DefaultBackground.Alias != b.Alias || c.DefaultBackground.URL != b.URL ||
		!c.DefaultBackground.CreatedAt.Equal(b.CreatedAt) {
		t.Errorf("company = %+v (%+v)", c, c.DefaultBackground)
	}
	// An alias Kaleyra does not know, or one no alias could be, is
	// ENOTFOUND; the default stays.
	for _, alias := range []string{"0123456789abcdef0123456789abcdef", "../x"} {
		_, err := f.p.SetDefaultBackground(ctx, alias)
		if tc.ErrorCode(err) != tc.ENOTFOUND {
			t.Errorf("SetDefaultBackground(%q) = %v, want ENOTFOUND", alias, err)
		}
	}
	if _, def = f.fake.Backgrounds(); def != b.Alias {
		t.Errorf("after refused updates Kaleyra's default = %q", def)
	}
}

// Ensure Kaleyra's failures and malformed answers come back as
// EBADGATEWAY or EUNAVAILABLE, and an upload is not repeated after an
// ambiguous failure.
func TestBackgroundPassThroughFailures(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	up := func() error {
		_, err := f.p.UploadBackground(ctx, &tc.Background{ContentType: "image/jpeg", Data: []byte("\xff\xd8\xff jpeg")})
		return err
	}
	f.fake.Fail("POST", "/rest/company/virtual_background", 1, kaleyratest.Fault{Lost: true, Status: 502})
	if err := up(); tc.ErrorCode(err) != tc.EBADGATEWAY {
		t.Errorf("lost answer: %v", err)
	}
	if held, _ := f.fake.Backgrounds(); len(held) != 1 {
		t.Errorf("after a lost answer Kaleyra holds %d images, want 1 (no retry)", len(held))
	}
	f.fake.Fail("POST", "/rest/company/virtual_background", 1, kaleyratest.Fault{Malformed: true})
	if err := up(); tc.ErrorCode(err) != tc.EBADGATEWAY {
		t.Errorf("malformed answer: %v", err)
	}
	f.fake.Fail("POST", "/rest/company/update", 5, kaleyratest.Fault{Status: 503})
	if _, err := f.p.SetDefaultBackground(ctx, "abc"); tc.ErrorCode(err) != tc.EUNAVAILABLE {
		t.Errorf("503s: %v", err)
	}
}
