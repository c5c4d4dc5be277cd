package db

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTestSQLite(t *testing.T) *DB {
	t.Helper()
	d, err := Open(context.Background(), filepath.Join(t.TempDir(), "ck.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.write.Exec(`CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return d
}

// writeBlobs commits n transactions of one 64 KiB row each.
func writeBlobs(t *testing.T, d *DB, n int) {
	t.Helper()
	blob := []byte(strings.Repeat("x", 64<<10))
	for range n {
		if err := d.Tx(context.Background(), func(tx *Tx) error {
			_, err := tx.ExecContext(context.Background(), `INSERT INTO blobs (b) VALUES ($1)`, blob)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// Commits reach the database file by the checkpointer, not by the writer:
// well below the writer's backstop, the pages are copied back within a
// few of the checkpointer's ticks.
func TestCheckpointer_CopiesCommitsBesideTheWriter(t *testing.T) {
	t.Parallel()
	d := openTestSQLite(t)
	before := fileSize(t, d.Path)
	writeBlobs(t, d, 48) // ~3 MiB, ~800 pages: under walBackstopPages
	want := before + 3<<20
	for deadline := time.Now().Add(5 * time.Second); fileSize(t, d.Path) < want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the database file is %d bytes, want ≥ %d: the commits were not checkpointed", fileSize(t, d.Path), want)
		}
	}
}

// walFrames reads how many frames the WAL holds from its index's header
// in the -shm file (mxFrame, at byte 16), without checkpointing.
func walFrames(t *testing.T, d *DB) int64 {
	t.Helper()
	shm, err := os.ReadFile(d.Path + "-shm")
	if err != nil || len(shm) < 20 {
		t.Fatalf("read the WAL index: %v", err)
	}
	return int64(binary.NativeEndian.Uint32(shm[16:20]))
}

// The WAL starts over once it has passed the writer's backstop: the
// checkpointer's copies must not keep the writer's checkpoint, the only one
// that runs while nothing appends, from finishing.
func TestCheckpointer_WALStartsOver(t *testing.T) {
	if testing.Short() {
		t.Skip("writes ~50 MiB")
	}
	t.Parallel()
	d := openTestSQLite(t)
	writeBlobs(t, d, walBackstopPages*4096*3/2/(64<<10))
	if n := walFrames(t, d); n < walBackstopPages {
		t.Logf("the WAL already started over (%d frames)", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for walFrames(t, d) >= walBackstopPages {
		if time.Now().After(deadline) {
			t.Fatalf("the WAL still holds %d frames, past the backstop of %d", walFrames(t, d), walBackstopPages)
		}
		if err := d.Tx(context.Background(), func(tx *Tx) error {
			_, err := tx.ExecContext(context.Background(), `INSERT INTO blobs (b) VALUES ($1)`, []byte("small"))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Closing a database twice is harmless, as it was before the checkpointer.
func TestCheckpointer_CloseTwice(t *testing.T) {
	t.Parallel()
	d := openTestSQLite(t)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	_ = d.Close()
}
