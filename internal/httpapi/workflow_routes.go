package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/workflow"
)

// workflowFlag gates the workflow builder (definitions, runs).
const workflowFlag = "workflow_builder"

type validResponse struct {
	Valid bool `json:"valid"`
}

type hookAccepted struct {
	RunID  string `json:"runId"`
	Status string `json:"status"`
}

func (s *Server) workflowRoutes() {
	gate := s.requireFlag(workflowFlag)
	s.handle(route{method: "POST", path: "/api/v1/workflows", doc: routeDoc{errors: []int{404}}, tag: "workflows", access: signedIn, perm: actor.PermWorkflowCreate,
		status: http.StatusCreated, request: workflow.CreateInput{}, response: workflow.Workflow{},
		summary: "Create a workflow (version 1). The definition is validated: step references, expressions, JMESPath, plugin configs, limits.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			var in workflow.CreateInput
			if err := decode(r, &in); err != nil {
				return err
			}
			wf, err := s.Workflows.Create(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, wf)
			return nil
		})})
	s.handle(route{method: "GET", path: "/api/v1/workflows", doc: routeDoc{errors: []int{404}}, tag: "workflows", access: signedIn, perm: actor.PermWorkflowRead,
		response: workflow.Page{}, query: []param{{"cursor", "nextCursor of the previous page"}, {"limit", "1–200 (default 50)"}},
		summary: "The workspace's workflows at their current versions, newest first.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			limit, err := queryInt(r, "limit", 1, 200)
			if err != nil {
				return err
			}
			page, err := s.Workflows.List(r.Context(), s.actorOf(r), r.URL.Query().Get("cursor"), limit)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, page)
			return nil
		})})
	s.handle(route{method: "POST", path: "/api/v1/workflows/validate", doc: routeDoc{errors: []int{404}}, tag: "workflows", access: signedIn, perm: actor.PermWorkflowRead,
		request: workflow.Definition{}, response: validResponse{},
		summary: "Validate a definition without saving it: 200 when valid, 400 with every problem otherwise.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			raw, err := readJSONBody(r)
			if err != nil {
				return err
			}
			if err := s.Workflows.Validate(r.Context(), s.actorOf(r), raw); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, validResponse{Valid: true})
			return nil
		})})
	s.handle(route{method: "GET", path: "/api/v1/workflows/{id}", tag: "workflows", access: signedIn, perm: actor.PermWorkflowRead,
		response: workflow.Workflow{}, summary: "One workflow at its current version (webhook workflows carry their hook URL).",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			wf, err := s.Workflows.Get(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, wf)
			return nil
		})})
	s.handle(route{method: "PUT", path: "/api/v1/workflows/{id}", doc: routeDoc{errors: []int{409}}, tag: "workflows", access: signedIn, perm: actor.PermWorkflowUpdate,
		request: workflow.UpdateInput{}, response: workflow.Workflow{},
		summary: "Update a workflow: every update makes a new immutable version; runs under way keep the version they started on.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			var in workflow.UpdateInput
			if err := decode(r, &in); err != nil {
				return err
			}
			wf, err := s.Workflows.Update(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, wf)
			return nil
		})})
	s.handle(route{method: "DELETE", path: "/api/v1/workflows/{id}", tag: "workflows", access: signedIn, perm: actor.PermWorkflowDelete,
		response: messageResponse{}, summary: "Delete a workflow: its runs under way are cancelled; run history stays.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Workflows.Delete(r.Context(), s.actorOf(r), r.PathValue("id")); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "workflow deleted"})
			return nil
		})})
	for _, verb := range []string{"enable", "disable"} {
		enabled := verb == "enable"
		s.handle(route{method: "POST", path: "/api/v1/workflows/{id}/" + verb, doc: routeDoc{errors: []int{409}}, tag: "workflows", access: signedIn, perm: actor.PermWorkflowUpdate,
			response: workflow.Workflow{}, summary: strings.ToUpper(verb[:1]) + verb[1:] + " a workflow's automatic triggers (schedule, event, webhook).",
			handler: gate(func(w http.ResponseWriter, r *http.Request) error {
				wf, err := s.Workflows.SetEnabled(r.Context(), s.actorOf(r), r.PathValue("id"), enabled)
				if err != nil {
					return err
				}
				writeJSON(w, http.StatusOK, wf)
				return nil
			})})
	}
	s.handle(route{method: "POST", path: "/api/v1/workflows/{id}/webhook/rotate", tag: "workflows", access: signedIn, perm: actor.PermWorkflowUpdate,
		response: workflow.Workflow{}, summary: "Give a webhook workflow a new hookUrl; the old URL answers 404 from then on.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			wf, err := s.Workflows.RotateHook(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, wf)
			return nil
		})})
	s.handle(route{method: "GET", path: "/api/v1/workflows/{id}/versions", tag: "workflows", access: signedIn, perm: actor.PermWorkflowRead,
		response: page[workflow.Version]{}, query: pageParams, summary: "Every version of a workflow, newest first.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			after, n, err := pageQuery(r, byNumberDesc)
			if err != nil {
				return err
			}
			before, _ := strconv.Atoi(after)
			list, err := s.Workflows.Versions(r.Context(), s.actorOf(r), r.PathValue("id"), before, n)
			if err != nil {
				return err
			}
			p, err := keyset(r, list, func(x workflow.Version) string { return strconv.Itoa(x.Version) }, byNumberDesc)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		})})
	s.handle(route{method: "GET", path: "/api/v1/workflows/{id}/versions/{version}", tag: "workflows", access: signedIn, perm: actor.PermWorkflowRead,
		response: workflow.Version{}, summary: "One version of a workflow.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			n, err := strconv.Atoi(r.PathValue("version"))
			if err != nil || n < 1 {
				return apperr.Invalid(apperr.FieldError{Field: "version", Message: "must be a version number (1, 2, …)"})
			}
			v, err := s.Workflows.GetVersion(r.Context(), s.actorOf(r), r.PathValue("id"), n)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, v)
			return nil
		})})
	s.handle(route{method: "POST", path: "/api/v1/workflows/{id}/runs", doc: routeDoc{errors: []int{402, 409}}, tag: "runs", access: signedIn, perm: actor.PermWorkflowExecute,
		status: http.StatusCreated, request: workflow.ManualInput{}, response: workflow.Run{}, idempotent: true,
		summary: "Start a run by hand (201; 200 replaying an idempotencyKey). With wait, answer when the run ends (or after waitMs).",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			var in workflow.ManualInput
			if err := decodeOptional(r, &in); err != nil {
				return err
			}
			if in.IdempotencyKey == "" {
				in.IdempotencyKey = idempotencyKeyOf(r)
			}
			run, created, err := s.Workflows.StartManual(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			status := http.StatusCreated
			if !created {
				status = http.StatusOK
			}
			writeJSON(w, status, run)
			return nil
		})})
	s.handle(route{method: "GET", path: "/api/v1/runs", doc: routeDoc{errors: []int{404}}, tag: "runs", access: signedIn, perm: actor.PermWorkflowRead,
		response: workflow.RunPage{}, query: append([]param{{"workflowId", "only this workflow's runs"},
			{"parentRunId", "only this run's children (forEach iterations and parallel branches are listed only so)"}}, runFilterParams...),
		summary: "Run history, newest first (without step records; get a run for those).",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			f, err := runFilter(r)
			if err != nil {
				return err
			}
			page, err := s.Workflows.Runs(r.Context(), s.actorOf(r), f)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, page)
			return nil
		})})
	s.handle(route{method: "GET", path: "/api/v1/runs/{id}", tag: "runs", access: signedIn, perm: actor.PermWorkflowRead,
		response: workflow.Run{}, summary: "One run with each step's input, output, error, attempt and timings.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			run, err := s.Workflows.GetRun(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, run)
			return nil
		})})
	s.handle(route{method: "POST", path: "/api/v1/runs/{id}/cancel", doc: routeDoc{errors: []int{409}}, tag: "runs", access: signedIn, perm: actor.PermWorkflowExecute,
		response: workflow.Run{}, summary: "Cancel a running run; no further step runs.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			run, err := s.Workflows.Cancel(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, run)
			return nil
		})})
	s.handle(route{method: "POST", path: "/api/v1/runs/{id}/retry", doc: routeDoc{errors: []int{402, 409}}, tag: "runs", access: signedIn, perm: actor.PermWorkflowExecute,
		response: workflow.Run{}, idempotent: true, summary: "Retry a failed run from the step that failed (finished steps are not run again).",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			run, err := s.Workflows.Retry(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, run)
			return nil
		})})
	for _, method := range []string{"POST", "GET", "PUT"} {
		s.handle(route{method: method, path: "/hooks/workflows/{id}/{token}", doc: routeDoc{rawBody: true, errors: []int{401, 402, 409, 422},
			also: map[int]string{http.StatusOK: "A synchronous workflow completed: the body is its last step's output, X-Switchboard-Run-Id names the run."}}, tag: "runs", status: http.StatusAccepted, response: hookAccepted{},
			summary: "A workflow's webhook. Async: 202 with the run id. Sync: the last step's output as the body (200), " +
				"422 WORKFLOW_FAILED if the run failed, 202 if it outlasts the workflow's timeout.",
			handler: s.workflowHook})
	}
	s.studioRoutes()
}

