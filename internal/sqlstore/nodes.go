package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Settings fingerprints of the running replicas (table node_fingerprints,
// migration 00012), on PostgreSQL: each process records, when it starts, a
// keyed hash of each setting that every replica must share, renews it while
// it runs and removes it when it stops, so that a replica started with
// another value is found at once. Times are the database's (now()): the
// replicas' clocks may differ.

// errNodesPostgres is the error of the node methods on SQLite.
var errNodesPostgres = errors.New("sqlstore: replicas record their settings on PostgreSQL only")

// NodeFingerprint is one setting's fingerprint as a process recorded it.
type NodeFingerprint struct {
	// Node is the process's random id; Host its host name and address.
	Node, Host string
	// Setting is the variable's name; Fingerprint its value's keyed hash.
	Setting     string
	Fingerprint []byte
	// Age is how long ago the process last renewed its record.
	Age time.Duration
}

// nodeForget is how long the record of a process that stopped renewing it
// is kept before a starting process deletes it.
const nodeForget = 7 * 24 * time.Hour

// nodeCheckInLock is the key of the advisory lock of CheckInNode.
const nodeCheckInLock = 0x7463_6e6f_6465 // "tcnode"

// CheckInNode records the fingerprints of process node (on host) and
// returns those of the other processes that renewed theirs within live. In
// the same transaction it deletes the records of an earlier process on the
// same host (the same replica, restarted) and those not renewed for a week.
// Check-ins are serialised (an advisory lock).
// PostgreSQL only.
func (db *DB) CheckInNode(ctx context.Context, node, host string, fingerprints map[string][]byte, live time.Duration) ([]NodeFingerprint, error) {
	defer db.observe(opCheckInNode, time.Now())
	if db.dialect != DialectPostgres {
		return nil, errNodesPostgres
	}
	var others []NodeFingerprint
	err := db.inWriteTx(ctx, "check in node", func(tx *sql.Tx) error {
		// One check-in at a time: of two replicas starting together, the
		// second sees the first.
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", nodeCheckInLock); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM node_fingerprints
			WHERE node <> $1 AND (host = $2 OR seen_at < now() - make_interval(secs => $3))`,
			node, host, nodeForget.Seconds()); err != nil {
			return err
		}
		for setting, fp := range fingerprints {
			if _, err := tx.ExecContext(ctx, `INSERT INTO node_fingerprints (node, host, setting, fingerprint, seen_at)
				VALUES ($1, $2, $3, $4, now())
				ON CONFLICT (node, setting) DO UPDATE SET host = excluded.host, fingerprint = excluded.fingerprint, seen_at = now()`,
				node, host, setting, fp); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT node, host, setting, fingerprint, extract(epoch FROM now() - seen_at)
			FROM node_fingerprints WHERE node <> $1 AND seen_at >= now() - make_interval(secs => $2)
			ORDER BY seen_at DESC, node, setting`, node, live.Seconds())
		if err != nil {
			return err
		}
		defer func() { _ = rows.Close() }() // read only; rows.Err below reports
		for rows.Next() {
			var (
				f   NodeFingerprint
				age float64
			)
			if err := rows.Scan(&f.Node, &f.Host, &f.Setting, &f.Fingerprint, &age); err != nil {
				return err
			}
			f.Age = time.Duration(age * float64(time.Second))
			others = append(others, f)
		}
		return rows.Err()
	})
	return others, err
}

// TouchNode renews the record of process node. PostgreSQL only.
func (db *DB) TouchNode(ctx context.Context, node string) error {
	defer db.observe(opTouchNode, time.Now())
	if db.dialect != DialectPostgres {
		return errNodesPostgres
	}
	_, err := db.w.ExecContext(ctx, "UPDATE node_fingerprints SET seen_at = now() WHERE node = $1", node)
	return dbErr0("touch node", err)
}

// RemoveNode deletes the record of process node, which is stopping.
// PostgreSQL only.
func (db *DB) RemoveNode(ctx context.Context, node string) error {
	if db.dialect != DialectPostgres {
		return errNodesPostgres
	}
	_, err := db.w.ExecContext(ctx, "DELETE FROM node_fingerprints WHERE node = $1", node)
	return dbErr0("remove node", err)
}
