package wasm

import "syscall"

// reserve maps n bytes of anonymous memory without reserving swap for it
// (MAP_NORESERVE): untouched pages cost address space only. It fails, and
// the caller falls back to the Go heap, if the kernel refuses the mapping
// (vm.overcommit_memory=2 with too little commit left, or a 32-bit address
// space).
func reserve(n uint64) ([]byte, bool) {
	if n == 0 || n > 1<<32 {
		return nil, false
	}
	b, err := syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, false
	}
	return b[:0], true
}

func unreserve(b []byte) {
	// Munmap only fails for a range that is not a mapping; this one is.
	_ = syscall.Munmap(b[:cap(b)])
}
