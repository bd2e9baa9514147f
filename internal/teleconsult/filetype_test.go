package teleconsult_test

import (
	"bytes"
	"net/http"
	"path"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Samples of the first bytes of each known type.
var typeSamples = map[string][]byte{
	"png":  []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
	"jpg":  []byte("\xff\xd8\xff\xe0\x00\x10JFIF"),
	"gif":  []byte("GIF89a\x01\x00\x01\x00"),
	"webp": []byte("RIFF\x24\x00\x00\x00WEBPVP8 "),
	"heic": []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"),
	"pdf":  []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
	"txt":  []byte("Pressione 120/80, nessuna anomalia.\n"),
	"docx": []byte("PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml"),
	"odt":  []byte("PK\x03\x04\x14\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x08\x00\x00\x00mimetypeapplication/vnd.oasis.opendocument.text"),
	"doc":  []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00"),
	"html": []byte("<!DOCTYPE html><title>x</title><script>alert(1)</script>"),
}

func TestCheckUploadType(t *testing.T) {
	tests := []struct {
		name    string
		sample  string
		allowed []string
		want    string // media type; "" refused
	}{
		{"scan.png", "png", nil, "image/png"},
		{"SCAN.JPG", "jpg", nil, "image/jpeg"},
		{"a.jpeg", "jpg", nil, "image/jpeg"},
		{"a.gif", "gif", nil, "image/gif"},
		{"a.webp", "webp", nil, "image/webp"},
		{"IMG_0001.HEIC", "heic", nil, "image/heic"},
		{"r.pdf", "pdf", nil, "application/pdf"},
		{"n.txt", "txt", nil, "text/plain; charset=utf-8"},
		{"n.csv", "txt", nil, "text/csv; charset=utf-8"},
		{"n.md", "txt", nil, "text/markdown; charset=utf-8"},
		{"l.docx", "docx", nil, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"l.odt", "odt", nil, "application/vnd.oasis.opendocument.text"},
		{"l.doc", "doc", nil, "application/msword"},
		{"l.xls", "doc", nil, "application/vnd.ms-excel"},
		// Content that is not what the extension says.
		{"x.png", "html", nil, ""},
		{"x.txt", "html", nil, ""},
		{"x.pdf", "png", nil, ""},
		{"x.jpg", "png", nil, ""},
		{"x.odt", "docx", nil, ""}, // a zip that is no OpenDocument
		{"x.ods", "odt", nil, ""},  // an OpenDocument of another kind
		{"x.heic", "webp", nil, ""},
		// Types that are not allowed.
		{"x.html", "html", nil, ""},
		{"x.svg", "txt", nil, ""},
		{"x.exe", "doc", nil, ""},
		{"x", "txt", nil, ""},
		{"x.", "txt", nil, ""},
		{".png", "png", nil, "image/png"},
		{"scan.png", "png", []string{"pdf"}, ""},
		{"r.pdf", "pdf", []string{"pdf"}, "application/pdf"},
	}
	for _, tt := range tests {
		got, err := tc.CheckUploadType(tt.name, typeSamples[tt.sample], tt.allowed)
		if got != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("CheckUploadType(%q, %s) = %q, %v; want %q", tt.name, tt.sample, got, err, tt.want)
		}
		if err != nil && (tc.ErrorCode(err) != tc.EUNSUPPORTED || !strings.Contains(tc.ErrorMessage(err), ".pdf")) {
			t.Errorf("%q: error %v: want unsupported, naming the allowed types", tt.name, err)
		}
	}
	// A UTF-16 text keeps its charset.
	if got, _ := tc.CheckUploadType("n.txt", []byte("\xff\xfeh\x00i\x00"), nil); got != "text/plain; charset=utf-16le" {
		t.Errorf("UTF-16 text served as %q", got)
	}
}

