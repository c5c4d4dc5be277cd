package db

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsUniqueViolation reports whether err is a unique-constraint violation on
// either engine, so a service can turn a race into a CONFLICT.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqlErr *sqlite.Error
	if errors.As(err, &sqlErr) {
		c := sqlErr.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// ErrUnavailable marks an error met while reaching the database (no
// connection within the timeout).
var ErrUnavailable = errors.New("database unavailable")

// IsUnavailable reports whether err means the database could not be reached
// or did not answer in time — as opposed to refusing a statement — so a
// caller can answer "try again later" rather than "internal error".
//
// It is IsTransient seen from a request: the faults background work retries
// are the ones a client is asked to retry (503), one list for both.
func IsUnavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || IsTransient(err)
}
