package inmem

import (
	"context"
	"crypto/rand"
	"slices"
	"strconv"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// audit is the audit trail of [Store]; guarded by Store.mu.
type audit struct {
	chain   *teleconsult.AuditChain
	entries []teleconsult.AuditEntry // in id order
	head    teleconsult.AuditHead
	anchor  teleconsult.AuditAnchor
}

// UseKeys makes the store chain its audit trail under keys' audit key, as
// the SQL store does with its keyring. Without it the store uses a key of
// its own, made at random. Call it before the first append.
func (s *Store) UseKeys(keys *teleconsult.Keyring) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audit.chain = keys.AuditChain()
}

// chainer returns the audit chain, making a random key if none was given.
func (a *audit) chainer() *teleconsult.AuditChain {
	if a.chain == nil {
		master := make([]byte, teleconsult.KeySize)
		_, _ = rand.Read(master) // never fails (crypto/rand)
		k, err := teleconsult.NewKeyring(master)
		if err != nil {
			panic(err) // the size is right
		}
		a.chain = k.AuditChain()
	}
	return a.chain
}

// append chains and stores entries; the caller has checked them.
func (a *audit) append(entries []teleconsult.AuditEntry) {
	for i := range entries {
		entries[i].Time = normTime(entries[i].Time)
	}
	a.head = a.chainer().Extend(a.head, entries)
	for _, e := range entries {
		e.Hash = slices.Clone(e.Hash)
		a.entries = append(a.entries, e)
	}
}

// AppendAudit implements [teleconsult.AuditStore.AppendAudit].
func (s *Store) AppendAudit(_ context.Context, entries []teleconsult.AuditEntry) error {
	if err := teleconsult.CheckAuditEntries(entries); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audit.append(entries)
	return nil
}

// FindAudit implements [teleconsult.AuditStore.FindAudit].
func (s *Store) FindAudit(_ context.Context, q teleconsult.AuditQuery) ([]teleconsult.AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q.From, q.To = normTime(q.From), normTime(q.To) // as the SQL store compares them
	var out []teleconsult.AuditEntry
	for _, e := range s.audit.entries {
		switch {
		case len(out) >= q.Limit:
			return out, nil
		case e.ID <= q.After,
			q.TeleconsultationID != "" && e.TeleconsultationID != q.TeleconsultationID,
			!q.From.IsZero() && e.Time.Before(q.From),
			!q.To.IsZero() && !e.Time.Before(q.To):
			continue
		}
		e.Hash = slices.Clone(e.Hash)
		out = append(out, e)
	}
	return out, nil
}

// VerifyAudit implements [teleconsult.AuditStore.VerifyAudit].
func (s *Store) VerifyAudit(_ context.Context) (*teleconsult.AuditVerification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.audit.chainer().Verifier(s.audit.anchor)
	for i := range s.audit.entries {
		if !v.Next(&s.audit.entries[i]) {
			break
		}
	}
	return v.End(s.audit.head), nil
}

// PruneAudit implements [teleconsult.AuditStore.PruneAudit].
func (s *Store) PruneAudit(_ context.Context, before time.Time, record teleconsult.AuditEntry) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &s.audit
	rec := []teleconsult.AuditEntry{record}
	if err := teleconsult.CheckAuditEntries(rec); err != nil {
		return 0, err
	}
	n := 0
	for i, e := range a.entries {
		if e.Time.Before(before) {
			n = i + 1
		}
	}
	if n == 0 {
		return 0, nil
	}
	last := a.entries[n-1]
	a.anchor = a.chainer().Anchor(last.ID, last.Hash)
	a.entries = slices.Delete(a.entries, 0, n)
	rec[0].Object = strconv.FormatInt(last.ID, 10)
	a.append(rec)
	return n, nil
}

// TamperAudit changes the stored audit trail behind the chain's back, for
// the tests that check that [Store.VerifyAudit] notices: "edit" changes
// entry id's outcome, "delete" removes it.
func (s *Store) TamperAudit(op string, id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &s.audit
	i := slices.IndexFunc(a.entries, func(e teleconsult.AuditEntry) bool { return e.ID == id })
	if i < 0 {
		return
	}
	switch op {
	case "edit":
		a.entries[i].Outcome = "tampered"
	case "delete":
		a.entries = slices.Delete(a.entries, i, i+1)
	}
}
