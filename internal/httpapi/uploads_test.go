package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// multipartBody builds a multipart/form-data body with one file field.
func multipartBody(tb testing.TB, field, name string, content []byte) (string, string) {
	tb.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile(field, name)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := fw.Write(content); err != nil {
		tb.Fatal(err)
	}
	mw.Close()
	return b.String(), mw.FormDataContentType()
}

// sessionToken trades participant user's link for a session token, with
// the clock inside the window.
func (e *env) sessionToken(id, user string) string {
	e.tb.Helper()
	e.clock.Set(startAt)
	code := linkCode(e.tb, e.view(id, user)["accessLinkURL"])
	w := e.do("POST", Prefix+"/sessions", sessionJSON(code), noKey())
	wantStatus(e.tb, w, http.StatusCreated)
	return body(e.tb, w)["token"].(string)
}

func bearer(token string) reqOption {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func (e *env) upload(id, token, name string, content []byte) *httptest.ResponseRecorder {
	e.tb.Helper()
	b, ct := multipartBody(e.tb, "file", name, content)
	return e.do("POST", api+"/"+id+"/uploads", b, bearer(token), contentType(ct))
}

// Ensure a participant uploads a file that the other lists and downloads
// as a sanitised attachment, and that nobody else can.
func TestUploadRoundTrip(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "", doctor, patient)
	other := e.create(2, "", doctor, patient2)
	docTok := e.sessionToken(id, "d1")
	patTok := e.sessionToken(id, "p1")
	otherTok := e.sessionToken(other, "p2")

	content := []byte("%PDF-1.4\nreferto\n")
	w := e.upload(id, docTok, `..\..\C:\etc/Referto Bob Marker.pdf`, content)
	wantStatus(t, w, http.StatusCreated)
	up := body(t, w)
	if up["name"] != "Referto Bob Marker.pdf" || up["size"] != float64(len(content)) || up["contentType"] != "application/pdf" {
		t.Fatalf("upload = %v", up)
	}
	fileID := up["id"].(string)

	w = e.do("GET", api+"/"+id+"/uploads", "", bearer(patTok))
	wantStatus(t, w, http.StatusOK)
	if files := body(t, w)["files"].([]any); len(files) != 1 || files[0].(map[string]any)["id"] != fileID {
		t.Fatalf("list = %v", files)
	}
	w = e.do("GET", api+"/"+id+"/uploads/"+fileID, "", bearer(patTok))
	wantStatus(t, w, http.StatusOK)
	if !bytes.Equal(w.Body.Bytes(), content) || w.Header().Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(w.Header().Get("Content-Disposition"), "attachment;") {
		t.Errorf("download: headers %v body %q", w.Header(), w.Body.String())
	}
	// A participant of another teleconsultation sees nothing of it.
	wantStatus(t, e.do("GET", api+"/"+id+"/uploads/"+fileID, "", bearer(otherTok)), http.StatusForbidden)
	wantStatus(t, e.do("GET", api+"/"+other+"/uploads/"+fileID, "", bearer(otherTok)), http.StatusNotFound)
	wantStatus(t, e.do("GET", api+"/"+id+"/uploads", "", bearer(otherTok)), http.StatusForbidden)
	// No token, a forged token, a malformed file id.
	wantStatus(t, e.do("GET", api+"/"+id+"/uploads", "", noKey()), http.StatusUnauthorized)
	wantStatus(t, e.do("GET", api+"/"+id+"/uploads", "", bearer(docTok+"x")), http.StatusUnauthorized)
	wantStatus(t, e.do("GET", api+"/"+id+"/uploads/..%2F..%2Fetc", "", bearer(docTok)), http.StatusNotFound)
	wantStatus(t, e.do("GET", api+"/"+id+"/uploads/"+strings.ToUpper(fileID), "", bearer(docTok)), http.StatusNotFound)
	// A trusted caller acting for a participant.
	wantStatus(t, e.do("GET", api+"/"+id+"/uploads", "", asUser("p1")), http.StatusOK)
	wantStatus(t, e.do("GET", api+"/"+id+"/uploads", "", asUser("p2")), http.StatusUnauthorized)
	if strings.Contains(e.logs.String(), "Referto") {
		t.Error("the file name was logged")
	}
}

