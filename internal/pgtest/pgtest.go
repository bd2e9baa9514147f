// Package pgtest gives tests a real, empty PostgreSQL database.
//
// [URL] returns the DSN of a new empty database. The server is, by default,
// a throw-away cluster that the test process starts the first time it is
// needed (initdb into a temp dir, postgres on 127.0.0.1 and a free port,
// trust authentication, fsync off: about half a second) and stops at the
// end; with the environment variable TEST_DATABASE_URL set, that server is
// used instead and each database is dropped when its test ends.
//
// Use [Main] in TestMain so that the cluster is stopped and its data
// directory removed:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// The cluster lives in /dev/shm when that is a tmpfs with room (a new
// database takes about 10 ms there against about 200 ms on ext4), else in
// the temp dir. The postmaster is started directly rather than through
// pg_ctl, as a child of the test process with a parent-death signal (on
// Linux), so it also goes away if the test binary dies without running
// Main (a -timeout panic, a kill); a data directory left behind that way is
// removed by a later run.
//
// When the process runs as root (initdb refuses to), the cluster runs as the
// postgres OS user, which Debian's postgresql package creates. When
// PostgreSQL cannot be found or started, URL fails the test with the fix:
// apt-get install -y postgresql, or set TEST_DATABASE_URL. It never skips.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// EnvURL names the environment variable with the URL of an existing server
// to use instead of a throw-away cluster. Its user must be allowed to create
// databases.
const EnvURL = "TEST_DATABASE_URL"

const (
	dirPrefix    = "teleconsult-pgtest-"
	startTimeout = 30 * time.Second
	howToFix     = "install PostgreSQL (Debian: apt-get install -y postgresql) or set " + EnvURL +
		" to the URL of a server where the user may create databases (postgres://user:pw@host:5432/postgres)"
)

// server is the PostgreSQL server of this test process.
type server struct {
	base   *url.URL // server URL; databases are made by changing its path
	admin  *sql.DB  // connection to base, for CREATE/DROP DATABASE
	shared bool     // TEST_DATABASE_URL: drop databases after use

	// Throw-away cluster only.
	dir  string        // temp dir: data/, the socket, postgres.log
	cmd  *exec.Cmd     // the postmaster
	done chan struct{} // closed when the postmaster exited
}

var (
	mu       sync.Mutex
	srv      *server
	startErr error
)

// Main runs the tests and then stops the cluster, if one was started. Use it
// in TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if srv != nil {
		if err := srv.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping PostgreSQL: %v\n", err)
		}
		srv = nil
	}
	return code
}

// URL returns the DSN of a new, empty database (t_<random>), starting the
// server on first use. It fails the test if PostgreSQL is not available.
func URL(tb testing.TB) string {
	tb.Helper()
	s, err := get()
	if err != nil {
		tb.Fatalf("pgtest: no PostgreSQL for this test: %v\nTo fix: %s", err, howToFix)
	}
	name := "t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// template0 holds nothing to copy but the catalog; FILE_COPY (PostgreSQL
	// 15+, our own cluster only) skips WAL-logging every block: about 20 ms
	// instead of 200 ms a database.
	create := "CREATE DATABASE " + name + " TEMPLATE template0" //nolint:gosec // G202: name is t_ and random hex
	if !s.shared {
		create += " STRATEGY FILE_COPY"
	}
	if _, err := s.admin.ExecContext(ctx, create); err != nil {
		tb.Fatalf("pgtest: CREATE DATABASE %s: %v", name, err)
	}
	if s.shared {
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				tb.Errorf("pgtest: DROP DATABASE %s: %v", name, err)
			}
		})
	}
	u := *s.base
	u.Path = "/" + name
	return u.String()
}

// Dump returns the output of pg_dump (plain SQL, data included) for the
// database at dsn, for example to check what is stored at rest.
func Dump(tb testing.TB, dsn string) []byte {
	tb.Helper()
	bin, err := binDir()
	if err != nil {
		tb.Fatalf("pgtest: pg_dump: %v\nTo fix: %s", err, howToFix)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "pg_dump"), "--no-owner", "--no-privileges", "--dbname="+dsn)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("pgtest: pg_dump: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out
}

// get returns the server, starting it on first use. A failure is
// remembered: the next test fails at once instead of trying again.
func get() (*server, error) {
	mu.Lock()
	defer mu.Unlock()
	if srv != nil || startErr != nil {
		return srv, startErr
	}
	if env := os.Getenv(EnvURL); env != "" {
		srv, startErr = connectShared(env)
	} else {
		srv, startErr = startCluster()
	}
	return srv, startErr
}

