package teleconsult

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// DefaultUploadMaxBytes is UPLOAD_MAX_BYTES's default: 10 MiB.
const DefaultUploadMaxBytes = 10 << 20

// Upload is a file a participant uploaded to a teleconsultation (tool
// file_upload). Its Name is patient data (file names say things): it is
// encrypted at rest and never logged.
type Upload struct {
	// ID is random (128 bits, hex); the file is stored under it.
	ID                 string
	TeleconsultationID string
	// UploadedBy is the uploader's participant id (provider user id).
	UploadedBy  string
	Name        string
	ContentType string
	Size        int64
	CreatedAt   time.Time
}

// UploadStore keeps the uploads' records (implemented by the SQL store).
type UploadStore interface {
	// AddUpload records an upload whose file is already stored.
	AddUpload(ctx context.Context, u *Upload) error
	// Uploads lists a teleconsultation's uploads, oldest first.
	Uploads(ctx context.Context, teleconsultationID string) ([]Upload, error)
	// FindUpload returns ENOTFOUND unless the upload exists in that
	// teleconsultation.
	FindUpload(ctx context.Context, teleconsultationID, id string) (*Upload, error)
	// DeleteUploads removes a teleconsultation's upload records and
	// returns them (their files are deleted after the commit).
	DeleteUploads(ctx context.Context, teleconsultationID string) ([]Upload, error)
	// UploadIDs returns the ids of every recorded upload.
	UploadIDs(ctx context.Context) (map[string]bool, error)
}

// FileStore keeps the uploaded files' bytes, encrypted (internal/files: on
// this node's disk with SQLite, in the database that every replica reads
// with PostgreSQL).
type FileStore interface {
	// Put stores r under id durably (it is complete and durable when Put
	// returns) and returns its size. More than max bytes is ETOOLARGE and
	// nothing is left.
	Put(ctx context.Context, id string, r io.Reader, max int64) (size int64, err error)
	// Open returns the file's content. Content that is not what Put
	// stored (damaged or altered) is an EDAMAGED error, from Open or from
	// a Read; no byte of it is returned.
	Open(ctx context.Context, id string) (io.ReadCloser, error)
	// Delete removes a file; a missing file is not an error.
	Delete(ctx context.Context, id string) error
	// List returns the ids of every stored file. A store shared by
	// several replicas leaves out the files stored recently, which
	// another replica may still be writing or about to record.
	List(ctx context.Context) ([]string, error)
}

// CallNotifier tells the people in a call about things at once (the
// built-in SFU). Optional.
type CallNotifier interface {
	UploadAdded(teleconsultationID string, u *Upload, uploaderName string)
}

// SanitizeFileName keeps the last element of a client's file name, without
// control characters, format characters (Unicode category Cf: the
// bidirectional overrides and isolates U+202A–U+202E and U+2066–U+2069, the
// marks U+200E and U+200F, zero-width characters, the soft hyphen), line
// and paragraph separators, invalid UTF-8 and double quotes, at most 200
// characters; "file" when nothing is left. A name shows as what it is:
// "report\u202Egpj.exe" cannot pass for "reportexe.jpg".
func SanitizeFileName(name string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	name = path.Base("/" + name)
	var b strings.Builder
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError || r == '"' || r == 0x2028 || r == 0x2029 {
			continue
		}
		b.WriteRune(r)
	}
	name = b.String()
	if runes := []rune(name); len(runes) > 200 {
		name = string(runes[len(runes)-200:])
	}
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." || name == "/" {
		return "file"
	}
	return name
}

func (s *Service) uploadsConfigured() error {
	if s.Uploads == nil || s.Files == nil {
		return Errorf(EUNAVAILABLE, "uploads are not available on this server")
	}
	return nil
}

