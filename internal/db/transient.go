package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsTransient reports whether err is a fault of the database or the way to
// it rather than of the statement: a broken or refused connection, a server
// shutting down or out of resources, a statement or lock timeout, a
// serialization failure, a busy or failing SQLite file. The same work tried
// again later can succeed, so background work retries it (a job returns the
// error, River retries) instead of recording it as the work's failure, and
// its text, which describes our infrastructure, is never shown to a user.
//
// A cancelled context is not transient: it means the caller gave up (a
// stopping worker, a client that went away), which callers handle apart.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return transientSQLState(pgErr.Code)
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	if pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var sqlErr *sqlite.Error
	if errors.As(err, &sqlErr) {
		switch sqlErr.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL,
			sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_CANTOPEN:
			return true
		}
		return false
	}
	// pgx reports a connection it already knows is dead with plain errors.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "connection reset by peer") ||
		strings.Contains(msg, "broken pipe")
}

// transientSQLState: connection exceptions (08), operator intervention
// (57: admin or crash shutdown, statement timeout, cannot connect now),
// insufficient resources (53), and the conflicts a retry resolves
// (40001 serialization failure, 40P01 deadlock, 55P03 lock not available).
func transientSQLState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"), strings.HasPrefix(code, "57"):
		return true
	}
	switch code {
	case "40001", "40P01", "55P03":
		return true
	}
	return false
}
