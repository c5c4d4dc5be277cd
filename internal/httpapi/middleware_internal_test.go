package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRecoverer_TurnsPanicIntoEnvelope(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	s := New(Deps{Log: slog.New(slog.NewTextHandler(&logs, nil))}, Options{})
	s.handle(route{method: "GET", path: "/boom", handler: func(http.ResponseWriter, *http.Request) error {
		panic("kaboom")
	}})
	srv := httptest.NewServer(s)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("not an envelope: %s", raw)
	}
	if res.StatusCode != 500 || env.Success || env.Error.Code != "INTERNAL" {
		t.Fatalf("got %d %s", res.StatusCode, raw)
	}
	if strings.Contains(string(raw), "kaboom") {
		t.Error("panic value leaked to the client")
	}
	if !strings.Contains(logs.String(), "kaboom") {
		t.Error("panic not logged")
	}
	// The server keeps serving.
	res2, err := http.Get(srv.URL + "/healthz")
	if err != nil || res2.StatusCode != 200 {
		t.Fatalf("server died after a panic: %v", err)
	}
	res2.Body.Close()
}
