package main

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// The dashboard's types come from the document gen writes: it must
// describe exactly what a fully wired node serves, so a route group that
// is registered only with its service cannot go missing from the types.
func TestDocumentMatchesAServingNode(t *testing.T) {
	raw, err := document()
	if err != nil {
		t.Fatal(err)
	}
	h := apptest.Start(t, dbtest.SQLite().URL(t))
	res, err := http.Get(h.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	served, _ := io.ReadAll(res.Body)
	if got, want := operations(t, raw), operations(t, served); !slices.Equal(got, want) {
		t.Errorf("generated document's operations differ from the served one's:\n got %v\nwant %v", got, want)
	}
}

func operations(t *testing.T, raw []byte) []string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for p, m := range doc.Paths {
		for method := range m {
			ops = append(ops, method+" "+p)
		}
	}
	slices.Sort(ops)
	return ops
}
