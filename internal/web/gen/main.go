// Command gen writes the API's OpenAPI document to a file without starting
// a server or opening a database, so the dashboard's types can be generated
// from it (web/: npm run gen).
//
//	go run ./internal/web/gen web/openapi.json
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/switchboard/switchboard/internal/billing"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/httpapi"
	"github.com/switchboard/switchboard/internal/plugin/analytics"
	"github.com/switchboard/switchboard/internal/workflow"
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

// document is the OpenAPI document of a server built without a database.
// Routes are declared at construction and never call their services while
// being described; some route groups are registered only when their
// service is present, so empty ones stand in for them.
func document() ([]byte, error) {
	s := httpapi.New(httpapi.Deps{Workflows: &workflow.Service{}, Credits: &credit.Service{}, Limits: &credit.Limits{},
		Billing: &billing.Service{}, Analytics: &analytics.Service{}}, httpapi.Options{})
	raw, err := json.MarshalIndent(s.OpenAPI(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(raw, '\n'), nil
}
