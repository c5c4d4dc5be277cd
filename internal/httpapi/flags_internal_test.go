package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/flag"
	"github.com/switchboard/switchboard/internal/ids"
)

func TestRequireFlag_HidesTheRouteFromActorsWithoutTheFlag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.Open(t, dbtest.SQLite().URL(t))
	flags := flag.NewService(d, nil, flag.Options{})
	if err := flags.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(flags.Close)
	root := actor.Actor{UserID: ids.New(ids.User), Role: actor.SuperAdmin}
	if _, err := flags.Create(ctx, root, flag.CreateInput{Key: "beta_route", Enabled: true, Roles: []actor.Role{actor.Developer}}); err != nil {
		t.Fatal(err)
	}

	s := New(Deps{Log: slog.New(slog.DiscardHandler), Flags: flags}, Options{})
	reached := 0
	gated := s.requireFlag("beta_route")(func(w http.ResponseWriter, r *http.Request) error {
		reached++
		writeJSON(w, http.StatusOK, "reached")
		return nil
	})
	call := func(a actor.Actor) error {
		r := httptest.NewRequest("POST", "/beta", nil)
		return gated(httptest.NewRecorder(), r.WithContext(actor.NewContext(r.Context(), a)))
	}
	if err := call(actor.Actor{UserID: ids.New(ids.User), Role: actor.Developer}); err != nil || reached != 1 {
		t.Fatalf("a targeted DEVELOPER was turned away: %v", err)
	}
	if err := call(actor.Actor{UserID: ids.New(ids.User), Role: actor.Member}); !apperr.Is(err, apperr.NotFound) || reached != 1 {
		t.Fatalf("an untargeted MEMBER got %v (handler reached %d times)", err, reached)
	}

	// Through the router the refusal is the usual 404 envelope, naming
	// the flag. An anonymous caller of a public route is untargeted.
	s.handle(route{method: "GET", path: "/beta", summary: "test", handler: gated})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	get := func() (int, envelope) {
		res, err := http.Get(srv.URL + "/beta")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var env envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatalf("not an envelope: %s", raw)
		}
		return res.StatusCode, env
	}
	status, env := get()
	details, _ := env.Error.Details.(map[string]any)
	if status != http.StatusNotFound || env.Error.Code != apperr.NotFound || env.Error.Message != "this feature is not available to you" ||
		details["flag"] != "beta_route" {
		t.Fatalf("gated route answered %d %+v", status, env.Error)
	}

	// Dropping the targeting opens the route to everyone, at once on this node.
	if _, err := flags.Update(ctx, root, "beta_route", flag.UpdateInput{Roles: &[]actor.Role{}}); err != nil {
		t.Fatal(err)
	}
	if status, _ := get(); status != http.StatusOK {
		t.Fatalf("untargeted flag still gates the route: %d", status)
	}
	// A flag nobody created keeps its route closed.
	unknown := s.requireFlag("never_created")(gated)
	if err := unknown(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil)); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("an unknown flag let the request through: %v", err)
	}
}