// Ensure bad uploads are refused with a clear reason and leave nothing.
func TestUploadRefused(t *testing.T) {
	e := newEnv(t, func(_ *Config, s *teleconsult.Settings) {
		s.UploadMaxBytes = 1000
		s.Config.Privileges.Basic.Tools.FileUpload = false
	})
	id := e.create(2, "", doctor, patient)
	docTok := e.sessionToken(id, "d1")
	patTok := e.sessionToken(id, "p1")

	tests := []struct {
		name   string
		status int
		req    func() *httptest.ResponseRecorder
	}{
		{"over the limit", http.StatusRequestEntityTooLarge, func() *httptest.ResponseRecorder {
			return e.upload(id, docTok, "big.txt", bytes.Repeat([]byte("x"), 1001))
		}},
		{"far over the limit", http.StatusRequestEntityTooLarge, func() *httptest.ResponseRecorder {
			return e.upload(id, docTok, "big.bin", bytes.Repeat([]byte("x"), 200<<10))
		}},
		{"without file_upload", http.StatusForbidden, func() *httptest.ResponseRecorder {
			return e.upload(id, patTok, "a.txt", []byte("hello"))
		}},
		{"empty file", http.StatusBadRequest, func() *httptest.ResponseRecorder {
			return e.upload(id, docTok, "a.txt", nil)
		}},
		{"no file field", http.StatusBadRequest, func() *httptest.ResponseRecorder {
			b, ct := multipartBody(t, "other", "a.txt", []byte("x"))
			return e.do("POST", api+"/"+id+"/uploads", b, bearer(docTok), contentType(ct))
		}},
		{"not multipart", http.StatusUnsupportedMediaType, func() *httptest.ResponseRecorder {
			return e.do("POST", api+"/"+id+"/uploads", "hello", bearer(docTok), contentType("text/plain"))
		}},
		{"truncated multipart", http.StatusBadRequest, func() *httptest.ResponseRecorder {
			b, ct := multipartBody(t, "file", "a.txt", []byte("hello"))
			return e.do("POST", api+"/"+id+"/uploads", b[:len(b)-20], bearer(docTok), contentType(ct))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.req()
			wantStatus(t, w, tt.status)
			if errorOf(t, w) == "" {
				t.Error("no error message")
			}
			if entries, _ := os.ReadDir(e.filesDir); len(entries) != 0 {
				t.Errorf("left on disk: %v", entries)
			}
		})
	}
	if ups, _ := e.svc.Uploads.Uploads(t.Context(), id); len(ups) != 0 {
		t.Errorf("records after refusals: %v", ups)
	}
}

// Ensure DELETE /uploads follows Mia: 204 when uploads are kept, 200
// {total, deleted} when TELECONSULTATION_DELETE_UPLOADS is on.
func TestDeleteUploads(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint("delete uploads=", on), func(t *testing.T) {
			e := newEnv(t, func(_ *Config, s *teleconsult.Settings) { s.DeleteUploads = on })
			id := e.create(2, "", doctor, patient)
			tok := e.sessionToken(id, "d1")
			wantStatus(t, e.upload(id, tok, "a.txt", []byte("one")), http.StatusCreated)
			wantStatus(t, e.upload(id, tok, "b.txt", []byte("two")), http.StatusCreated)
			w := e.do("DELETE", api+"/"+id+"/uploads", "")
			if !on {
				wantStatus(t, w, http.StatusNoContent)
				if entries, _ := os.ReadDir(e.filesDir); len(entries) != 2 {
					t.Errorf("files: %v", entries)
				}
				return
			}
			wantStatus(t, w, http.StatusOK)
			if b := body(t, w); b["total"] != 2.0 || b["deleted"] != 2.0 {
				t.Errorf("body %v", b)
			}
			if entries, _ := os.ReadDir(e.filesDir); len(entries) != 0 {
				t.Errorf("files left: %v", entries)
			}
			wantStatus(t, e.do("DELETE", api+"/0123456789abcdef0123456789abcdef/uploads", ""), http.StatusNotFound)
			wantStatus(t, e.do("DELETE", api+"/"+id+"/uploads", "", noKey()), http.StatusUnauthorized)
		})
	}
}

