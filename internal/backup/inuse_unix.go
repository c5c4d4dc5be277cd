//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package backup

import (
	"errors"
	"os"
	"syscall"
)

// shmDMS is the byte of a WAL database's shared-memory file on which every
// open SQLite connection holds a read lock (the "dead man switch" of
// SQLite's unix VFS: UNIX_SHM_BASE 120 + SQLITE_SHM_NLOCK 8).
const shmDMS = 128

// openElsewhere reports whether another process has the WAL database at
// path open: any open connection, serving with workers or not, holds a
// read lock on the -shm file's DMS byte, so a write lock on it is refused.
// POSIX locks do not conflict within one process, so the caller must not
// count on it for its own connections.
func openElsewhere(path string) (bool, error) {
	f, err := os.OpenFile(path+"-shm", os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: shmDMS, Len: 1}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) {
			return true, nil
		}
		return false, err
	}
	lk.Type = syscall.F_UNLCK
	_ = syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk)
	return false, nil
}
