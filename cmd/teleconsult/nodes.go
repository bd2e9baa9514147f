package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/teleconsult/teleconsult/internal/sqlstore"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Replicas on one PostgreSQL serve one deployment: a session token, a
// personal link or a stored name made by one is used on another. So they
// must share some settings. At start each replica records a keyed hash of
// each of them (never the value) and compares it with those of the
// replicas running: a different ENCRYPTION_KEY or PUBLIC_URL refuses the
// start, naming the setting; any other difference is logged as an error.
// With SQLite there is one process and nothing to compare.

// How often a replica renews its record, and how long a record counts as a
// running replica's (three renewals missed).
const (
	nodeHeartbeat = 30 * time.Second
	nodeLive      = 3 * nodeHeartbeat
)

// sharedSetting is a setting that every replica must have the same.
type sharedSetting struct {
	name  string
	value []byte
	// fatal refuses a replica whose value differs: what one replica
	// writes or signs would not work on the other.
	fatal bool
}

// sharedSettings returns the settings every replica must share, each with
// its value in a canonical form. ENCRYPTION_KEY has no value: its
// fingerprint is keyed by the key itself.
func sharedSettings(cfg *Config, apiKeys *APIKeys) []sharedSetting {
	hashes := apiKeys.Hashes()
	slices.SortFunc(hashes, bytes.Compare)
	service, err := json.Marshal(cfg.ServiceConfig)
	if err != nil { // a struct of plain fields always marshals
		service = []byte(err.Error())
	}
	st := cfg.Settings()
	return []sharedSetting{
		// Everything stored is encrypted, and every token signed, with
		// keys derived from it.
		{name: "ENCRYPTION_KEY", fatal: true},
		// The session tokens' issuer, the personal links' base and the
		// call page's origin.
		{name: "PUBLIC_URL", value: []byte(cfg.PublicURL), fatal: true},
		{name: "API_KEYS", value: bytes.Join(hashes, nil)},
		{name: "VIDEO_PROVIDER", value: []byte(cfg.VideoProvider)},
		{name: "TELECONSULTATION_SERVICE_CONFIG_PATH", value: service},
		{name: "IMMUTABLE_PERIOD_MS", value: strconv.AppendInt(nil, st.ImmutablePeriod.Milliseconds(), 10)},
		{name: "UNLIMITED_TELECONSULTATION", value: strconv.AppendBool(nil, st.Unlimited)},
		{name: "LIVE_TELECONSULTATION", value: strconv.AppendBool(nil, st.Live)},
		{name: "TELECONSULTATION_DELETE_UPLOADS", value: strconv.AppendBool(nil, st.DeleteUploads)},
		{name: "UPLOAD_MAX_BYTES", value: strconv.AppendInt(nil, st.UploadMaxBytes, 10)},
		{name: "UPLOAD_ALLOWED_TYPES", value: []byte(strings.Join(st.UploadTypes, ","))},
		{name: "SESSION_TTL", value: []byte(st.SessionTTL.String())},
	}
}

// nodeRecord is this replica's record among the replicas'.
type nodeRecord struct {
	db   *sqlstore.DB
	id   string
	stop context.CancelFunc
	done sync.WaitGroup
}

// checkInNode records this replica's fingerprints on PostgreSQL and
// compares them with the running replicas': it returns an error naming
// each fatal setting that differs, and logs the others. While the service
// runs, the record is renewed; Close removes it.
func (m *Main) checkInNode(ctx context.Context, keys *teleconsult.Keyring, apiKeys *APIKeys) error {
	if m.DB.Dialect() != sqlstore.DialectPostgres {
		return nil
	}
	settings := sharedSettings(m.Config, apiKeys)
	fps := make(map[string][]byte, len(settings))
	for _, s := range settings {
		fps[s.name] = keys.Fingerprint(s.name, s.value)
	}
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "unknown-host"
	}
	host := hostname + " " + m.listener.Addr().String()
	id := teleconsult.NewID()
	others, err := m.DB.CheckInNode(ctx, id, host, fps, nodeLive)
	if err != nil {
		return fmt.Errorf("recording this replica's settings in the database: %w", err)
	}
	if err := m.compareNodes(settings, fps, others); err != nil {
		_ = m.DB.RemoveNode(ctx, id) // best effort: it lapses after nodeLive anyway
		return err
	}
	replicas := map[string]bool{}
	for _, o := range others {
		replicas[o.Node] = true
	}
	m.Logger.Info("replica settings recorded", "node", id, "other_replicas", len(replicas))
	rec := &nodeRecord{db: m.DB, id: id}
	beat, stop := context.WithCancel(context.Background())
	rec.stop = stop
	rec.done.Go(func() { rec.renew(beat, m) })
	m.closers = append(m.closers, rec.close)
	return nil
}

// compareNodes compares this replica's fingerprints with the others'.
func (m *Main) compareNodes(settings []sharedSetting, fps map[string][]byte, others []sqlstore.NodeFingerprint) error {
	var fatal []string
	for _, s := range settings {
		for _, o := range others {
			if o.Setting != s.name || bytes.Equal(o.Fingerprint, fps[s.name]) {
				continue
			}
			seen := o.Age.Round(time.Second).String()
			if s.name == "ENCRYPTION_KEY" {
				// Every other fingerprint is keyed by it: nothing
				// else can be compared.
				return fmt.Errorf("ENCRYPTION_KEY differs from the one of the replica on %s (renewed %s ago) on the same database: "+
					"every replica must use the same ENCRYPTION_KEY (what one stores or signs, another cannot read or check)", o.Host, seen)
			}
			if s.fatal {
				fatal = append(fatal, fmt.Sprintf("%s differs from the one of the replica on %s (renewed %s ago)", s.name, o.Host, seen))
			} else {
				m.Logger.Error("a setting differs from another replica's on the same database: every replica should have the same",
					"setting", s.name, "replica", o.Host)
			}
			break
		}
	}
	if len(fatal) > 0 {
		return fmt.Errorf("%s: every replica must have the same (session tokens, personal links and the call page depend on it); "+
			"to change it, stop every replica, then start them with the new value", strings.Join(fatal, "; "))
	}
	return nil
}

// renew renews the record until ctx is done.
func (r *nodeRecord) renew(ctx context.Context, m *Main) {
	t := time.NewTicker(nodeHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tctx, cancel := context.WithTimeout(ctx, nodeHeartbeat)
			if err := r.db.TouchNode(tctx, r.id); err != nil && ctx.Err() == nil {
				m.Logger.Warn("could not renew this replica's record of its settings", "node", r.id, "err", err)
			}
			cancel()
		}
	}
}

// close stops the renewal and removes the record.
func (r *nodeRecord) close() error {
	r.stop()
	r.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.db.RemoveNode(ctx, r.id)
}
