package httpapi

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/idempotency"
)

// A first request that fails with a 5xx, a 429 or a panic gives its key
// back: the retry runs. A success is then replayed without running again.
func TestWithIdempotency_ServerErrorsReleaseTheKey(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := New(Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Idempotency: idempotency.New(d, nil)}, Options{})
		var calls atomic.Int64
		outcomes := []func(w http.ResponseWriter) error{
			func(http.ResponseWriter) error { return apperr.Wrap(errors.New("connection reset"), "work") },
			func(http.ResponseWriter) error { return apperr.New(apperr.RateLimited, "busy") },
			func(http.ResponseWriter) error { panic("kaboom") },
			func(w http.ResponseWriter) error {
				writeJSON(w, http.StatusCreated, map[string]int{"n": 4})
				return nil
			},
		}
		s.handle(route{method: "POST", path: "/flaky", idempotent: true, handler: func(w http.ResponseWriter, r *http.Request) error {
			n := calls.Add(1)
			return outcomes[min(int(n), len(outcomes))-1](w)
		}})
		a := actor.Actor{UserID: "usr_01hzzzzzzzzzzzzzzzzzzzzzzz", Role: actor.Member, Plan: actor.Free}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.ServeHTTP(w, r.WithContext(actor.NewContext(r.Context(), a)))
		}))
		defer srv.Close()
		post := func() (int, string, string) {
			req, _ := http.NewRequest("POST", srv.URL+"/flaky", strings.NewReader(`{"x":1}`))
			req.Header.Set("Idempotency-Key", "same")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			return res.StatusCode, res.Header.Get(ReplayedHeader), string(raw)
		}
		for i, want := range []int{500, 429, 500, 201} {
			if code, replayed, body := post(); code != want || replayed != "" {
				t.Fatalf("attempt %d: %d (replayed %q) %s, want %d", i+1, code, replayed, body, want)
			}
		}
		code, replayed, body := post()
		if code != 201 || replayed != "true" || !strings.Contains(body, `"n":4`) || calls.Load() != 4 {
			t.Fatalf("replay: %d %q %s after %d calls", code, replayed, body, calls.Load())
		}
	})
}
