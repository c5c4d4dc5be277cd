//go:build !unix

package jsrun

import "time"

func cpuTime() time.Duration { return 0 }
