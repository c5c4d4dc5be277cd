// Package apiclient is where .ci/openapi.sh generates a Go client from
// Switchboard's OpenAPI document (client.gen.go, not committed) to prove
// that oapi-codegen accepts the document and its output compiles.
package apiclient

// The generated client imports the runtime; importing it here too keeps its
// pinned version in tools/go.mod when no client has been generated.
import _ "github.com/oapi-codegen/runtime"
