package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// testBackgrounds: images come back whole, the default is one of them and
// is read without its content, unknown aliases are ENOTFOUND.
func testBackgrounds(t *testing.T, f *fixture) {
	ctx := context.Background()
	s := f.Backgrounds
	_, err := s.DefaultBackground(ctx)
	WantCode(t, err, teleconsult.ENOTFOUND)
	_, err = s.FindBackground(ctx, "0123456789abcdef0123456789abcdef")
	WantCode(t, err, teleconsult.ENOTFOUND)
	WantCode(t, s.SetDefaultBackground(ctx, "0123456789abcdef0123456789abcdef"), teleconsult.ENOTFOUND)

	data := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)
	a := &teleconsult.Background{Alias: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ContentType: "image/png", Width: 640, Height: 480,
		Size: int64(len(data)), Data: data, CreatedAt: Base.Add(1500 * time.Nanosecond).In(Rome)}
	b := &teleconsult.Background{Alias: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", ContentType: "image/jpeg", Width: 1920, Height: 1080,
		Size: 3, Data: []byte{0xff, 0xd8, 0xff}, CreatedAt: Base.Add(time.Second)}
	for _, x := range []*teleconsult.Background{a, b} {
		if err := s.AddBackground(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.FindBackground(ctx, a.Alias)
	if err != nil || !bytes.Equal(got.Data, data) || got.ContentType != "image/png" || got.Width != 640 || got.Height != 480 ||
		got.Size != int64(len(data)) || !got.CreatedAt.Equal(Base.Add(time.Microsecond)) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("FindBackground(a) = %+v, %v", got, err)
	}
	_, err = s.DefaultBackground(ctx)
	WantCode(t, err, teleconsult.ENOTFOUND)
	for _, x := range []*teleconsult.Background{a, b} {
		if err := s.SetDefaultBackground(ctx, x.Alias); err != nil {
			t.Fatal(err)
		}
		d, err := s.DefaultBackground(ctx)
		if err != nil || d.Alias != x.Alias || d.Data != nil || d.ContentType != x.ContentType || d.Width != x.Width {
			t.Fatalf("DefaultBackground after setting %s = %+v, %v", x.Alias, d, err)
		}
	}
	// An unknown alias leaves the default as it was.
	WantCode(t, s.SetDefaultBackground(ctx, "cccccccccccccccccccccccccccccccc"), teleconsult.ENOTFOUND)
	if d, err := s.DefaultBackground(ctx); err != nil || d.Alias != b.Alias {
		t.Fatalf("DefaultBackground after a refused change = %+v, %v", d, err)
	}
}
