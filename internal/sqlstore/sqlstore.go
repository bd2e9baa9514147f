// Package sqlstore is the SQL store adapter: it implements
// [teleconsult.Store] over SQLite (the default, one file under DATA_DIR) and
// PostgreSQL (production, shared by stateless replicas).
//
// Both databases get the same schema, written twice (migrations/sqlite and
// migrations/postgres, embedded and applied by [DB.Migrate] with goose).
// Participants' full names and emails are encrypted with the
// [teleconsult.Keyring] before they reach the database; email look-ups go
// through a keyed hash (blind index). Errors never carry names, emails or
// other column values: they name ids and rules only.
//
// Times are stored in UTC with microsecond precision (PostgreSQL's); [DB.Apply]
// normalises the written structs the same way, so a teleconsultation read
// back is equal to the one written.
//
// Concurrency: on SQLite every write transaction runs on one dedicated
// connection (BEGIN IMMEDIATE), so writers queue in Go instead of spinning on
// SQLITE_BUSY, while reads use a separate pool of read-only connections (WAL
// lets them run during a write). On PostgreSQL updates are compare-and-swap on
// a version column and appointment uniqueness is a partial unique index.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/prometheus/client_golang/prometheus"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Dialect names returned by [DB.Dialect].
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Pool limits.
const (
	// sqliteBusyTimeout is how long a SQLite connection waits for a lock
	// held by another process (within this process writes are queued on
	// the single writer connection).
	sqliteBusyTimeout = 5 * time.Second
	pgMaxOpenConns    = 10
	pgMaxIdleConns    = 10
	pgConnMaxIdleTime = 5 * time.Minute
	pgConnMaxLifetime = time.Hour
)

// DB is a Teleconsult database: SQLite or PostgreSQL. It is safe for
// concurrent use.
type DB struct {
	dialect string
	// w runs write transactions. On SQLite it holds exactly one
	// connection; on PostgreSQL it is the same pool as r.
	w *sql.DB
	// r runs reads. On SQLite its connections are query-only.
	r    *sql.DB
	keys *teleconsult.Keyring
	// stmts caches prepared read statements by query text: parsing a
	// query costs more than running it on a hot path such as GET.
	stmts sync.Map
	// auditStmts are the audit trail's append statements, prepared on the
	// writer pool on first use (audit.go).
	auditStmtsMu sync.Mutex
	auditStmts   *auditStmts
	// cache holds decoded teleconsultations (SQLite only; nil otherwise).
	cache *tcCache
	// ops times every store operation (metrics.go).
	ops *prometheus.HistogramVec
	// auditQ is the group commit of AppendAudit, auditSync its deferred
	// sync on SQLite (audit.go).
	auditQ    auditQueue
	auditSync auditSyncer
}

// prepared returns the read statement for query, preparing it once.
func (db *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := db.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(query, st); loaded {
		_ = st.Close() // a duplicate nobody used: only prev is kept
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

var _ teleconsult.Store = (*DB)(nil)

// Open connects to the database named by dsn and pings it. A dsn starting
// with postgres:// or postgresql:// is a PostgreSQL connection URL (pgx);
// anything else is the path of a SQLite database file, created if missing
// (with mode 0600) but not its directory. Open does not migrate: call
// [DB.Migrate]. keys encrypts and decrypts patient data. Errors name the
// problem and never the password.
func Open(ctx context.Context, dsn string, keys *teleconsult.Keyring) (*DB, error) {
	if keys == nil {
		return nil, errors.New("sqlstore: no encryption keyring given")
	}
	open := openSQLite
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		open = openPostgres
	}
	db, err := open(ctx, dsn, keys)
	if err != nil {
		return nil, err
	}
	db.ops = newOpsHistogram()
	return db, nil
}

func openPostgres(ctx context.Context, dsn string, keys *teleconsult.Keyring) (*DB, error) {
	where, secrets := redactURL(dsn)
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, maskErr(fmt.Sprintf("sqlstore: invalid PostgreSQL URL %s", where), err, secrets)
	}
	pool.SetMaxOpenConns(pgMaxOpenConns)
	pool.SetMaxIdleConns(pgMaxIdleConns)
	pool.SetConnMaxIdleTime(pgConnMaxIdleTime)
	pool.SetConnMaxLifetime(pgConnMaxLifetime)
	if err := pool.PingContext(ctx); err != nil {
		_ = pool.Close() // the connection error is the one to report
		return nil, maskErr(fmt.Sprintf("sqlstore: cannot connect to PostgreSQL at %s", where), err, secrets)
	}
	return &DB{dialect: DialectPostgres, w: pool, r: pool, keys: keys}, nil
}

func openSQLite(ctx context.Context, path string, keys *teleconsult.Keyring) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlstore: empty database path: give a SQLite file path or a postgres:// URL")
	}
	if path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlstore: %q: give a SQLite database file path (not an in-memory database or a file: URI) or a postgres:// URL", path)
	}
	// Create the file ourselves so that it (and, after it, the -wal and
	// -shm files, which SQLite creates with the database's mode) is 0600.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) //nolint:gosec // G304: the database file the operator configured
	if err != nil {
		return nil, fmt.Errorf("sqlstore: cannot open SQLite database: %w", err)
	}
	_ = f.Close() // nothing was written: SQLite opens the file itself next

	w, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: cannot open SQLite database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The writer connects first: it switches a new file to WAL.
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		_ = w.Close() // the error below is the one to report
		return nil, fmt.Errorf("sqlstore: cannot open SQLite database %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		_ = w.Close() // the error below is the one to report
		return nil, fmt.Errorf("sqlstore: SQLite database %s cannot use WAL mode (journal_mode is %s): is it on a network file system?", path, mode)
	}
	r, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		_ = w.Close() // the error below is the one to report
		return nil, fmt.Errorf("sqlstore: cannot open SQLite database %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("sqlstore: cannot open SQLite database %s: %w", path, err)
	}
	return &DB{dialect: DialectSQLite, w: w, r: r, keys: keys, cache: newCache()}, nil
}

