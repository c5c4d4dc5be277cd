//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package jobs

import "os"

// canLock: no flock on this platform. A SQLite node then neither excludes
// a second worker process nor recovers orphaned jobs at start-up; River's
// rescuer retries them after RescueStuckAfter.
const canLock = false

func tryLock(*os.File) (bool, error) { return true, nil }

func unlock(*os.File) {}
