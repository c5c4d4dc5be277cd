//go:build wasip1

// Command reactor is a test plugin built as a reactor module (-buildmode=
// c-shared): it counts its executions in a package-level variable, which
// persists while its instance is reused, and echoes the request's
// installation id. Input {"fail": true} makes it fail (status 1);
// {"exit": true} calls os.Exit(0), which ends the instance.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

var calls int

func main() {}

//go:wasmexport switchboard_execute
func execute() int32 {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var req struct {
		Input struct {
			Fail bool `json:"fail"`
			Exit bool `json:"exit"`
		} `json:"input"`
		Context struct {
			InstallationID string `json:"installationId"`
		} `json:"context"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		fmt.Fprintln(os.Stderr, "decode:", err)
		return 1
	}
	calls++
	if req.Input.Fail {
		fmt.Fprintln(os.Stderr, "asked to fail")
		return 1
	}
	if req.Input.Exit {
		os.Exit(0)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"calls": calls, "installation": req.Context.InstallationID})
	return 0
}
