package teleconsult_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
)

func encodePNG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// bombPNG is a PNG whose header claims w×h pixels (with a valid CRC) and
// whose data is a few bytes: what a decompression bomb looks like before
// its pixels are inflated.
func bombPNG(w, h uint32) []byte {
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
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

// Ensure CheckBackgroundImage takes whole PNG and JPEG images and refuses
// anything else, images too large by bytes or by pixels (before decoding
// them), and cut ones.
func TestCheckBackgroundImage(t *testing.T) {
	good := encodePNG(t, 64, 48)
	jpg := encodeJPEG(t, 80, 60)
	if ct, w, h, err := tc.CheckBackgroundImage(good); err != nil || ct != "image/png" || w != 64 || h != 48 {
		t.Errorf("PNG: %q %d×%d %v", ct, w, h, err)
	}
	if ct, w, h, err := tc.CheckBackgroundImage(jpg); err != nil || ct != "image/jpeg" || w != 80 || h != 60 {
		t.Errorf("JPEG: %q %d×%d %v", ct, w, h, err)
	}
	for _, tt := range []struct {
		name string
		data []byte
		code string
	}{
		{"empty", nil, tc.EINVALID},
		{"text", []byte("hello, this is not an image"), tc.EINVALID},
		{"GIF", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), tc.EINVALID},
		{"SVG", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), tc.EINVALID},
		{"PNG signature only", []byte("\x89PNG\r\n\x1a\n"), tc.EINVALID},
		{"PNG cut short", good[:len(good)/2], tc.EINVALID},
		{"JPEG cut short", jpg[:len(jpg)/2], tc.EINVALID},
		{"bomb 100000×100000", bombPNG(100000, 100000), tc.EINVALID},
		{"bomb 5000×10", bombPNG(5000, 10), tc.EINVALID},
		{"bomb 4096×4097", bombPNG(4096, 4097), tc.EINVALID},
		{"over 10 MiB", append(bytes.Clone(good), make([]byte, tc.MaxBackgroundBytes)...), tc.ETOOLARGE},
	} {
		_, _, _, err := tc.CheckBackgroundImage(tt.data)
		if got := tc.ErrorCode(err); got != tt.code {
			t.Errorf("%s: %v (code %q), want %q", tt.name, err, got, tt.code)
		}
	}
	// A header within the limits passes the pixel check and fails on its
	// (missing) pixels, so the decode is what refuses it.
	_, _, _, err := tc.CheckBackgroundImage(bombPNG(4096, 4096))
	if err == nil || tc.ErrorMessage(err) != "virtual_background: the image is damaged or cut short" {
		t.Errorf("4096×4096 header without pixels: %v", err)
	}
}

// FuzzCheckBackgroundImage: whatever the bytes, the check never panics,
// and what it accepts is a PNG or JPEG within the limits.
func FuzzCheckBackgroundImage(f *testing.F) {
	f.Add(encodePNG(f, 8, 8))
	f.Add(encodeJPEG(f, 16, 8))
	f.Add(bombPNG(100000, 100000))
	f.Add([]byte("not an image"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ct, w, h, err := tc.CheckBackgroundImage(data)
		if err != nil {
			if c := tc.ErrorCode(err); c != tc.EINVALID && c != tc.ETOOLARGE {
				t.Fatalf("code %q: %v", c, err)
			}
			return
		}
		if ct != "image/png" && ct != "image/jpeg" || w <= 0 || h <= 0 || w > tc.MaxBackgroundSide || h > tc.MaxBackgroundSide {
			t.Fatalf("accepted %q %d×%d", ct, w, h)
		}
	})
}