func FuzzUpload(f *testing.F) {
	e := newEnv(f)
	id := e.create(2, "", doctor, patient)
	tok := e.sessionToken(id, "d1")
	b, ct := multipartBody(f, "file", "a.txt", []byte("hello"))
	f.Add([]byte(b), ct, "a.txt")
	f.Add([]byte("--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../x\"\r\n\r\nhi\r\n--x--\r\n"), "multipart/form-data; boundary=x", "../../x")
	f.Fuzz(func(t *testing.T, body []byte, ct, _ string) {
		r := httptest.NewRequest("POST", api+"/"+id+"/uploads", bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", ct)
		fuzzCheck(t, e, r)
	})
}

// Ensure DELETE /uploads admits the callers that may read the uploads and
// also hold file_upload, or a trusted caller acting for nobody, and that a
// refused caller deletes nothing. The refusals are those of reading
// (GET /uploads), plus 403 for a participant without file_upload.
func TestDeleteUploadsCallers(t *testing.T) {
	tests := []struct {
		name   string
		caller func(e *env, id, other string) reqOption
		status int // 0: as GET /uploads answers this caller
		// deletes is true when the files go.
		deletes bool
	}{
		{"API key acting for nobody", func(*env, string, string) reqOption { return withKey(testKey) }, http.StatusOK, true},
		{"API key acting for the doctor", func(*env, string, string) reqOption { return asUser("d1") }, http.StatusOK, true},
		{"API key acting for a participant without file_upload", func(*env, string, string) reqOption { return asUser("p1") }, http.StatusForbidden, false},
		{"API key acting for a participant of another visit", func(*env, string, string) reqOption { return asUser("p2") }, 0, false},
		{"API key acting for an unknown user", func(*env, string, string) reqOption { return asUser("nobody-known") }, 0, false},
		{"session of the doctor", func(e *env, id, _ string) reqOption { return bearer(e.sessionToken(id, "d1")) }, http.StatusOK, true},
		{"session of a participant without file_upload", func(e *env, id, _ string) reqOption { return bearer(e.sessionToken(id, "p1")) }, http.StatusForbidden, false},
		{"session of a participant of another visit", func(e *env, _, other string) reqOption { return bearer(e.sessionToken(other, "p2")) }, 0, false},
		{"session of the other visit's doctor", func(e *env, _, other string) reqOption { return bearer(e.sessionToken(other, "d1")) }, 0, false},
		{"no credentials", func(*env, string, string) reqOption { return noKey() }, 0, false},
		{"a forged session token", func(e *env, id, _ string) reqOption { return bearer(e.sessionToken(id, "d1") + "x") }, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(_ *Config, s *teleconsult.Settings) {
				s.DeleteUploads = true
				s.Config.Privileges.Basic.Tools.FileUpload = false
			})
			id := e.create(2, "", doctor, patient)
			other := e.create(2, "", doctor, patient2)
			tok := e.sessionToken(id, "d1")
			wantStatus(t, e.upload(id, tok, "a.txt", []byte("one")), http.StatusCreated)
			wantStatus(t, e.upload(id, tok, "b.txt", []byte("two")), http.StatusCreated)
			caller := tt.caller(e, id, other)
			want := tt.status
			if want == 0 {
				want = e.do("GET", api+"/"+id+"/uploads", "", caller).Code
				if want < 400 {
					t.Fatalf("reading answers this caller %d: the case is wrong", want)
				}
			}
			w := e.do("DELETE", api+"/"+id+"/uploads", "", caller)
			wantStatus(t, w, want)
			ups, _ := e.svc.Uploads.Uploads(t.Context(), id)
			entries, _ := os.ReadDir(e.filesDir)
			if tt.deletes {
				if b := body(t, w); b["total"] != 2.0 || b["deleted"] != 2.0 || len(ups) != 0 || len(entries) != 0 {
					t.Errorf("body %v, %d records and %d files left", b, len(ups), len(entries))
				}
				return
			}
			if errorOf(t, w) == "" {
				t.Error("no error message")
			}
			if len(ups) != 2 || len(entries) != 2 {
				t.Errorf("refused, yet %d records and %d files are left of 2", len(ups), len(entries))
			}
		})
	}
}

