//go:build !linux

package wasm

// reserve is only implemented on Linux; elsewhere linear memory lives on
// the Go heap, as wazero keeps it by default.
func reserve(uint64) ([]byte, bool) { return nil, false }

func unreserve([]byte) {}
