// Package db opens Switchboard's database — an embedded SQLite file or a
// PostgreSQL server — applies its migrations, and runs transactions.
//
// Both engines are reached through database/sql so that every domain package
// writes one portable query set: numbered $n parameters, RETURNING and
// ON CONFLICT work on both.
package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect names the database engine behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Querier is what both *sql.DB and *sql.Tx provide; store functions take it so
// they run inside or outside a transaction alike.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DB is an open database. Writes go through Tx; plain reads may use Read.
type DB struct {
	Dialect Dialect
	// write is the pool transactions use. On SQLite it holds one connection
	// whose transactions begin IMMEDIATE, so a writer takes the lock up front
	// instead of failing with SQLITE_BUSY halfway through.
	write *sql.DB
	// read serves queries outside transactions; on SQLite it is a separate
	// query-only pool so readers never wait for the writer (WAL).
	read *sql.DB
	// Pool is the pgx pool on PostgreSQL (nil on SQLite), for components
	// such as the job queue that speak pgx natively.
	Pool *pgxpool.Pool
	// Path is the SQLite file (empty on PostgreSQL).
	Path string
	// readStmts and writeStmts cache prepared statements on SQLite; pgx
	// already caches them per connection on PostgreSQL.
	readStmts, writeStmts *stmtCache
	// writeWait bounds the wait for SQLite's writer connection (zero: none).
	writeWait time.Duration
	// group batches GroupTx calls on SQLite (nil on PostgreSQL).
	group *committer
	// checkpoints copies the WAL back on SQLite, beside the writer
	// (checkpoint.go); writes counts the write transactions it watches.
	checkpoints *checkpointer
	writes      atomic.Uint64
}

// Options tune how a database is opened.
type Options struct {
	// Synchronous is SQLite's synchronous pragma: "NORMAL" (survives a
	// process crash, including kill -9, in WAL mode) or "FULL" (also survives
	// power loss, at the cost of an fsync per commit).
	Synchronous string
	// MaxConns bounds PostgreSQL connections of this node (0: the URL's
	// pool_max_conns, else the driver's default: one per core, at least 4).
	MaxConns int32
	// Timeout bounds each wait on the database (see DefaultTimeout, used
	// when zero). Negative lifts the PostgreSQL bounds and leaves SQLite's
	// busy timeout at a minute.
	Timeout time.Duration
}

func (o Options) timeout() time.Duration {
	if o.Timeout == 0 {
		return DefaultTimeout
	}
	return max(o.Timeout, 0)
}

// IsPostgresURL reports whether u names a PostgreSQL server.
func IsPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// SQLitePath extracts the file path from a sqlite: URL or plain path.
func SQLitePath(u string) string {
	u = strings.TrimPrefix(u, "sqlite://")
	u = strings.TrimPrefix(u, "sqlite:")
	u = strings.TrimPrefix(u, "file:")
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	return u
}

// Open connects to the database named by url (postgres://… or a SQLite
// path / sqlite: URL). It does not migrate; call Migrate.
func Open(ctx context.Context, rawURL string, opt Options) (*DB, error) {
	if IsPostgresURL(rawURL) {
		return openPostgres(ctx, rawURL, opt)
	}
	return openSQLite(ctx, SQLitePath(rawURL), opt)
}

func openSQLite(ctx context.Context, path string, opt Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	sync := strings.ToUpper(opt.Synchronous)
	if sync == "" {
		sync = "NORMAL"
	}
	if sync != "NORMAL" && sync != "FULL" {
		return nil, fmt.Errorf("sqlite: synchronous must be NORMAL or FULL, got %q", opt.Synchronous)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: create %s: %w", dir, err)
		}
	}
	// A lock held by another process (a CLI command, a backup) is waited
	// for at most the timeout; then the call fails as unavailable.
	busy := opt.timeout().Milliseconds()
	if busy <= 0 {
		busy = 60_000
	}
	base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_time_format=sqlite" +
		"&_pragma=busy_timeout(" + strconv.FormatInt(busy, 10) + ")&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(" + sync + ")&_pragma=cache_size(-4000)"
	// The writer keeps its statement journal (what undoes a savepoint,
	// one per function of a group commit) in memory: on disk it was a
	// file created, written and deleted for most batches.
	w, err := sql.Open("sqlite", base+"&_pragma=temp_store(MEMORY)&_pragma=wal_autocheckpoint("+
		strconv.Itoa(walBackstopPages)+")&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	r.SetConnMaxIdleTime(5 * time.Minute)
	ck, err := sql.Open("sqlite", base)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	d := &DB{Dialect: SQLite, write: w, read: r, Path: path, readStmts: newStmtCache(r), writeStmts: newStmtCache(w),
		writeWait: opt.timeout()}
	d.group = newCommitter(d)
	d.checkpoints = startCheckpointer(ck, &d.writes)
	return d, nil
}

func openPostgres(ctx context.Context, rawURL string, opt Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", redactErr(err))
	}
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	if d := opt.timeout(); d > 0 {
		configureTimeouts(cfg, d)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", redactErr(err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", redactErr(err))
	}
	var connector driver.Connector = stdlib.GetPoolConnector(pool)
	if d := opt.timeout(); d > 0 {
		// A connect_timeout the URL sets explicitly is not cut short.
		connector = acquireTimeout{Connector: connector, d: max(d, cfg.ConnConfig.ConnectTimeout)}
	}
	sqldb := sql.OpenDB(connector)
	// Idle connections stay in the pgx pool, shared with the job queue's
	// listener (as stdlib.OpenDBFromPool does).
	sqldb.SetMaxIdleConns(0)
	return &DB{Dialect: Postgres, write: sqldb, read: sqldb, Pool: pool}, nil
}

// redactErr keeps a connection string's password out of error messages.
func redactErr(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		if j := strings.Index(msg[i:], "@"); j > 0 {
			msg = msg[:i+3] + "…" + msg[i+j:]
		}
	}
	return errors.New(msg)
}

// Read returns the pool for queries that need no transaction.
func (d *DB) Read() Querier {
	if d.readStmts != nil {
		return cachedQuerier{db: d.read, cache: d.readStmts}
	}
	return d.read
}

// Autocommit returns the writer pool for a statement sent outside any
// transaction, on PostgreSQL; nil on SQLite. PostgreSQL runs such a
// statement as a transaction of its own — atomic, and committed as durably
// as by COMMIT — so a transaction that is one statement costs one round
// trip instead of three (BEGIN, the statement, COMMIT). On SQLite that
// would be a commit of its own beside GroupTx's shared one, which costs
// more, not less.
func (d *DB) Autocommit() Querier {
	if d.Dialect != Postgres {
		return nil
	}
	return d.write
}

// SQL returns the writer pool, for tools (migrations, job drivers) that need
// a *sql.DB.
func (d *DB) SQL() *sql.DB { return d.write }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.read.PingContext(ctx); err != nil {
		return err
	}
	var one int
	return d.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Close closes every pool.
func (d *DB) Close() error {
	var errs []error
	if d.readStmts != nil {
		d.readStmts.close()
		d.writeStmts.close()
	}
	if d.checkpoints != nil {
		errs = append(errs, d.checkpoints.close())
	}
	errs = append(errs, d.write.Close())
	if d.read != d.write {
		errs = append(errs, d.read.Close())
	}
	if d.Pool != nil {
		d.Pool.Close()
	}
	return errors.Join(errs...)
}

// Now is the time every row is stamped with: UTC, truncated to the
// microsecond PostgreSQL keeps, so a value reads back exactly as written on
// both engines.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
