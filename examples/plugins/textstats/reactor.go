//go:build wasip1 && reactor

package main

import (
	"fmt"
	"os"
)

// Built with -tags reactor -buildmode=c-shared, textstats is a reactor
// module: the host instantiates it once (its _initialize starts the Go
// runtime) and calls switchboard_execute for each execution of the same
// installation, so the runtime's start-up is paid once instead of per call
// (docs/plugins.md, "Reactor modules"). main is then never called.
//
//	GOOS=wasip1 GOARCH=wasm go build -tags reactor -buildmode=c-shared -o textstats.wasm ./examples/plugins/textstats
//
//go:wasmexport switchboard_execute
func execute() int32 {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
