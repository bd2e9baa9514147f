package inmem

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Uploads is an in-memory [teleconsult.UploadStore].
type Uploads struct {
	mu   sync.Mutex
	list []teleconsult.Upload
}

var _ teleconsult.UploadStore = (*Uploads)(nil)

// AddUpload implements [teleconsult.UploadStore.AddUpload].
func (s *Uploads) AddUpload(_ context.Context, u *teleconsult.Upload) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.CreatedAt = normTime(u.CreatedAt)
	s.list = append(s.list, *u)
	return nil
}

// Uploads implements [teleconsult.UploadStore.Uploads]: oldest first, as
// the SQL store orders them (by time, then id).
func (s *Uploads) Uploads(_ context.Context, id string) ([]teleconsult.Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []teleconsult.Upload
	for _, u := range s.list {
		if u.TeleconsultationID == id {
			out = append(out, u)
		}
	}
	slices.SortStableFunc(out, func(a, b teleconsult.Upload) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// FindUpload implements [teleconsult.UploadStore.FindUpload].
func (s *Uploads) FindUpload(_ context.Context, tcID, id string) (*teleconsult.Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.list {
		if u.TeleconsultationID == tcID && u.ID == id {
			return &u, nil
		}
	}
	return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "file %s not found", id)
}

// DeleteUploads implements [teleconsult.UploadStore.DeleteUploads].
func (s *Uploads) DeleteUploads(_ context.Context, tcID string) ([]teleconsult.Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []teleconsult.Upload
	s.list = slices.DeleteFunc(s.list, func(u teleconsult.Upload) bool {
		if u.TeleconsultationID == tcID {
			gone = append(gone, u)
			return true
		}
		return false
	})
	return gone, nil
}

// UploadIDs implements [teleconsult.UploadStore.UploadIDs].
func (s *Uploads) UploadIDs(context.Context) (map[string]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for _, u := range s.list {
		out[u.ID] = true
	}
	return out, nil
}