// Ensure only the allowed types are stored, and only when the content is
// of the type its extension names: the rest is a 415 that names the
// allowed types, and nothing is stored.
func TestUploadTypes(t *testing.T) {
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 64)...)
	html := []byte("<!DOCTYPE html><html><script>alert(document.cookie)</script></html>")
	tests := []struct {
		name    string
		file    string
		content []byte
		status  int
		ct      string // served Content-Type, when stored
	}{
		{"a PNG", "scan.PNG", png, http.StatusCreated, "image/png"},
		{"a PDF", "referto.pdf", []byte("%PDF-1.7\n..."), http.StatusCreated, "application/pdf"},
		{"plain text", "note.txt", []byte("pressione 120/80\n"), http.StatusCreated, "text/plain; charset=utf-8"},
		{"CSV", "values.csv", []byte("a,b\n1,2\n"), http.StatusCreated, "text/csv; charset=utf-8"},
		{"a Word document (OLE2)", "lettera.doc", []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest"), http.StatusCreated, "application/msword"},
		{"HTML named .png", "x.png", html, http.StatusUnsupportedMediaType, ""},
		{"HTML named .txt", "x.txt", html, http.StatusUnsupportedMediaType, ""},
		{"HTML", "x.html", html, http.StatusUnsupportedMediaType, ""},
		{"SVG", "x.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), http.StatusUnsupportedMediaType, ""},
		{"a PNG named .pdf", "x.pdf", png, http.StatusUnsupportedMediaType, ""},
		{"an executable", "setup.exe", []byte("MZ\x90\x00"), http.StatusUnsupportedMediaType, ""},
		{"no extension", "README", []byte("hello"), http.StatusUnsupportedMediaType, ""},
		{"a right-to-left override hiding .exe", "report\u202Egpj.exe", []byte("MZ\x90\x00"), http.StatusUnsupportedMediaType, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			id := e.create(2, "", doctor, patient)
			tok := e.sessionToken(id, "d1")
			w := e.upload(id, tok, tt.file, tt.content)
			wantStatus(t, w, tt.status)
			if tt.status != http.StatusCreated {
				msg := errorOf(t, w)
				if !strings.Contains(msg, ".pdf") || !strings.Contains(msg, ".png") || strings.Contains(msg, tt.file) {
					t.Errorf("message %q: want the allowed types, not the file name", msg)
				}
				if entries, _ := os.ReadDir(e.filesDir); len(entries) != 0 {
					t.Errorf("stored: %v", entries)
				}
				return
			}
			up := body(t, w)
			w = e.do("GET", api+"/"+id+"/uploads/"+up["id"].(string), "", bearer(tok))
			wantStatus(t, w, http.StatusOK)
			if got := w.Header().Get("Content-Type"); got != tt.ct || up["contentType"] != tt.ct {
				t.Errorf("served as %q, listed as %v; want %q", got, up["contentType"], tt.ct)
			}
		})
	}
	// UPLOAD_ALLOWED_TYPES narrows the list.
	e := newEnv(t, func(_ *Config, s *teleconsult.Settings) { s.UploadTypes = []string{"pdf"} })
	id := e.create(2, "", doctor, patient)
	tok := e.sessionToken(id, "d1")
	w := e.upload(id, tok, "scan.png", png)
	wantStatus(t, w, http.StatusUnsupportedMediaType)
	if msg := errorOf(t, w); !strings.Contains(msg, "are .pdf") || strings.Contains(msg, ".png") {
		t.Errorf("message %q: want only .pdf", msg)
	}
	wantStatus(t, e.upload(id, tok, "r.pdf", []byte("%PDF-1.4")), http.StatusCreated)
}

