package sqlstore

import (
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure a row read before a commit is not cached over the committed one,
// and that callers never share memory with the cache.
func TestCacheGenerations(t *testing.T) {
	c := newCache()
	old := &teleconsult.Teleconsultation{ID: "a", Version: 1, Participants: []teleconsult.Participant{{UserID: "u", Groups: []string{"g"}}}}
	got, gen := c.get("a")
	if got != nil {
		t.Fatal("hit on an empty cache")
	}
	// A commit lands between the reader's database read and its put.
	c.committed([]*teleconsult.Teleconsultation{{ID: "a", Version: 2}})
	c.put(old, gen)
	if got, _ := c.get("a"); got == nil || got.Version != 2 {
		t.Fatalf("cached %+v, want version 2", got)
	}
	// A read at the current generation is cached, as a copy.
	c.forget([]string{"a"})
	_, gen = c.get("a")
	c.put(old, gen)
	old.Participants[0].Groups[0] = "changed"
	got, _ = c.get("a")
	if got == nil || got.Participants[0].Groups[0] != "g" {
		t.Fatalf("cache shares memory with the caller: %+v", got)
	}
	got.Participants[0].UserID = "x"
	if again, _ := c.get("a"); again.Participants[0].UserID != "u" {
		t.Fatal("a returned copy changed the cache")
	}
	var none *tcCache // PostgreSQL: no cache
	if tc, _ := none.get("a"); tc != nil {
		t.Fatal("nil cache hit")
	}
	none.put(old, 0)
	none.committed(nil)
	none.forget(nil)
}

func TestCacheBounded(t *testing.T) {
	c := newCache()
	for i := range cacheSize + 10 {
		c.committed([]*teleconsult.Teleconsultation{{ID: string(rune(i + 1))}})
	}
	if n := len(c.byID); n != cacheSize {
		t.Fatalf("%d entries, want %d", n, cacheSize)
	}
}
