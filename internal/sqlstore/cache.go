package sqlstore

import (
	"sync"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// cacheSize bounds the teleconsultations kept decoded in memory.
const cacheSize = 10000

// tcCache keeps recently read or written teleconsultations, decoded and
// decrypted, by id. It is used with SQLite only, where this process is the
// database's one writer, so every change passes through Apply, which writes
// the cache through after committing. (PostgreSQL may have several replicas
// writing, so it is not cached.)
//
// A reader that loaded a row before a commit must not put that stale row
// back after Apply wrote the new one: gen counts commits, and a read is put
// only if no commit happened since the reader took gen.
type tcCache struct {
	mu   sync.Mutex
	gen  uint64
	byID map[string]*teleconsult.Teleconsultation
}

func newCache() *tcCache {
	return &tcCache{byID: make(map[string]*teleconsult.Teleconsultation)}
}

// get returns a copy of the cached teleconsultation, or nil, and the
// generation to give put after a miss.
func (c *tcCache) get(id string) (*teleconsult.Teleconsultation, uint64) {
	if c == nil {
		return nil, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if tc, ok := c.byID[id]; ok {
		return tc.Clone(), c.gen
	}
	return nil, c.gen
}

// put caches a teleconsultation read from the database at generation gen.
func (c *tcCache) put(tc *teleconsult.Teleconsultation, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen == c.gen {
		c.store(tc.Clone())
	}
}

// committed writes through what a commit stored.
func (c *tcCache) committed(tcs []*teleconsult.Teleconsultation) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, tc := range tcs {
		c.store(tc.Clone())
	}
}

// forget drops ids after a write whose outcome is unknown.
func (c *tcCache) forget(ids []string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		delete(c.byID, id)
	}
}

func (c *tcCache) store(tc *teleconsult.Teleconsultation) {
	if _, ok := c.byID[tc.ID]; !ok && len(c.byID) >= cacheSize {
		for id := range c.byID { // evict one at random
			delete(c.byID, id)
			break
		}
	}
	c.byID[tc.ID] = tc
}
