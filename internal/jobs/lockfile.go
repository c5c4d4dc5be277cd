package jobs

import (
	"fmt"
	"os"

	"github.com/switchboard/switchboard/internal/db"
)

// LockSQLiteFile takes, without waiting, the worker lock that a serving
// SQLite node holds on the database file at path (orphans.go), for work
// that must not run beside a server: restoring a backup over the file.
// ok is false when another process holds it. A node started with
// --workers=false does not take the lock, so it is not detected.
func LockSQLiteFile(path string) (unlockFn func(), ok bool, err error) {
	lp := lockPath(&db.DB{Path: path})
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", lp, err)
	}
	ok, err = tryLock(f)
	if err != nil || !ok {
		f.Close()
		return nil, false, err
	}
	return func() { unlock(f); f.Close() }, true, nil
}