func connectShared(raw string) (*server, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("%s must be a postgres:// URL", EnvURL)
	}
	db, err := sql.Open("pgx", raw)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = db.PingContext(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot connect to %s=%s: %w", EnvURL, u.Redacted(), err)
	}
	db.SetMaxOpenConns(2)
	return &server{base: u, admin: db, shared: true}, nil
}

// binDir returns the directory holding initdb, postgres and pg_dump: the
// one of initdb on PATH, else the newest /usr/lib/postgresql/*/bin.
func binDir() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(found, func(a, b string) int { return versionOf(b) - versionOf(a) })
	dirs = append(dirs, found...)
	for _, d := range dirs {
		ok := true
		for _, tool := range []string{"initdb", "postgres", "pg_dump"} {
			if fi, err := os.Stat(filepath.Join(d, tool)); err != nil || fi.IsDir() {
				ok = false
			}
		}
		if ok {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres, pg_dump) not found on PATH or in /usr/lib/postgresql/*/bin")
}

// versionOf returns N of /usr/lib/postgresql/N/bin, or 0.
func versionOf(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func startCluster() (*server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	var as *runAs
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and there is no postgres OS user to run PostgreSQL as: %w", err)
		}
		uid, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("the postgres OS user's uid %q: %w", u.Uid, err)
		}
		gid, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("the postgres OS user's gid %q: %w", u.Gid, err)
		}
		as = &runAs{uid: uint32(uid), gid: uint32(gid)}
	}
	parent := tempBase()
	sweep(parent)
	dir, err := os.MkdirTemp(parent, dirPrefix)
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir}
	fail := func(err error) (*server, error) {
		_ = s.stop()
		return nil, err
	}
	if as != nil {
		if err := os.Chown(dir, int(as.uid), int(as.gid)); err != nil {
			return fail(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "--auth=trust", "-U", "postgres",
		"--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	initdb.SysProcAttr = sysProcAttr(as, false, syscall.SIGKILL)
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb (in %s): %w\n%s", bin, err, out))
	}
	for attempt := 1; ; attempt++ {
		err := s.startPostgres(bin, data, as)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, errPortTaken) || attempt == 5 {
			return fail(err)
		}
	}
}

var errPortTaken = errors.New("port taken")

// startPostgres runs the postmaster on a free port and waits until it
// accepts connections.
func (s *server) startPostgres(bin, data string, as *runAs) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	logPath := filepath.Join(s.dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }() // the child has its own descriptor
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+s.dir,
		"-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=64MB",
		"-c", "log_min_messages=warning", "-c", "log_checkpoints=off")
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group: a ^C in the terminal reaches the test binary,
	// whose exit then stops the server (fast shutdown) via the
	// parent-death signal.
	cmd.SysProcAttr = sysProcAttr(as, true, syscall.SIGINT)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done

	s.base = &url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path: "/postgres", RawQuery: "sslmode=disable"}
	admin, err := sql.Open("pgx", s.base.String()+"&connect_timeout=2")
	if err != nil {
		return err
	}
	admin.SetMaxOpenConns(2)
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = admin.PingContext(ctx)
		cancel()
		if err == nil {
			s.admin = admin
			return nil
		}
		select {
		case <-done:
			_ = admin.Close() // postgres has exited: nothing to close cleanly
			s.cmd, s.done = nil, nil
			log, _ := os.ReadFile(logPath)
			if strings.Contains(string(log), "Address already in use") {
				return errPortTaken
			}
			return fmt.Errorf("postgres (in %s) exited at start:\n%s", bin, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = admin.Close() // the timeout is the error to report
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres did not accept connections within %v: %w\n%s", startTimeout, err, log)
		}
	}
}

// stop stops the postmaster (fast shutdown) and removes the data
// directory; for a shared server it only closes the connection.
func (s *server) stop() error {
	var errs []error
	if s.admin != nil {
		errs = append(errs, s.admin.Close())
	}
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			errs = append(errs, errors.New("postgres did not stop within 10s: killed"))
		}
	}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	return errors.Join(errs...)
}

// runAs is the OS user to run PostgreSQL as, when not the current one.
type runAs struct{ uid, gid uint32 }

// sweep removes data directories in parent left by test processes that
// died without stopping their cluster: no postmaster.pid (the server is
// gone) and not touched for a minute (so not being set up either).
func sweep(parent string) {
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), dirPrefix) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < time.Minute {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "data", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }() // only the port number was wanted
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
