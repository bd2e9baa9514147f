package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Uploads (tool file_upload). The call page authenticates with its session
// token (Authorization: Bearer <token>); a trusted caller may use its API
// key and name the user as for GET /teleconsultation/{id}.

// multipartOverhead is what a multipart body may hold beyond the file.
const multipartOverhead = 64 << 10

var fileIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// admit authenticates an uploads request for teleconsultation id.
func (s *Server) admit(r *http.Request, id string) (*teleconsult.Admission, error) {
	if s.validAPIKey(r) {
		return s.svc.AdmitUser(r.Context(), id, s.userID(r))
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return nil, &httpError{status: http.StatusUnauthorized, msg: "missing session token or API key",
			header: map[string]string{"WWW-Authenticate": `Bearer realm="teleconsult"`}}
	}
	return s.svc.Admit(r.Context(), token, id)
}

type uploadJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"contentType"`
	UploadedBy  string `json:"uploadedBy"`
	CreatedAt   string `json:"createdAt"`
}

func toUploadJSON(u *teleconsult.Upload) uploadJSON {
	return uploadJSON{ID: u.ID, Name: u.Name, Size: u.Size, ContentType: u.ContentType,
		UploadedBy: u.UploadedBy, CreatedAt: formatTime(u.CreatedAt)}
}

func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) error {
	id, err := roomID(r)
	if err != nil {
		return err
	}
	a, err := s.admit(r, id)
	if err != nil {
		return err
	}
	if !a.Tools.FileUpload {
		return teleconsult.Errorf(teleconsult.EFORBIDDEN, "file upload is not allowed for you")
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return &httpError{status: http.StatusUnsupportedMediaType, msg: "send the file as multipart/form-data with one field named file"}
	}
	limit := s.svc.Settings.UploadMaxBytes
	if limit <= 0 {
		limit = teleconsult.DefaultUploadMaxBytes
	}
	if r.ContentLength > limit+multipartOverhead {
		return tooLargeUpload(limit)
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit+multipartOverhead)
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequest("malformed multipart body")
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return badRequest("file: required (a multipart field named file)")
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return tooLargeUpload(limit)
			}
			return badRequest("malformed multipart body")
		}
		// Closing a part only skips what is left of it: reading the next
		// part reports a broken body.
		if part.FormName() != "file" {
			_ = part.Close()
			continue
		}
		u, err := s.svc.AddUpload(r.Context(), a, part.FileName(), part)
		_ = part.Close()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLargeUpload(limit)
		}
		if err != nil {
			return err
		}
		w.Header().Set("Location", Prefix+"/teleconsultation/"+id+"/uploads/"+u.ID)
		s.writeJSON(w, r, http.StatusCreated, toUploadJSON(u))
		return nil
	}
}

func tooLargeUpload(limit int64) error {
	return &httpError{status: http.StatusRequestEntityTooLarge, msg: "the file is larger than the limit of " + strconv.FormatInt(limit, 10) + " bytes"}
}

func (s *Server) handleListUploads(w http.ResponseWriter, r *http.Request) error {
	id, err := roomID(r)
	if err != nil {
		return err
	}
	a, err := s.admit(r, id)
	if err != nil {
		return err
	}
	ups, err := s.svc.ListUploads(r.Context(), a)
	if err != nil {
		return err
	}
	out := struct {
		Files []uploadJSON `json:"files"`
	}{Files: []uploadJSON{}}
	for i := range ups {
		out.Files = append(out.Files, toUploadJSON(&ups[i]))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request) error {
	id, err := roomID(r)
	if err != nil {
		return err
	}
	fileID := r.PathValue("fileId")
	if !fileIDRE.MatchString(fileID) {
		return teleconsult.Errorf(teleconsult.ENOTFOUND, "file not found")
	}
	a, err := s.admit(r, id)
	if err != nil {
		return err
	}
	u, rc, err := s.svc.OpenUpload(r.Context(), a, fileID)
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close() }() // read only: nothing to lose
	h := w.Header()
	h.Set("Content-Type", u.ContentType)
	h.Set("Content-Length", strconv.FormatInt(u.Size, 10))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": u.Name}))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	// Only authenticated content comes out of rc. If a later part of the
	// stored file is damaged, the response cannot say so any more: it is
	// aborted (the connection closed, or the HTTP/2 stream reset) short of
	// its Content-Length, so that no client takes what it got for the file.
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil // the client went away
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			s.log.Error("download aborted: the stored file cannot be read", "request_id", requestIDFrom(r.Context()),
				"id", id, "upload", u.ID, "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// handleDeleteUploads is Mia's DELETE /teleconsultation/{id}/uploads: 200
// {total, deleted} with TELECONSULTATION_DELETE_UPLOADS=true, else 204.
// Who may delete is the domain's rule: a trusted caller acting for nobody,
// or a participant (session token, or an API key acting for them) who may
// read the uploads and has file_upload.
func (s *Server) handleDeleteUploads(w http.ResponseWriter, r *http.Request) error {
	id, err := roomID(r)
	if err != nil {
		return err
	}
	var res *teleconsult.UploadsDeleted
	if s.validAPIKey(r) {
		res, err = s.svc.DeleteUploads(r.Context(), id, s.userID(r))
	} else {
		a, aerr := s.admit(r, id)
		if aerr != nil {
			return aerr
		}
		res, err = s.svc.DeleteUploadsAs(r.Context(), a)
	}
	if err != nil {
		return err
	}
	if res == nil { // TELECONSULTATION_DELETE_UPLOADS=false
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	s.writeJSON(w, r, http.StatusOK, uploadsResponse{Total: res.Total, Deleted: res.Deleted})
	return nil
}
