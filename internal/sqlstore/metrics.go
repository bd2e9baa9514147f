package sqlstore

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Database latency is measured as a histogram of the store's operations
// (teleconsult_db_operation_duration_seconds{op}), not by a ping at scrape
// time: it is what requests and the outbox worker actually wait for,
// queueing for SQLite's one writer connection and PostgreSQL's pool
// included, at every operation rather than once per scrape (/readyz pings
// already). A cache hit of FindByID on SQLite counts too: it is the store
// answering.

// Operation names: the values of the op label.
const (
	opApply                = "apply"
	opFindByID             = "find_by_id"
	opFindByAppointment    = "find_by_appointment"
	opFindByLinkHash       = "find_by_link_hash"
	opProviderUsers        = "provider_users"
	opEnsureProviderUser   = "ensure_provider_user"
	opCountByState         = "count_by_state"
	opPing                 = "ping"
	opClaimOutbox          = "claim_outbox"
	opMarkOutbox           = "mark_outbox"
	opFindOutbox           = "find_outbox"
	opRecoverOutbox        = "recover_outbox"
	opOutboxStats          = "outbox_stats"
	opFindByProviderRoom   = "find_by_provider_room"
	opClaimEvent           = "claim_event"
	opReleaseEvent         = "release_event"
	opPresence             = "presence"
	opClearPresence        = "clear_presence"
	opAddUpload            = "add_upload"
	opUploads              = "uploads"
	opFindUpload           = "find_upload"
	opDeleteUploads        = "delete_uploads"
	opUploadIDs            = "upload_ids"
	opClaimWebhooks        = "claim_webhooks"
	opMarkWebhook          = "mark_webhook"
	opFindWebhooks         = "find_webhooks"
	opRecoverWebhooks      = "recover_webhooks"
	opCreateBlob           = "create_file"
	opWriteChunk           = "write_file_chunk"
	opOpenBlob             = "open_file"
	opReadChunk            = "read_file_chunk"
	opDeleteBlob           = "delete_file"
	opListBlobs            = "list_files"
	opCheckInNode          = "check_in_node"
	opTouchNode            = "touch_node"
	opAddBackground        = "add_background"
	opFindBackground       = "find_background"
	opSetDefaultBackground = "set_default_background"
	opDefaultBackground    = "default_background"
	opAppendAudit          = "append_audit"
	opFindAudit            = "find_audit"
)

var operations = []string{opApply, opFindByID, opFindByAppointment, opFindByLinkHash, opProviderUsers,
	opEnsureProviderUser, opCountByState, opPing, opClaimOutbox, opMarkOutbox, opFindOutbox, opRecoverOutbox,
	opOutboxStats, opFindByProviderRoom, opClaimEvent, opReleaseEvent, opPresence, opClearPresence,
	opAddUpload, opUploads, opFindUpload, opDeleteUploads, opUploadIDs,
	opClaimWebhooks, opMarkWebhook, opFindWebhooks, opRecoverWebhooks,
	opCreateBlob, opWriteChunk, opOpenBlob, opReadChunk, opDeleteBlob, opListBlobs, opCheckInNode, opTouchNode,
	opAppendAudit, opFindAudit,
	opAddBackground, opFindBackground, opSetDefaultBackground, opDefaultBackground}

// opBuckets reach from a cache hit (0.1 ms) to a stuck database (10 s).
var opBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newOpsHistogram() *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "teleconsult_db_operation_duration_seconds",
		Help:    "Time taken by store operations (SQLite or PostgreSQL), errors included, by operation.",
		Buckets: opBuckets,
	}, []string{"op"})
	for _, op := range operations {
		h.WithLabelValues(op)
	}
	return h
}

// observe records an operation that began at start; call it deferred.
func (db *DB) observe(op string, start time.Time) {
	if db.ops != nil {
		db.ops.WithLabelValues(op).Observe(time.Since(start).Seconds())
	}
}

// Collectors returns the database's metrics, to be registered once: the
// operation latency histogram and database/sql's pool statistics
// (go_sql_*, db_name "teleconsult" for the pool of PostgreSQL, or
// "teleconsult_write" and "teleconsult_read" for SQLite's two pools).
func (db *DB) Collectors() []prometheus.Collector {
	out := []prometheus.Collector{db.ops}
	if db.w == db.r {
		return append(out, collectors.NewDBStatsCollector(db.w, "teleconsult"))
	}
	return append(out, collectors.NewDBStatsCollector(db.w, "teleconsult_write"),
		collectors.NewDBStatsCollector(db.r, "teleconsult_read"))
}
