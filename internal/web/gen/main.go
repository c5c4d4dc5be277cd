// Command gen writes the API's OpenAPI document to a file without starting
// a server or opening a database, so the dashboard's types can be generated
// from it (web/: npm run gen).
//
//	go run ./internal/web/gen web/openapi.json
package main

import (
	"fmt"
	"os"

	"github.com/switchboard/switchboard/internal/httpapi"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen OUTPUT.json")
		os.Exit(2)
	}
	raw, err := document()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[1], raw, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// document is the OpenAPI document without a version, so that the
// dashboard's build does not change with every commit.
func document() ([]byte, error) {
	raw, err := httpapi.Document("")
	if err != nil {
		return nil, err
	}
	return append(raw, '\n'), nil
}