// scanDir fails the test if a file under dir holds needle.
func scanDir(t *testing.T, dir string, needle []byte) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("nothing stored: %v", err)
	}
	for _, en := range entries {
		b, err := os.ReadFile(dir + "/" + en.Name())
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, needle) {
			t.Errorf("%s holds the uploaded content in plain", en.Name())
		}
	}
}

// Ensure an uploaded file's content is not on disk in plain, and that its
// size and Content-Length are the content's.
func TestUploadEncryptedAtRest(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "", doctor, patient)
	tok := e.sessionToken(id, "d1")
	content := []byte(strings.Repeat("REFERTO Bob Marker: emocromo nella norma.\n", 5000)) // 210 kB
	w := e.upload(id, tok, "referto.txt", content)
	wantStatus(t, w, http.StatusCreated)
	up := body(t, w)
	if up["size"] != float64(len(content)) {
		t.Errorf("size %v, want %d", up["size"], len(content))
	}
	scanDir(t, e.filesDir, []byte("REFERTO Bob Marker"))
	w = e.do("GET", api+"/"+id+"/uploads/"+up["id"].(string), "", bearer(tok))
	wantStatus(t, w, http.StatusOK)
	if w.Header().Get("Content-Length") != fmt.Sprint(len(content)) || !bytes.Equal(w.Body.Bytes(), content) {
		t.Errorf("download: Content-Length %s, %d bytes", w.Header().Get("Content-Length"), w.Body.Len())
	}
}

// Ensure a stored file that was altered is never served as the file: damage
// at its start is a 500 with a clear message before anything is sent;
// damage further on aborts the response short of its Content-Length after
// only the intact part, so the client sees a failed download.
func TestDownloadDamaged(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	id := e.create(2, "", doctor, patient)
	tok := e.sessionToken(id, "d1")
	content := []byte(strings.Repeat("REFERTO Bob Marker: emocromo nella norma.\n", 5000)) // 210 kB: 4 chunks
	tests := []struct {
		name string
		at   func(size int) int // offset of the byte flipped
		// early is true when the error comes before the headers.
		early bool
	}{
		{"at the start", func(int) int { return 60 }, true},
		{"in the third chunk", func(int) int { return 2*(64<<10+16) + 1000 }, false},
		{"cut", func(size int) int { return -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.upload(id, tok, "referto.txt", content)
			wantStatus(t, w, http.StatusCreated)
			fileID := body(t, w)["id"].(string)
			name := e.filesDir + "/" + fileID
			raw, _ := os.ReadFile(name)
			if off := tt.at(len(raw)); off >= 0 {
				raw[off] ^= 0x20
			} else {
				raw = raw[:len(raw)-100]
			}
			if err := os.WriteFile(name, raw, 0o600); err != nil {
				t.Fatal(err)
			}

			req, _ := http.NewRequest("GET", srv.URL+api+"/"+id+"/uploads/"+fileID, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, rerr := io.ReadAll(resp.Body)
			if tt.early {
				if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(got), "damaged or was altered") {
					t.Errorf("status %d, body %q; want 500 saying the file is damaged", resp.StatusCode, got)
				}
				return
			}
			if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(content)) {
				t.Fatalf("status %d, length %d", resp.StatusCode, resp.ContentLength)
			}
			if rerr == nil || len(got) >= len(content) || !bytes.Equal(got, content[:len(got)]) || len(got)%(64<<10) != 0 {
				t.Errorf("read %d of %d bytes, then %v: want an aborted response with whole intact chunks only", len(got), len(content), rerr)
			}
			if !strings.Contains(e.logs.String(), "download aborted") || strings.Contains(e.logs.String(), "REFERTO") {
				t.Error("the abort is not logged, or the log holds content")
			}
		})
	}
}