// readJSONBody reads a raw JSON object body.
func readJSONBody(r *http.Request) (json.RawMessage, error) {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !isJSONMediaType(ct) {
		return nil, errMediaType(ct)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if asMaxBytes(err, &mbe) {
			return nil, apperr.New(apperr.PayloadTooLarge, "request body exceeds %d bytes", mbe.Limit)
		}
		return nil, apperr.New(apperr.Validation, "cannot read request body")
	}
	if err := checkBodyText(body); err != nil {
		return nil, err
	}
	if ct == "" && len(body) > 0 {
		return nil, errMediaType(ct)
	}
	if !json.Valid(body) {
		return nil, apperr.Invalid(apperr.FieldError{Field: "body", Message: "is not valid JSON"})
	}
	if string(bytes.TrimSpace(body)) == "null" {
		return nil, apperr.New(apperr.Validation, "request body must be a JSON object, not null")
	}
	return body, nil
}

// decodeOptional decodes a JSON body that may be empty.
func decodeOptional(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return decode(r, v)
}

// hookHeaders are the request headers a run sees; credentials never are.
var hookHiddenHeaders = map[string]bool{"authorization": true, "cookie": true, "proxy-authorization": true, "x-api-key": true}

func (s *Server) workflowHook(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if asMaxBytes(err, &mbe) {
			return apperr.New(apperr.PayloadTooLarge, "request body exceeds %d bytes", mbe.Limit)
		}
		return apperr.New(apperr.Validation, "cannot read request body")
	}
	if err := checkRawBody(r, body); err != nil {
		return err
	}
	var payload any
	var bodyJSON []byte
	if len(body) > 0 {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch {
		case ct == "application/json" || strings.HasSuffix(ct, "+json"):
			if err := json.Unmarshal(body, &payload); err != nil {
				return apperr.Invalid(apperr.FieldError{Field: "body", Message: "is not valid JSON"})
			}
			bodyJSON = body
		case ct == "application/x-www-form-urlencoded":
			vals, err := url.ParseQuery(string(body))
			if err != nil {
				return apperr.Invalid(apperr.FieldError{Field: "body", Message: "is not a valid form"})
			}
			payload = flatten(vals)
		default:
			payload = string(body)
		}
	}
	headers := map[string]any{}
	for k, v := range r.Header {
		lk := strings.ToLower(k)
		if !hookHiddenHeaders[lk] && len(v) > 0 {
			headers[lk] = v[0]
		}
	}
	res, err := s.Workflows.Hook(r.Context(), r.PathValue("id"), r.PathValue("token"), workflow.HookRequest{
		// The path without its token: the token is the webhook's credential
		// and the run's input is readable history.
		Method: r.Method, Path: "/hooks/workflows/" + r.PathValue("id"), Query: flatten(r.URL.Query()), Headers: headers, Body: payload,
		BodyJSON: bodyJSON, Header: r.Header, RawBody: body})
	if err != nil {
		return err
	}
	run := res.Run
	if res.Replayed {
		w.Header().Set(ReplayedHeader, "true")
	}
	if !res.Sync || run.Status == workflow.StatusRunning {
		writeJSON(w, http.StatusAccepted, hookAccepted{RunID: run.ID, Status: run.Status})
		return nil
	}
	if run.Status != workflow.StatusCompleted {
		msg := run.Error
		if msg == "" {
			msg = "the run was " + run.Status
		}
		return apperr.New(apperr.WorkflowFailed, "%s", msg).WithDetails(map[string]any{"runId": run.ID, "status": run.Status})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Switchboard-Run-Id", run.ID)
	w.WriteHeader(http.StatusOK)
	out := []byte(run.Output)
	if len(out) == 0 {
		out = []byte("null")
	}
	_, err = w.Write(append(out, '\n'))
	return err
}

func flatten(v url.Values) map[string]any {
	out := make(map[string]any, len(v))
	for k, vs := range v {
		if len(vs) == 1 {
			out[k] = vs[0]
		} else {
			list := make([]any, len(vs))
			for i, s := range vs {
				list[i] = s
			}
			out[k] = list
		}
	}
	return out
}
