//go:build wasip1

// Command hostile misbehaves on request, to prove the sandbox's limits:
// input.mode picks how.
package main

import (
	"encoding/json"
	"io"
	"os"
	"unsafe"
)

//go:wasmimport switchboard kv_set
func hostKVSet(kp unsafe.Pointer, kl uint32, vp unsafe.Pointer, vl uint32) int32

var sink [][]byte

func main() {
	raw, _ := io.ReadAll(os.Stdin)
	var req struct {
		Input struct {
			Mode string `json:"mode"`
		} `json:"input"`
	}
	_ = json.Unmarshal(raw, &req)
	switch req.Input.Mode {
	case "loop":
		n := 0
		for {
			n++
		}
	case "alloc":
		for {
			sink = append(sink, make([]byte, 48<<20))
		}
	case "output":
		chunk := make([]byte, 64<<10)
		for i := range chunk {
			chunk[i] = 'x'
		}
		for {
			os.Stdout.Write(chunk)
		}
	case "ungranted":
		k, v := []byte("k"), []byte("v")
		hostKVSet(unsafe.Pointer(&k[0]), 1, unsafe.Pointer(&v[0]), 1)
		os.Stdout.WriteString(`{"stored":true}`)
	case "panic":
		var m map[string]int
		m["boom"] = 1
	case "exit":
		os.Stderr.WriteString("refusing: bad mood\n")
		os.Exit(3)
	case "notjson":
		os.Stdout.WriteString("hello, not json")
	default:
		os.Stdout.WriteString(`{"ok":true}`)
	}
}
