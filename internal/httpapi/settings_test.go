package httpapi

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

func testPNG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 13)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// pngBomb is a small PNG whose header claims w×h pixels.
func pngBomb(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data))) //nolint:gosec // G115: a chunk of at most 13 bytes
		c := append([]byte(typ), data...)
		b.Write(c)
		_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

func (e *env) uploadBackground(content []byte, opts ...reqOption) *httptest.ResponseRecorder {
	e.tb.Helper()
	b, ct := multipartBody(e.tb, "virtual_background", "bg.png", content)
	return e.do("POST", Prefix+"/settings/background-image", b, append([]reqOption{contentType(ct)}, opts...)...)
}

// Ensure a company background uploaded and made the default is served to
// the call page and given, as an image, to the participants whose group
// is in groupsWithBackgroundList (and to GET's useBackground=true), and
// blur before any image is the default.
func TestBackgroundSettings(t *testing.T) {
	e := newEnv(t, func(_ *Config, s *teleconsult.Settings) {
		s.Config.GroupsWithBackgroundList = []string{"doctor"}
	})
	id := e.create(2, "", doctor, patient)
	session := func(user string, background bool) map[string]any {
		t.Helper()
		e.clock.Set(startAt)
		code := linkCode(t, e.view(id, user)["accessLinkURL"])
		extra := ""
		if background {
			extra = `,"useBackground":true`
		}
		w := e.do("POST", Prefix+"/sessions", `{"code":"`+code+`"`+extra+`}`, noKey())
		wantStatus(t, w, http.StatusCreated)
		bg, _ := body(t, w)["background"].(map[string]any)
		return bg
	}
	if bg := session("d1", false); bg["mode"] != "blur" || bg["canTurnOff"] != false || bg["imageUrl"] != nil {
		t.Errorf("doctor before any image: background %v, want blur", bg)
	}
	if bg := session("p1", false); bg != nil {
		t.Errorf("patient: background %v, want none", bg)
	}

	img := testPNG(t, 320, 180)
	w := e.uploadBackground(img)
	wantStatus(t, w, http.StatusOK)
	vb := body(t, w)["virtual_background"].(map[string]any)
	alias, _ := vb["background_alias"].(string)
	if !teleconsult.ValidBackgroundAlias(alias) || vb["url"] != publicURL+Prefix+"/settings/background-image/"+alias || vb["creation_date"] == "" {
		t.Fatalf("upload answer %v", vb)
	}
	// Uploaded is not yet the default.
	if bg := session("d1", false); bg["mode"] != "blur" {
		t.Errorf("doctor after an upload: %v, want blur still", bg)
	}
	w = e.do("PATCH", Prefix+"/settings/update", `{"background_alias":"`+alias+`"}`)
	wantStatus(t, w, http.StatusOK)
	c := body(t, w)["company"].(map[string]any)
	if d, _ := c["default_background"].(map[string]any); d["alias"] != alias || d["url"] != vb["url"] || d["creation_date"] != vb["creation_date"] {
		t.Errorf("company %v", c)
	}
	path := Prefix + "/settings/background-image/" + alias
	for _, user := range []struct {
		id string
		bg bool
	}{{"d1", false}, {"p1", true}} {
		if bg := session(user.id, user.bg); bg["mode"] != "image" || bg["imageUrl"] != path {
			t.Errorf("%s: background %v, want the image at %s", user.id, bg, path)
		}
	}
	// The call page loads it without a key.
	w = e.do("GET", path, "", noKey())
	wantStatus(t, w, http.StatusOK)
	if !bytes.Equal(w.Body.Bytes(), img) || w.Header().Get("Content-Type") != "image/png" ||
		!strings.Contains(w.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("served %d bytes, %v", w.Body.Len(), w.Header())
	}
	w = e.do("GET", Prefix+"/settings/background-image/0123456789abcdef0123456789abcdef", "", noKey())
	wantStatus(t, w, http.StatusNotFound)
}

// Ensure bad background uploads and updates are refused with a clear 4xx
// and change nothing: not an image, too large, a decompression bomb, no
// key, an unknown alias.
func TestBackgroundSettingsBadInput(t *testing.T) {
	e := newEnv(t)
	big := append(testPNG(t, 8, 8), make([]byte, teleconsult.MaxBackgroundBytes)...)
	for _, tt := range []struct {
		name   string
		w      func() *httptest.ResponseRecorder
		status int
		msg    string
	}{
		{"not an image", func() *httptest.ResponseRecorder { return e.uploadBackground([]byte("<html>not an image</html>")) }, 400, "must be a PNG or JPEG image"},
		{"GIF", func() *httptest.ResponseRecorder {
			return e.uploadBackground([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
		}, 400, "must be a PNG or JPEG image"},
		{"bomb", func() *httptest.ResponseRecorder { return e.uploadBackground(pngBomb(60000, 60000)) }, 400, "60000×60000 pixels"},
		{"cut short", func() *httptest.ResponseRecorder { p := testPNG(t, 64, 64); return e.uploadBackground(p[:len(p)-30]) }, 400, "damaged or cut short"},
		{"too large", func() *httptest.ResponseRecorder { return e.uploadBackground(big) }, 413, "larger than the limit"},
		{"no key", func() *httptest.ResponseRecorder { return e.uploadBackground(testPNG(t, 8, 8), noKey()) }, 401, ""},
		{"no field", func() *httptest.ResponseRecorder {
			b, ct := multipartBody(t, "file", "bg.png", testPNG(t, 8, 8))
			return e.do("POST", Prefix+"/settings/background-image", b, contentType(ct))
		}, 400, "virtual_background: required"},
		{"JSON body", func() *httptest.ResponseRecorder {
			return e.do("POST", Prefix+"/settings/background-image", `{}`, contentType("application/json"))
		}, 415, "multipart/form-data"},
		{"unknown alias", func() *httptest.ResponseRecorder {
			return e.do("PATCH", Prefix+"/settings/update", `{"background_alias":"0123456789abcdef0123456789abcdef"}`)
		}, 404, "no background image"},
		{"alias of another form", func() *httptest.ResponseRecorder {
			return e.do("PATCH", Prefix+"/settings/update", `{"background_alias":"../etc/passwd"}`)
		}, 404, "no background image"},
		{"no alias", func() *httptest.ResponseRecorder { return e.do("PATCH", Prefix+"/settings/update", `{}`) }, 400, "background_alias: required"},
		{"alias not a string", func() *httptest.ResponseRecorder {
			return e.do("PATCH", Prefix+"/settings/update", `{"background_alias":3}`)
		}, 400, "background_alias"},
		{"unknown field", func() *httptest.ResponseRecorder {
			return e.do("PATCH", Prefix+"/settings/update", `{"background_alias":"x","name":"y"}`)
		}, 400, "unknown field; expected background_alias"},
		{"update without key", func() *httptest.ResponseRecorder {
			return e.do("PATCH", Prefix+"/settings/update", `{"background_alias":"x"}`, noKey())
		}, 401, ""},
	} {
		w := tt.w()
		if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.msg) || !strings.Contains(w.Header().Get("Content-Type"), "json") {
			t.Errorf("%s: %d %s, want %d with %q", tt.name, w.Code, w.Body.String(), tt.status, tt.msg)
		}
	}
	if _, err := e.svc.Backgrounds.DefaultBackground(t.Context()); teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
		t.Errorf("after refused requests, a default background: %v", err)
	}
}
