package inmem

import (
	"context"
	"slices"
	"sync"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Backgrounds is an in-memory [teleconsult.BackgroundStore].
type Backgrounds struct {
	mu     sync.Mutex
	images map[string]teleconsult.Background
	def    string
}

var _ teleconsult.BackgroundStore = (*Backgrounds)(nil)

// AddBackground implements [teleconsult.BackgroundStore.AddBackground].
func (s *Backgrounds) AddBackground(_ context.Context, b *teleconsult.Background) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.images == nil {
		s.images = map[string]teleconsult.Background{}
	}
	if _, ok := s.images[b.Alias]; ok {
		return teleconsult.Errorf(teleconsult.ECONFLICT, "a background with that alias exists")
	}
	c := *b
	c.CreatedAt = normTime(c.CreatedAt)
	c.Data = slices.Clone(b.Data)
	s.images[b.Alias] = c
	return nil
}

// FindBackground implements [teleconsult.BackgroundStore.FindBackground].
func (s *Backgrounds) FindBackground(_ context.Context, alias string) (*teleconsult.Background, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.images[alias]
	if !ok {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "no background with that alias")
	}
	b.Data = slices.Clone(b.Data)
	return &b, nil
}

// SetDefaultBackground implements
// [teleconsult.BackgroundStore.SetDefaultBackground].
func (s *Backgrounds) SetDefaultBackground(_ context.Context, alias string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.images[alias]; !ok {
		return teleconsult.Errorf(teleconsult.ENOTFOUND, "no background with that alias")
	}
	s.def = alias
	return nil
}

// DefaultBackground implements
// [teleconsult.BackgroundStore.DefaultBackground].
func (s *Backgrounds) DefaultBackground(_ context.Context) (*teleconsult.Background, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.images[s.def]
	if s.def == "" || !ok {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "no default background")
	}
	b.Data = nil
	return &b, nil
}
