package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/workflow"
)

// The workflow studio's routes: layout, draft, restore, test runs, the run
// inspector's filters and live run stream, export, import and duplicate.

var runFilterParams = []param{{"status", "running, completed, failed or cancelled"}, {"trigger", "manual, schedule, event or webhook"},
	{"version", "runs of this version"}, {"since", "started at or after (RFC 3339)"}, {"until", "started before (RFC 3339)"},
	{"test", "true: only test runs; false: none"}, {"cursor", "nextCursor of the previous page"}, {"limit", "1–200 (default 50)"}}

// runFilter reads a run listing's filters from the query.
func runFilter(r *http.Request) (workflow.RunFilter, error) {
	q := r.URL.Query()
	f := workflow.RunFilter{WorkflowID: q.Get("workflowId"), Status: q.Get("status"), Cursor: q.Get("cursor"), Trigger: q.Get("trigger"),
		ParentRunID: q.Get("parentRunId")}
	var err error
	if f.Limit, err = queryInt(r, "limit", 1, 200); err != nil {
		return f, err
	}
	if f.Version, err = queryInt(r, "version", 1, 1<<30); err != nil {
		return f, err
	}
	if f.Since, err = queryTime(r, "since"); err != nil {
		return f, err
	}
	if f.Until, err = queryTime(r, "until"); err != nil {
		return f, err
	}
	switch v := q.Get("test"); v {
	case "":
	case "true", "false":
		b := v == "true"
		f.Test = &b
	default:
		return f, apperr.Invalid(apperr.FieldError{Field: "test", Message: "must be true or false"})
	}
	return f, nil
}

func (s *Server) studioRoutes() {
	gate := s.requireFlag(workflowFlag)
	s.handle(route{method: "PUT", path: "/api/v1/workflows/{id}/layout", tag: "workflows", access: signedIn, perm: actor.PermWorkflowUpdate,
		request: workflow.LayoutInput{}, response: workflow.Workflow{},
		summary: "Save where the editor draws the steps (and its viewport); no version is made. A null layout clears it.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			var in workflow.LayoutInput
			if err := decode(r, &in); err != nil {
				return err
			}
			wf, err := s.Workflows.SetLayout(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, wf)
			return nil
		})})
	s.handle(route{method: "POST", path: "/api/v1/workflows/{id}/versions/{version}/restore", doc: routeDoc{errors: []int{409}}, tag: "workflows",
		access: signedIn, perm: actor.PermWorkflowUpdate, status: http.StatusCreated, response: workflow.Workflow{},
		summary: "Make an old version the newest again: a new version with its definition (validated again), audited as workflow.restored.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			n, err := strconv.Atoi(r.PathValue("version"))
			if err != nil || n < 1 {
				return apperr.Invalid(apperr.FieldError{Field: "version", Message: "must be a version number (1, 2, …)"})
			}
			wf, err := s.Workflows.Restore(r.Context(), s.actorOf(r), r.PathValue("id"), n)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, wf)
			return nil
		})})
	s.handle(route{method: "GET", path: "/api/v1/workflows/{id}/draft", tag: "workflows", access: signedIn, perm: actor.PermWorkflowRead,
		response: workflow.Draft{}, summary: "The editor's unsaved draft of a workflow (definition, pinned outputs, sample input); empty when none was saved.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			d, err := s.Workflows.GetDraft(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, d)
			return nil
		})})
	s.handle(route{method: "PUT", path: "/api/v1/workflows/{id}/draft", tag: "workflows", access: signedIn, perm: actor.PermWorkflowUpdate,
		request: workflow.DraftInput{}, response: workflow.Draft{},
		summary: "Save the editor's draft (replacing the last one): no version is made and the definition need not validate.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			var in workflow.DraftInput
			if err := decode(r, &in); err != nil {
				return err
			}
			d, err := s.Workflows.SaveDraft(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, d)
			return nil
		})})
	s.handle(route{method: "POST", path: "/api/v1/workflows/{id}/test", doc: routeDoc{errors: []int{402, 409}}, tag: "runs", access: signedIn,
		perm: actor.PermWorkflowExecute, status: http.StatusAccepted, request: workflow.TestInput{}, response: workflow.TestResult{}, idempotent: true,
		query:   []param{{"wait", "answer when the run ends or after this many milliseconds (0–60000)"}},
		summary: "Run an unsaved definition as a test run (202 at once; follow it with GET /runs/{id}/stream): 400 with the same errors as validate; pinned steps are not run, their pinned output is used.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			wait, err := queryInt(r, "wait", 0, int(workflow.MaxSyncTimeout/time.Millisecond))
			if err != nil {
				return err
			}
			var in workflow.TestInput
			if err := decode(r, &in); err != nil {
				return err
			}
			run, err := s.Workflows.Test(r.Context(), s.actorOf(r), r.PathValue("id"), in, time.Duration(wait)*time.Millisecond)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusAccepted, workflow.TestResult{Run: run})
			return nil
		})})
	s.handle(route{method: "GET", path: "/api/v1/workflows/{id}/runs", tag: "runs", access: signedIn, perm: actor.PermWorkflowRead,
		response: workflow.RunPage{}, query: runFilterParams,
		summary: "A workflow's runs, newest first (without step records), with the run inspector's filters.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			f, err := runFilter(r)
			if err != nil {
				return err
			}
			// The workflow must be the caller's: an unknown one is 404, not
			// an empty list.
			if _, err := s.Workflows.Get(r.Context(), s.actorOf(r), r.PathValue("id")); err != nil {
				return err
			}
			f.WorkflowID = r.PathValue("id")
			page, err := s.Workflows.Runs(r.Context(), s.actorOf(r), f)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, page)
			return nil
		})})
	s.handle(route{method: "GET", path: "/api/v1/runs/{id}/definition", tag: "runs", access: signedIn, perm: actor.PermWorkflowRead,
		response: workflow.RunDefinition{}, summary: "The definition a run executes: its version's, or a test run's unsaved definition with its pinned outputs.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			d, err := s.Workflows.GetRunDefinition(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, d)
			return nil
		})})
	s.handle(route{method: "GET", path: "/api/v1/runs/{id}/stream", tag: "runs", access: signedIn, perm: actor.PermWorkflowRead,
		doc: routeDoc{produces: []string{"text/event-stream"}},
		summary: "Server-Sent Events following a run: `event: run` with the run (steps included) at the start and after every checkpoint, " +
			"`id:` its checkpoint (send Last-Event-ID to resume), a `: heartbeat` comment every 15 s; ends after the run's final state.",
		handler: gate(s.runStream)})
	s.shareRoutes()
	s.templateRoutes()
}

