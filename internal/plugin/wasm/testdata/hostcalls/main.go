//go:build wasip1

// Command hostcalls passes documents to the network host functions as
// given, to prove what they do with good and bad ones: input.http are raw
// http_request documents, input.send raw gateway_send documents. The output
// lists the response documents and the number of messages queued.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"unsafe"
)

//go:wasmimport switchboard http_request
func hostHTTPRequest(rp unsafe.Pointer, rl uint32, bp unsafe.Pointer, bc uint32) int32

//go:wasmimport switchboard http_response
func hostHTTPResponse(bp unsafe.Pointer, bc uint32) int32

//go:wasmimport switchboard gateway_send
func hostGatewaySend(rp unsafe.Pointer, rl uint32) int32

// ptr points at b's bytes, also for an empty b.
func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		b = []byte{0}
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

// httpRequest starts with a small buffer on purpose, so that large
// responses take the http_response path.
func httpRequest(doc string) (json.RawMessage, error) {
	req := []byte(doc)
	buf := make([]byte, 64)
	n := hostHTTPRequest(ptr(req), uint32(len(req)), ptr(buf), uint32(len(buf)))
	if n < 0 {
		return nil, fmt.Errorf("http_request returned %d", n)
	}
	if int(n) > len(buf) {
		buf = make([]byte, n)
		if got := hostHTTPResponse(ptr(buf), uint32(len(buf))); got != n {
			return nil, fmt.Errorf("http_response returned %d, want %d", got, n)
		}
		// Taken once: a second call finds nothing.
		if again := hostHTTPResponse(ptr(buf), uint32(len(buf))); again != -1 {
			return nil, fmt.Errorf("http_response kept the response: %d", again)
		}
	}
	return json.RawMessage(buf[:n]), nil
}

func main() {
	raw, _ := io.ReadAll(os.Stdin)
	var req struct {
		Input struct {
			HTTP []string `json:"http"`
			Send []string `json:"send"`
		} `json:"input"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out := struct {
		Responses []json.RawMessage `json:"responses"`
		Sent      int               `json:"sent"`
	}{Responses: []json.RawMessage{}}
	for _, doc := range req.Input.HTTP {
		resp, err := httpRequest(doc)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		out.Responses = append(out.Responses, resp)
	}
	for _, doc := range req.Input.Send {
		b := []byte(doc)
		if rc := hostGatewaySend(ptr(b), uint32(len(b))); rc != 0 {
			fmt.Fprintf(os.Stderr, "gateway_send returned %d\n", rc)
			os.Exit(1)
		}
		out.Sent++
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
