package main

import (
	"fmt"
	"io"

	"github.com/switchboard/switchboard/internal/httpapi"
)

// cmdOpenAPI prints the OpenAPI document that /api/v1/openapi.json serves,
// without a database or configuration, for linters and client generators.
func cmdOpenAPI(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return exitError{code: 2, msg: "usage: switchboard openapi"}
	}
	doc, err := httpapi.Document(version())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", doc)
	return err
}
