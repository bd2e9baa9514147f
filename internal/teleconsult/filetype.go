package teleconsult

import (
	"bytes"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
)

// SniffLen is how many first bytes of an upload [CheckUploadType] looks at.
const SniffLen = 512

// FileType is a kind of file participants may share, named by its file
// name extension (without the dot, lower case).
type FileType struct {
	// Ext is the extension that names the type: "pdf", "docx".
	Ext string
	// MediaType is the Content-Type the file is served with.
	MediaType string
	// match tells whether a file's first bytes (up to [SniffLen]) are of
	// this type.
	match func(head []byte) bool
}

// Signatures of the formats: the first bytes every such file begins with.
var (
	sigPNG  = []byte("\x89PNG\r\n\x1a\n")
	sigJPEG = []byte{0xff, 0xd8, 0xff}
	sigPDF  = []byte("%PDF-")
	sigZip  = []byte("PK\x03\x04")
	sigOLE  = []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1} // doc, xls, ppt (OLE2)
)

func prefix(sig ...[]byte) func([]byte) bool {
	return func(h []byte) bool {
		for _, s := range sig {
			if bytes.HasPrefix(h, s) {
				return true
			}
		}
		return false
	}
}

// isText accepts what a browser would sniff as plain text: no binary
// control bytes, and neither HTML, XML nor script by its first bytes.
func isText(h []byte) bool {
	return strings.HasPrefix(http.DetectContentType(h), "text/plain")
}

// isWebP: a RIFF container of form WEBP.
func isWebP(h []byte) bool {
	return len(h) >= 12 && string(h[:4]) == "RIFF" && string(h[8:12]) == "WEBP"
}

// isHEIF: an ISO base media file whose ftyp box names a HEIF brand.
func isHEIF(h []byte) bool {
	if len(h) < 12 || string(h[4:8]) != "ftyp" {
		return false
	}
	switch string(h[8:12]) {
	case "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1":
		return true
	}
	return false
}

// isODF: a zip whose first entry is the stored "mimetype" file naming an
// OpenDocument type (what the ODF standard requires of a package).
func isODF(kind string) func([]byte) bool {
	want := "mimetypeapplication/vnd.oasis.opendocument." + kind
	return func(h []byte) bool {
		return bytes.HasPrefix(h, sigZip) && len(h) >= 30+len(want) && string(h[30:30+len(want)]) == want
	}
}

// fileTypes are the types a clinic shares: images, PDF, plain text and
// common office documents. Their order is that of the messages.
var fileTypes = []FileType{
	{"png", "image/png", prefix(sigPNG)},
	{"jpg", "image/jpeg", prefix(sigJPEG)},
	{"jpeg", "image/jpeg", prefix(sigJPEG)},
	{"gif", "image/gif", prefix([]byte("GIF87a"), []byte("GIF89a"))},
	{"webp", "image/webp", isWebP},
	{"heic", "image/heic", isHEIF},
	{"heif", "image/heif", isHEIF},
	{"pdf", "application/pdf", prefix(sigPDF)},
	{"txt", "text/plain; charset=utf-8", isText},
	{"csv", "text/csv; charset=utf-8", isText},
	{"md", "text/markdown; charset=utf-8", isText},
	{"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", prefix(sigZip)},
	{"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", prefix(sigZip)},
	{"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", prefix(sigZip)},
	{"odt", "application/vnd.oasis.opendocument.text", isODF("text")},
	{"ods", "application/vnd.oasis.opendocument.spreadsheet", isODF("spreadsheet")},
	{"odp", "application/vnd.oasis.opendocument.presentation", isODF("presentation")},
	{"doc", "application/msword", prefix(sigOLE)},
	{"xls", "application/vnd.ms-excel", prefix(sigOLE)},
	{"ppt", "application/vnd.ms-powerpoint", prefix(sigOLE)},
}

// FileTypes returns the extensions of every type [CheckUploadType] knows,
// the values UPLOAD_ALLOWED_TYPES may list. With no setting all of them
// are allowed.
func FileTypes() []string {
	exts := make([]string, len(fileTypes))
	for i, ft := range fileTypes {
		exts[i] = ft.Ext
	}
	return exts
}

func fileType(ext string) *FileType {
	for i := range fileTypes {
		if fileTypes[i].Ext == ext {
			return &fileTypes[i]
		}
	}
	return nil
}

// ParseFileTypes parses a comma-separated list of extensions
// (UPLOAD_ALLOWED_TYPES: "pdf,png,jpg"; case and a leading dot do not
// matter) into the known ones, without repeats. An unknown one is an
// error that names the known; so is an empty list.
func ParseFileTypes(list string) ([]string, error) {
	var exts []string
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(e)), ".")
		if e == "" {
			continue
		}
		if fileType(e) == nil {
			return nil, fmt.Errorf("%q is not a known file type: expected some of %s", e, strings.Join(FileTypes(), ","))
		}
		if !slices.Contains(exts, e) {
			exts = append(exts, e)
		}
	}
	if len(exts) == 0 {
		return nil, fmt.Errorf("expected at least one of %s", strings.Join(FileTypes(), ","))
	}
	return exts, nil
}

// CheckUploadType is the rule on what may be uploaded: the (sanitised)
// file name's extension must be one of allowed (nil: every known type),
// and the file's first bytes must be of that type, so that an HTML page
// named x.png is refused. It returns the media type to serve the file
// with, or EUNSUPPORTED with a message naming the allowed extensions (and
// never the file's name).
func CheckUploadType(name string, head []byte, allowed []string) (string, error) {
	if allowed == nil {
		allowed = FileTypes()
	}
	ext := strings.ToLower(path.Ext(name))
	ext = strings.TrimPrefix(ext, ".")
	ft := fileType(ext)
	if ft == nil || !slices.Contains(allowed, ext) {
		return "", Errorf(EUNSUPPORTED, "this type of file is not accepted: the allowed types are %s", allowedList(allowed))
	}
	if !ft.match(head) {
		return "", Errorf(EUNSUPPORTED, "the file's content is not a .%s file: the allowed types are %s, each with its own extension", ext, allowedList(allowed))
	}
	if rest, ok := strings.CutPrefix(http.DetectContentType(head), "text/plain"); ok && ft.match(head) && strings.HasPrefix(ft.MediaType, "text/") {
		// A text file keeps its sniffed charset (UTF-16 with a BOM).
		base, _, _ := strings.Cut(ft.MediaType, ";")
		return base + rest, nil
	}
	return ft.MediaType, nil
}

func allowedList(allowed []string) string {
	return "." + strings.Join(allowed, ", .")
}
