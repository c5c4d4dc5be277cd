package db

import (
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// Checkpoints on SQLite.
//
// In WAL mode a commit appends the pages it changed to the -wal file, and a
// checkpoint copies them back into the database file and syncs both. By
// default SQLite checkpoints in the connection whose commit took the WAL
// past 1,000 pages: here the one writer, with every group commit queued
// behind it waiting for the copy and its syncs. Under the webhook load
// that was one checkpoint every ~60 ms, and lifting it off the writer
// raised the rate by ~15% (docs/benchmarks.md). So a node checkpoints from
// a connection of its own, beside the writer, which goes on committing
// meanwhile (WAL lets a checkpoint and a writer run at once; a PASSIVE
// checkpoint waits for neither readers nor the writer).
//
// Durability is unchanged: a commit is as durable as its frames in the
// WAL, with or without a checkpoint after it. The writer keeps SQLite's
// own checkpoint as a backstop at walBackstopPages: a checkpoint that runs
// while the writer appends cannot finish every frame, and the WAL starts
// over from its beginning only after one has; the writer's own, which runs
// while nothing appends, finishes them (by then the checkpointer has
// copied most pages) and so bounds the WAL's size. Only one checkpoint
// runs at a time and the writer's does not wait for the checkpointer's,
// so once the WAL has reached the backstop the checkpointer stands aside
// for backstopPause, long enough for a commit's checkpoint to finish.

// checkpointEvery is how often the checkpointer looks for new commits.
const checkpointEvery = 50 * time.Millisecond

// backstopPause is how long the checkpointer leaves the WAL to the
// writer once it has reached walBackstopPages.
const backstopPause = 500 * time.Millisecond

// walBackstopPages is the WAL size, in pages, at which the writer
// checkpoints itself (SQLite's default is 1,000): 32 MiB of 4 KiB pages,
// reached under the webhook load about twice a second. Measured at 4,096
// and 16,384 pages the rate was the same within the noise.
const walBackstopPages = 8192

// checkpointer runs PASSIVE checkpoints on its own connection while
// commits keep coming.
type checkpointer struct {
	conn *sql.DB
	// writes counts the write transactions ended (beginWrite's release).
	writes *atomic.Uint64
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func startCheckpointer(conn *sql.DB, writes *atomic.Uint64) *checkpointer {
	conn.SetMaxOpenConns(1)
	conn.SetMaxIdleConns(1)
	conn.SetConnMaxIdleTime(0)
	c := &checkpointer{conn: conn, writes: writes, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var seen uint64
	var aside time.Time
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			if now.Before(aside) {
				continue
			}
		}
		n := c.writes.Load()
		if n == seen {
			continue
		}
		seen = n
		// A failure (a busy lock, a full disk) is left to the writer's
		// backstop, which meets the same condition in a commit and
		// reports it there.
		var busy, frames, copied int64
		if err := c.conn.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err == nil && frames >= walBackstopPages {
			aside = time.Now().Add(backstopPause)
		}
	}
}

// close stops the checkpointer and closes its connection (the writer's,
// closed after it, checkpoints the rest as SQLite does on the last close).
func (c *checkpointer) close() error {
	c.once.Do(func() { close(c.stop) })
	<-c.done
	return c.conn.Close()
}
