package teleconsult

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"strconv"
)

// AuditChain computes the keyed hashes that chain the audit trail's
// entries: entry n's hash is HMAC-SHA256, under a key derived from the
// master key ([Keyring.AuditChain]), of entry n-1's hash and every field of
// entry n, its id included. Without the key nobody can make a chain that
// verifies, so an entry edited, deleted or inserted by hand breaks it from
// that entry on. Stores use it to extend the chain under their append lock,
// and to verify it ([AuditVerifier]).
type AuditChain struct{ key []byte }

// AuditChain returns the chain hasher of the audit trail.
func (k *Keyring) AuditChain() *AuditChain { return &AuditChain{key: k.audit} }

// AuditHead is the last entry of the chain: its id and hash. The zero head
// is an empty chain.
type AuditHead struct {
	ID   int64
	Hash []byte
}

// AuditAnchor is where a pruned chain starts: the id and hash of the last
// pruned entry, sealed by a MAC under the chain key so that it cannot be
// moved forward to hide deleted entries. The zero anchor is an unpruned
// chain, which starts at entry 1.
type AuditAnchor struct {
	ID   int64
	Hash []byte
	MAC  []byte
}

func (c *AuditChain) mac(parts ...[]byte) []byte {
	m := hmac.New(sha256.New, c.key)
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		m.Write(n[:])
		m.Write(p)
	}
	return m.Sum(nil)
}

// u64 encodes v in 8 bytes, two's complement (ids and times fit).
func u64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) } //nolint:gosec // G115: a bit-for-bit encoding, not arithmetic

// Hash returns entry e's hash after the previous entry's hash prev (nil
// for entry 1). e.Time must already be in microseconds (as stored).
func (c *AuditChain) Hash(prev []byte, e *AuditEntry) []byte {
	return c.mac([]byte("teleconsult audit entry v1"), prev, u64(e.ID), u64(e.Time.UnixMicro()),
		[]byte(e.Kind), []byte(e.KeyID), []byte(e.UserID), []byte(e.ParticipantID), []byte(e.RequestID),
		[]byte(e.ClientAddr), []byte(e.TeleconsultationID), []byte(e.Action), []byte(e.Object), []byte(e.Outcome))
}

// Extend numbers and hashes entries after head, in place, and returns the
// new head.
func (c *AuditChain) Extend(head AuditHead, entries []AuditEntry) AuditHead {
	for i := range entries {
		e := &entries[i]
		e.ID = head.ID + 1
		e.Hash = c.Hash(head.Hash, e)
		head = AuditHead{ID: e.ID, Hash: e.Hash}
	}
	return head
}

// Anchor seals the anchor of a chain pruned through entry id, whose hash
// is hash.
func (c *AuditChain) Anchor(id int64, hash []byte) AuditAnchor {
	return AuditAnchor{ID: id, Hash: hash, MAC: c.mac([]byte("teleconsult audit anchor v1"), u64(id), hash)}
}

// AuditVerification is the result of verifying the chain.
type AuditVerification struct {
	// Anchor is the id of the last pruned entry (0: never pruned).
	Anchor int64
	// Entries is how many entries were checked; First and Last their
	// ids.
	Entries     int
	First, Last int64
	// Head is the chain's head as stored.
	Head AuditHead
	// Break is the first place where the chain does not verify; nil
	// when it all does.
	Break *AuditBreak
}

// AuditBreak is where a chain stops verifying.
type AuditBreak struct {
	// ID is the first entry that does not verify (or is missing).
	ID     int64
	Reason string
}

// AuditVerifier checks a chain entry by entry, in id order: a store feeds
// it its anchor, then its entries, then its head.
type AuditVerifier struct {
	c    *AuditChain
	prev AuditHead
	res  AuditVerification
}

// Verifier starts verifying a chain that begins after anchor.
func (c *AuditChain) Verifier(anchor AuditAnchor) *AuditVerifier {
	v := &AuditVerifier{c: c, prev: AuditHead{ID: anchor.ID, Hash: anchor.Hash}}
	v.res.Anchor = anchor.ID
	if anchor.ID != 0 || len(anchor.Hash) != 0 || len(anchor.MAC) != 0 {
		if want := c.Anchor(anchor.ID, anchor.Hash); !hmac.Equal(want.MAC, anchor.MAC) {
			v.res.Break = &AuditBreak{ID: anchor.ID + 1, Reason: "the pruning anchor (entry " + strconv.FormatInt(anchor.ID, 10) + ") was altered"}
		}
	}
	return v
}

// Next checks the next entry; it returns false once the chain is broken
// (the rest need not be fed).
func (v *AuditVerifier) Next(e *AuditEntry) bool {
	if v.res.Break != nil {
		return false
	}
	want := v.prev.ID + 1
	switch {
	case e.ID < want:
		v.res.Break = &AuditBreak{ID: e.ID, Reason: "entry " + strconv.FormatInt(e.ID, 10) + " is out of order (expected " + strconv.FormatInt(want, 10) + ")"}
	case e.ID > want:
		reason := "entry " + strconv.FormatInt(want, 10) + " is missing"
		if e.ID > want+1 {
			reason = "entries " + strconv.FormatInt(want, 10) + " to " + strconv.FormatInt(e.ID-1, 10) + " are missing"
		}
		v.res.Break = &AuditBreak{ID: want, Reason: reason + " (deleted)"}
	case !hmac.Equal(v.c.Hash(v.prev.Hash, e), e.Hash):
		v.res.Break = &AuditBreak{ID: e.ID, Reason: "entry " + strconv.FormatInt(e.ID, 10) + " was altered (or an earlier one was replaced)"}
	}
	if v.res.Break != nil {
		return false
	}
	if v.res.Entries == 0 {
		v.res.First = e.ID
	}
	v.res.Entries++
	v.res.Last = e.ID
	v.prev = AuditHead{ID: e.ID, Hash: e.Hash}
	return true
}

// End checks that the last entry is the stored head, and returns the
// result.
func (v *AuditVerifier) End(head AuditHead) *AuditVerification {
	v.res.Head = head
	if v.res.Break == nil {
		switch {
		case head.ID > v.prev.ID:
			v.res.Break = &AuditBreak{ID: v.prev.ID + 1, Reason: "the chain's head is entry " + strconv.FormatInt(head.ID, 10) +
				": the entries after " + strconv.FormatInt(v.prev.ID, 10) + " are missing (deleted)"}
		case head.ID < v.prev.ID || !hmac.Equal(head.Hash, v.prev.Hash):
			v.res.Break = &AuditBreak{ID: head.ID, Reason: "the chain's head (entry " + strconv.FormatInt(head.ID, 10) + ") does not match its last entry " + strconv.FormatInt(v.prev.ID, 10)}
		}
	}
	res := v.res
	return &res
}