// runStream serves GET /runs/{id}/stream.
func (s *Server) runStream(w http.ResponseWriter, r *http.Request) error {
	a := s.actorOf(r)
	run, err := s.Workflows.GetRun(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	last := -1
	if v := strings.TrimSpace(r.Header.Get("Last-Event-ID")); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			last = n
		}
	}
	rc := http.NewResponseController(w)
	// A stream lasts as long as the run: neither the server's write
	// timeout nor its read timeout (whose expiry cancels the request)
	// may cut it. Failing to lift them only shortens the stream; the
	// client resumes with Last-Event-ID.
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil
	}
	ctx, stop := s.streams.open(r.Context())
	defer stop()
	return s.Workflows.Follow(ctx, a, run, last, workflow.Follower{
		Run: func(run workflow.Run) error {
			data, err := json.Marshal(run)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: run\ndata: %s\n\n", run.Checkpoint, data); err != nil {
				return err
			}
			return rc.Flush()
		},
		Beat: func() error {
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return err
			}
			return rc.Flush()
		},
	})
}

// streams lets a shutdown end the open run streams (they would otherwise
// hold it until its timeout).
type streams struct {
	once   sync.Once
	closed chan struct{}
	mu     sync.Mutex
}

func (st *streams) ch() chan struct{} {
	st.once.Do(func() { st.closed = make(chan struct{}) })
	return st.closed
}

// open returns a context that ends with the request or at shutdown.
func (st *streams) open(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	closed := st.ch()
	go func() {
		select {
		case <-closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// CloseStreams ends every open run stream (and any opened later); the
// clients resume with Last-Event-ID on another node.
func (s *Server) CloseStreams() {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	select {
	case <-s.streams.ch():
	default:
		close(s.streams.ch())
	}
}

// gatewaySends serves GET /gateways/{id}/sends.
func (s *Server) gatewaySends(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 1, 200)
	if err != nil {
		return err
	}
	cursor, err := idCursor(r, ids.GatewaySend)
	if err != nil {
		return err
	}
	since, err := queryTime(r, "since")
	if err != nil {
		return err
	}
	p, err := s.Gateways.Sends(r.Context(), s.actorOf(r), r.PathValue("id"), gateway.SendFilter{Status: r.URL.Query().Get("status"),
		Since: since, Cursor: cursor, Limit: limit})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) shareRoutes() {
	gate := s.requireFlag(workflowFlag)
	s.handle(route{method: "GET", path: "/api/v1/workflows/{id}/export", tag: "workflows", access: signedIn, perm: actor.PermWorkflowRead,
		response: workflow.Export{}, summary: "A workflow as a portable JSON document: name, description, definition, layout, and the ids of other resources it names (references).",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			doc, err := s.Workflows.ExportWorkflow(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, doc)
			return nil
		})})
	s.handle(route{method: "POST", path: "/api/v1/workflows/import", doc: routeDoc{errors: []int{404}}, tag: "workflows", access: signedIn,
		perm: actor.PermWorkflowCreate, status: http.StatusCreated, request: workflow.ImportInput{}, response: workflow.Workflow{},
		summary: "Create a workflow, disabled, from an export document; its definition is validated as on create.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			var in workflow.ImportInput
			if err := decode(r, &in); err != nil {
				return err
			}
			wf, err := s.Workflows.Import(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, wf)
			return nil
		})})
	s.handle(route{method: "POST", path: "/api/v1/workflows/{id}/duplicate", tag: "workflows", access: signedIn, perm: actor.PermWorkflowCreate,
		status: http.StatusCreated, request: workflow.DuplicateInput{}, response: workflow.Workflow{},
		summary: "Copy a workflow's current version and layout into a new, disabled workflow (name: the original's and \" (copy)\" unless given).",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			var in workflow.DuplicateInput
			if err := decodeOptional(r, &in); err != nil {
				return err
			}
			wf, err := s.Workflows.Duplicate(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, wf)
			return nil
		})})
}
