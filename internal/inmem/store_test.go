package inmem_test

import (
	"testing"

	"github.com/teleconsult/teleconsult/internal/inmem"
	"github.com/teleconsult/teleconsult/internal/storetest"
)

// TestStore runs the store contract, the SQL store's semantics, on the
// in-memory store.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		s := inmem.NewStore()
		return storetest.Stores{Store: s, Events: inmem.NewEvents(s), Uploads: &inmem.Uploads{}, Backgrounds: &inmem.Backgrounds{}, RecoverReleases: true,
			Tamper: func(_ *testing.T, op string, id int64) { s.TamperAudit(op, id) }}
	})
}
