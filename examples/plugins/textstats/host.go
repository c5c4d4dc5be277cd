//go:build wasip1

package main

import "unsafe"

// Host functions of the "switchboard" import module. Each needs a
// permission in manifest.json that the installer granted; calling one
// without it stops the plugin. See docs/plugins.md.

//go:wasmimport switchboard log
func hostLog(level uint32, ptr unsafe.Pointer, n uint32)

//go:wasmimport switchboard kv_get
func hostKVGet(kp unsafe.Pointer, kl uint32, vp unsafe.Pointer, vc uint32) int32

//go:wasmimport switchboard kv_set
func hostKVSet(kp unsafe.Pointer, kl uint32, vp unsafe.Pointer, vl uint32) int32

func logInfo(msg string) {
	if msg == "" {
		return
	}
	b := []byte(msg)
	hostLog(1, unsafe.Pointer(&b[0]), uint32(len(b)))
}

// kvGet returns the value of key, or found false.
func kvGet(key string) (value []byte, found bool) {
	k := []byte(key)
	buf := make([]byte, 256)
	for {
		n := hostKVGet(unsafe.Pointer(&k[0]), uint32(len(k)), unsafe.Pointer(&buf[0]), uint32(len(buf)))
		switch {
		case n < 0:
			return nil, false
		case int(n) <= len(buf):
			return buf[:n], true
		}
		buf = make([]byte, n)
	}
}

// kvSet stores a value; it reports false when the host refused it (for
// example, the workspace's storage limit).
func kvSet(key string, value []byte) bool {
	k := []byte(key)
	if len(value) == 0 {
		value = []byte{0}[:0:1]
	}
	return hostKVSet(unsafe.Pointer(&k[0]), uint32(len(k)), unsafe.Pointer(unsafe.SliceData(value)), uint32(len(value))) == 0
}