// sqliteDSN returns the modernc.org/sqlite DSN of a database file: a file:
// URI with the connection's pragmas. The writer's transactions begin
// IMMEDIATE (they take the write lock at once, so they never fail on a lock
// upgrade); readers are query-only.
func sqliteDSN(path string, writer bool) string {
	// In a file: URI, '?', '#' and '%' in the path must be escaped.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	q := fmt.Sprintf("?_pragma=busy_timeout(%d)", sqliteBusyTimeout.Milliseconds())
	if writer {
		q += "&_pragma=journal_mode(WAL)&_txlock=immediate"
	} else {
		q += "&_query_only=1"
	}
	q += "&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	return "file:" + esc + q
}

// redactURL returns a PostgreSQL URL with its password masked (in the user
// info and in a password query parameter), for messages, and the secrets
// that must never appear in one.
func redactURL(dsn string) (string, []string) {
	u, err := url.Parse(dsn)
	if err != nil {
		// url.Parse's error quotes the whole URL: do not use it. Take
		// the user info and any password parameter as secrets.
		var secrets []string
		rest := dsn[strings.Index(dsn, "://")+3:]
		if at := strings.LastIndex(rest, "@"); at > 0 {
			secrets = append(secrets, rest[:at])
		}
		if _, pw, ok := strings.Cut(dsn, "password="); ok {
			pw, _, _ = strings.Cut(pw, "&")
			secrets = append(secrets, pw)
		}
		return "(an unparsable postgres:// URL)", secrets
	}
	var secrets []string
	if pw, ok := u.User.Password(); ok && pw != "" {
		secrets = append(secrets, pw, url.QueryEscape(pw), url.PathEscape(pw))
	}
	q := u.Query()
	if pw := q.Get("password"); pw != "" {
		secrets = append(secrets, pw, url.QueryEscape(pw))
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted(), secrets
}

// maskErr returns msg: err. When the URL has a password, err is not
// wrapped (a wrapped pgx error keeps the URL, password included, and its
// cause may quote it) and its text has the password masked.
func maskErr(msg string, err error, secrets []string) error {
	if len(secrets) == 0 {
		return fmt.Errorf("%s: %w", msg, err)
	}
	text := err.Error()
	for _, s := range secrets {
		if s != "" {
			text = strings.ReplaceAll(text, s, "xxxxx")
		}
	}
	return fmt.Errorf("%s: %s", msg, text)
}

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect }

// Close closes the database.
func (db *DB) Close() error {
	db.stmts.Range(func(_, st any) bool {
		_ = st.(*sql.Stmt).Close() // closing the database below closes them too, and reports
		return true
	})
	err := db.closeAudit()
	if db.auditStmts != nil {
		db.auditStmts.close()
	}
	err = errors.Join(err, db.w.Close())
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	return err
}

// Migrate applies the embedded migrations that the database lacks and
// returns their versions (none when it is up to date). On PostgreSQL it
// holds an advisory lock meanwhile, so that replicas starting together
// migrate once.
func (db *DB) Migrate(ctx context.Context) (applied []int64, err error) {
	dir, err := fs.Sub(migrations, "migrations/"+db.dialect)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	dialect := goose.DialectSQLite3
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if db.dialect == DialectPostgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db.w, dir, opts...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	res, err := p.Up(ctx)
	for _, r := range res {
		if r.Error == nil {
			applied = append(applied, r.Source.Version)
		}
	}
	if err != nil {
		return applied, fmt.Errorf("sqlstore: migrating the %s database: %w", db.dialect, err)
	}
	return applied, nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	defer db.observe(opPing, time.Now())
	if err := db.r.PingContext(ctx); err != nil {
		return dbErr("ping", err)
	}
	if db.w != db.r {
		if err := db.w.PingContext(ctx); err != nil {
			return dbErr("ping", err)
		}
	}
	return nil
}

// dbErr wraps a driver error as an EINTERNAL application error ("database
// error"), or EUNAVAILABLE when the database cannot be reached or is busy.
// op names the operation for the log. Driver messages name constraints and
// columns, never values; patient data only ever reaches the driver
// encrypted.
func dbErr(op string, err error) error {
	code, msg := teleconsult.EINTERNAL, "database error"
	var ce *pgconn.ConnectError
	var se *sqlite.Error
	switch {
	case errors.As(err, &ce):
		code, msg = teleconsult.EUNAVAILABLE, "database unavailable"
	case errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED):
		code, msg = teleconsult.EUNAVAILABLE, "database busy; retry"
	}
	return &teleconsult.Error{Code: code, Message: msg, Err: fmt.Errorf("sqlstore: %s: %w", op, err)}
}

// isUniqueViolation reports whether err is a unique (or primary key)
// constraint violation, from its error code.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505" // unique_violation
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// isConcurrencyFailure reports whether PostgreSQL aborted a transaction that
// ran into another one (serialization failure, deadlock): retrying helps.
func isConcurrencyFailure(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}