func TestParseFileTypes(t *testing.T) {
	got, err := tc.ParseFileTypes(" PDF, .png,pdf,,jpg ")
	if err != nil || !slices.Equal(got, []string{"pdf", "png", "jpg"}) {
		t.Errorf("ParseFileTypes = %v, %v", got, err)
	}
	for _, bad := range []string{"", " , ", "pdf,html", "svg", "exe"} {
		if _, err := tc.ParseFileTypes(bad); err == nil || !strings.Contains(err.Error(), "pdf") {
			t.Errorf("ParseFileTypes(%q): %v; want an error naming the known types", bad, err)
		}
	}
	if all, err := tc.ParseFileTypes(strings.Join(tc.FileTypes(), ",")); err != nil || !slices.Equal(all, tc.FileTypes()) {
		t.Errorf("every known type: %v, %v", all, err)
	}
}

// FuzzCheckUploadType: no input panics; an accepted file has an allowed
// extension, is served as a type of the table (never HTML, XML, SVG or a
// script), and a text type only when a browser would sniff plain text.
func FuzzCheckUploadType(f *testing.F) {
	for ext, head := range typeSamples {
		f.Add("a."+ext, head, "")
		f.Add("a.png", head, "png,pdf")
	}
	f.Add("x.txt", []byte(" \n\t<html>"), "")
	f.Add("x\u202egnp.html", []byte("<svg/>"), "txt")
	f.Fuzz(func(t *testing.T, name string, head []byte, list string) {
		if len(head) > tc.SniffLen {
			head = head[:tc.SniffLen]
		}
		allowed, err := tc.ParseFileTypes(list)
		if err != nil {
			allowed = nil
		}
		mt, err := tc.CheckUploadType(name, head, allowed)
		if err != nil {
			// The message is one of a fixed few: it never echoes the name.
			msg := tc.ErrorMessage(err)
			known := false
			for _, ext := range append(tc.FileTypes(), "") {
				_, m := tc.CheckUploadType("x."+ext, []byte{0}, allowed)
				known = known || m != nil && tc.ErrorMessage(m) == msg
			}
			if mt != "" || tc.ErrorCode(err) != tc.EUNSUPPORTED || !known {
				t.Fatalf("refusal %q, %v", mt, err)
			}
			return
		}
		ext := strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
		if allowed == nil {
			allowed = tc.FileTypes()
		}
		if !slices.Contains(allowed, ext) {
			t.Fatalf("accepted %q (extension %q) not in %v", name, ext, allowed)
		}
		sniffed := http.DetectContentType(head)
		if strings.Contains(mt, "html") || strings.Contains(mt, "xml") && !strings.Contains(mt, "openxmlformats") || strings.Contains(mt, "svg") || strings.Contains(mt, "script") {
			t.Fatalf("served as %q", mt)
		}
		if strings.HasPrefix(mt, "text/") && !strings.HasPrefix(sniffed, "text/plain") {
			t.Fatalf("%q served as %q, sniffed %q", name, mt, sniffed)
		}
		if sniffed == "text/html; charset=utf-8" {
			t.Fatalf("HTML accepted as %q", mt)
		}
	})
}

// FuzzSanitizeFileName: whatever a client sends, the name is valid UTF-8,
// one path element, 1 to 200 characters, with no control, format (Cf) or
// separator characters and no quote, and sanitising it again changes
// nothing.
func FuzzSanitizeFileName(f *testing.F) {
	for _, s := range []string{"report.pdf", "../../etc/passwd", `C:\x\y.png`, "a\u202egpj.exe", "\u2066\u2069", "\xff\xfe", strings.Repeat("é", 300), " . ", "a\r\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := tc.SanitizeFileName(in)
		n := utf8.RuneCountInString(got)
		if !utf8.ValidString(got) || n < 1 || n > 200 || strings.ContainsAny(got, "/\\\"") || got == "." || got == ".." {
			t.Fatalf("SanitizeFileName(%q) = %q", in, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == 0x2028 || r == 0x2029 || r == utf8.RuneError {
				t.Fatalf("SanitizeFileName(%q) = %q keeps %U", in, got, r)
			}
		}
		if again := tc.SanitizeFileName(got); again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, got, again)
		}
		if bytes.ContainsRune([]byte(got), 0) {
			t.Fatal("NUL")
		}
	})
}