// AddUpload stores a file uploaded by an admitted participant who has the
// file_upload tool. Its type must be allowed and its content of that type
// ([CheckUploadType]); it is checked on the first bytes before anything is
// stored. The file is made durable before its record is committed, so a
// crash leaves at most an orphan file (removed by [Service.SweepUploads]),
// never a record without its file.
func (s *Service) AddUpload(ctx context.Context, a *Admission, name string, r io.Reader) (up *Upload, err error) {
	rec := s.audit(ctx, AuditUploadAdd, a.TeleconsultationID)
	rec.participant(a.UserID, a.ParticipantID)
	defer func() {
		if err = rec.done(ctx, err); err != nil {
			up = nil
		}
	}()
	if err := s.uploadsConfigured(); err != nil {
		return nil, err
	}
	if !a.Tools.FileUpload {
		return nil, Errorf(EFORBIDDEN, "file upload is not allowed for you")
	}
	max := s.Settings.UploadMaxBytes
	if max <= 0 {
		max = DefaultUploadMaxBytes
	}
	u := &Upload{ID: NewID(), TeleconsultationID: a.TeleconsultationID, UploadedBy: a.ParticipantID,
		Name: SanitizeFileName(name), CreatedAt: s.now()}
	rec.e.Object = u.ID
	head := make([]byte, SniffLen)
	n, err := io.ReadFull(r, head)
	switch {
	case errors.Is(err, io.EOF):
		return nil, invalid("file: the file is empty")
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		// The cause stays in the chain: the HTTP layer tells a body over
		// its own limit (413) from a dropped connection.
		return nil, &Error{Code: EINVALID, Message: "the upload was interrupted", Err: err}
	}
	head = head[:n]
	if u.ContentType, err = CheckUploadType(u.Name, head, s.Settings.UploadTypes); err != nil {
		return nil, err
	}
	if u.Size, err = s.Files.Put(ctx, u.ID, io.MultiReader(bytes.NewReader(head), r), max); err != nil {
		return nil, err
	}
	if err := s.Uploads.AddUpload(ctx, u); err != nil {
		if derr := s.Files.Delete(ctx, u.ID); derr != nil {
			s.log().Warn("could not delete an upload's file after its record failed", "upload", u.ID, "err", derr)
		}
		return nil, err
	}
	s.log().Info("upload added", "id", a.TeleconsultationID, "upload", u.ID, "size", u.Size)
	if s.Calls != nil {
		s.Calls.UploadAdded(a.TeleconsultationID, u, a.DisplayName)
	}
	return u, nil
}

// ListUploads returns the uploads of the participant's teleconsultation.
func (s *Service) ListUploads(ctx context.Context, a *Admission) (ups []Upload, err error) {
	rec := s.audit(ctx, AuditUploadsList, a.TeleconsultationID)
	rec.participant(a.UserID, a.ParticipantID)
	defer func() {
		if err = rec.done(ctx, err); err != nil {
			ups = nil
		}
	}()
	if err := s.uploadsConfigured(); err != nil {
		return nil, err
	}
	return s.Uploads.Uploads(ctx, a.TeleconsultationID)
}

// OpenUpload returns an upload of the participant's teleconsultation and
// its content; ENOTFOUND for an id of another teleconsultation.
func (s *Service) OpenUpload(ctx context.Context, a *Admission, id string) (u *Upload, rc io.ReadCloser, err error) {
	rec := s.audit(ctx, AuditUploadDownload, a.TeleconsultationID)
	rec.participant(a.UserID, a.ParticipantID)
	rec.e.Object = id
	defer func() {
		if err = rec.done(ctx, err); err != nil {
			if rc != nil {
				_ = rc.Close() // not given out unrecorded
			}
			u, rc = nil, nil
		}
	}()
	if err := s.uploadsConfigured(); err != nil {
		return nil, nil, err
	}
	u, err = s.Uploads.FindUpload(ctx, a.TeleconsultationID, id)
	if err != nil {
		return nil, nil, err
	}
	rc, err = s.Files.Open(ctx, u.ID)
	if err != nil {
		return nil, nil, err
	}
	return u, rc, nil
}

// deleteLocalUploads deletes the uploads kept by this service (the built-in
// provider's): records first, then files.
func (s *Service) deleteLocalUploads(ctx context.Context, teleconsultationID string) (total, deleted int, err error) {
	if s.Uploads == nil || s.Files == nil {
		return 0, 0, nil
	}
	gone, err := s.Uploads.DeleteUploads(ctx, teleconsultationID)
	if err != nil {
		return 0, 0, err
	}
	for _, u := range gone {
		if err := s.Files.Delete(ctx, u.ID); err != nil {
			s.log().Warn("could not delete an upload's file; the sweep at next start removes it", "upload", u.ID, "err", err)
			continue
		}
		deleted++
	}
	if len(gone) > 0 {
		s.log().Info("uploads deleted", "id", teleconsultationID, "total", len(gone), "deleted", deleted)
	}
	return len(gone), deleted, nil
}

// SweepUploads removes stored files that no record names: what a crash
// between storing a file and committing its record, or between deleting a
// record and its file, leaves behind. Run it at start.
func (s *Service) SweepUploads(ctx context.Context) (removed int, err error) {
	if s.Uploads == nil || s.Files == nil {
		return 0, nil
	}
	ids, err := s.Files.List(ctx)
	if err != nil {
		return 0, err
	}
	known, err := s.Uploads.UploadIDs(ctx)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if !known[id] {
			if err := s.Files.Delete(ctx, id); err != nil {
				return removed, err
			}
			removed++
		}
	}
	return removed, nil
}
