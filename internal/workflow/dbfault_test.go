package workflow_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/workflow"
)

// dbFault is a built-in, registered by the test, that breaks the node's
// database the first time it runs — in the middle of a workflow step, after
// the step took its slot and before its result is recorded.
type dbFault struct {
	once  sync.Once
	fault func(ctx context.Context) error
	err   error
}

func (*dbFault) Slug() string                         { return "db-fault" }
func (*dbFault) Version() string                      { return "1.0.0" }
func (*dbFault) InputSchema() *plugin.Schema          { return nil }
func (*dbFault) OutputSchema() *plugin.Schema         { return nil }
func (*dbFault) ConfigSchema() *plugin.Schema         { return nil }
func (*dbFault) ValidateConfig(json.RawMessage) error { return nil }
func (*dbFault) CanBeWorkflowStep() bool              { return true }
func (f *dbFault) Execute(ctx context.Context, _ plugin.ExecutionContext, _ json.RawMessage) plugin.ExecutionResult {
	f.once.Do(func() { f.err = f.fault(ctx) })
	if f.err != nil {
		return plugin.Failed("the test could not inject its fault: " + f.err.Error())
	}
	return plugin.ExecutionResult{Success: true, Output: json.RawMessage(`{"broke":true}`)}
}

// terminateBackends ends every PostgreSQL connection of the node (they carry
// application name app), as an administrator or a failover would, and goes
// on ending the node's new connections for two seconds: an outage, not one
// dropped connection.
func terminateBackends(app string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, os.Getenv(dbtest.EnvURL))
		if err != nil {
			return err
		}
		kill := func() error {
			_, err := c.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, app)
			return err
		}
		if err := kill(); err != nil {
			c.Close(ctx)
			return err
		}
		go func() {
			defer c.Close(context.Background())
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
				if kill() != nil {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		return nil
	}
}

// lockSQLite takes the SQLite file's write lock from another connection, as
// another process would, and holds it past the node's busy timeout, so the
// node's next writes fail with SQLITE_BUSY.
func lockSQLite(d *db.DB) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var busyMs int
		if err := d.Read().QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busyMs); err != nil {
			return err
		}
		other, err := sql.Open("sqlite", "file:"+d.Path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			return err
		}
		conn, err := other.Conn(ctx)
		if err != nil {
			other.Close()
			return err
		}
		if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
			conn.Close()
			other.Close()
			return err
		}
		go func() {
			time.Sleep(time.Duration(busyMs)*time.Millisecond + time.Second)
			_, _ = conn.ExecContext(context.Background(), `ROLLBACK`)
			conn.Close()
			other.Close()
		}()
		return nil
	}
}

// A database connection broken in the middle of a plugin step (PostgreSQL:
// the node's backends terminated; SQLite: the file locked by another
// process past the busy timeout) is retried, never a failed run: the run
// completes, no step shows a failure or internal error text, and no
// execution is left holding the FREE workspace's one slot — today the
// unrecorded step kept it for ten minutes and stalled the next step.
func TestPluginStep_BrokenDatabaseMidStepIsRetried(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, dbURL string) {
		app := ""
		if db.IsPostgresURL(dbURL) {
			b := make([]byte, 6)
			_, _ = rand.Read(b)
			app = "sbfault_" + hex.EncodeToString(b)
			u, err := url.Parse(dbURL)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("application_name", app)
			u.RawQuery = q.Encode()
			dbURL = u.String()
		}
		h, tok := node(t, dbURL)
		f := &dbFault{}
		if app != "" {
			f.fault = terminateBackends(app)
		} else {
			f.fault = lockSQLite(h.App.DB)
		}
		h.App.Market.Registry().Register(plugin.Builtin{Runner: f, Name: "DB fault"})

		w := create(t, h, tok, "fault", def(manual,
			obj{"id": "f", "type": "plugin", "config": obj{"plugin": "db-fault"}, "nextStepId": "p"},
			tpl("p", "hi ada", obj{}, "")))
		r := start(t, h, tok, w.ID, obj{"input": obj{}})
		// A read that meets a connection the fault broke may fail once
		// (503 is the API's matter); poll until the run ends.
		deadline := time.Now().Add(60 * time.Second)
		for r.Status == "running" {
			if time.Now().After(deadline) {
				t.Fatalf("the run never ended after the fault: %+v", r)
			}
			time.Sleep(50 * time.Millisecond)
			res := h.Do(apptest.Request{Method: "GET", Path: "/api/v1/runs/" + r.ID, Token: tok})
			if res.Status == http.StatusOK {
				res.Data(t, &r)
			}
		}
		if r.Status != "completed" || r.Error != "" || string(r.Output) != `{"text":"hi ada"}` {
			t.Fatalf("run after the fault: %+v %s", r, r.Output)
		}
		if f.err != nil {
			t.Fatalf("fault: %v", f.err)
		}
		for _, st := range r.Steps {
			if st.Status != "succeeded" || st.Error != "" {
				t.Fatalf("step record after the fault: %+v", st)
			}
		}
		var running int
		if err := h.App.DB.Read().QueryRowContext(context.Background(),
			`SELECT COUNT(*) FROM plugin_executions WHERE status = 'RUNNING'`).Scan(&running); err != nil || running != 0 {
			t.Fatalf("executions left RUNNING: %d %v", running, err)
		}
	})
}

// flakyPlugins answers the first calls with the error a step's claim meets
// when its connection was broken, then runs the step.
type flakyPlugins struct {
	inner workflow.Plugins
	fails atomic.Int32
}

func (p *flakyPlugins) RunStep(ctx context.Context, a actor.Actor, ref workflow.PluginRef, input json.RawMessage, ec plugin.ExecutionContext) (plugin.ExecutionResult, error) {
	if p.fails.Add(-1) >= 0 {
		return plugin.ExecutionResult{}, fmt.Errorf("claim step: begin transaction: %w",
			&pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"})
	}
	return p.inner.RunStep(ctx, a, ref, input, ec)
}

// A plugin step whose claim meets a broken connection is retried by its
// job: the run completes and neither it nor its step shows the driver's
// text (today the step failed with it, and so did the run).
func TestPluginStep_ClaimOnABrokenConnectionIsRetried(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, dbURL string) {
		h, tok := node(t, dbURL)
		flaky := &flakyPlugins{inner: h.App.Workflows.Plugins}
		flaky.fails.Store(1)
		h.App.Workflows.Plugins = flaky
		// The workers read Plugins after taking a job from the write pool;
		// using that pool here orders this write before their reads.
		if _, err := h.App.DB.SQL().ExecContext(context.Background(), `SELECT 1`); err != nil {
			t.Fatal(err)
		}
		w := create(t, h, tok, "flaky", def(manual, tpl("p", "hi ada", obj{}, "")))
		r := waitRun(t, h, tok, start(t, h, tok, w.ID, obj{"input": obj{}}).ID, nil)
		if r.Status != "completed" || r.Error != "" || string(r.Output) != `{"text":"hi ada"}` {
			t.Fatalf("run: %+v %s", r, r.Output)
		}
		for _, st := range r.Steps {
			if st.Status != "succeeded" || st.Error != "" {
				t.Fatalf("step record: %+v", st)
			}
		}
		if flaky.fails.Load() >= 0 {
			t.Fatalf("the step was not tried again after the faults")
		}
	})
}
