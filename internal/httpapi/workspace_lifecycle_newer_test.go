package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// The steps added after the lifecycle hooks end with the workspace too: a
// run waiting for a chat's reply is cancelled and its wait removed (a
// reply later claims nothing), a parent waiting on a sub-workflow's run
// and that child run are both cancelled, and neither starts the
// workspace's error workflow.
func TestWorkspaceLifecycle_DeletionEndsWaitsChildRunsAndErrorWorkflows(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		s := h.SignUp("newer-steps@example.com", pw)
		tok := s.AccessToken
		var g struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/gateways", tok, map[string]any{"type": "WEBHOOK", "name": "chat",
			"credentials": map[string]string{"signingSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}).Data(t, &g)
		onError := lcCreateWorkflow(t, h, tok, "on error", map[string]any{"type": "manual"}, lcTransform("t", "`1`", ""))
		h.Call(http.StatusOK, "PUT", "/api/v1/workflows/settings", tok, map[string]any{"errorWorkflowId": onError.ID})
		waiting := lcCreateWorkflow(t, h, tok, "asks", map[string]any{"type": "manual"},
			map[string]any{"id": "ask", "type": "waitForReply", "config": map[string]any{"chat": "'42'", "gatewayId": g.ID, "timeoutSeconds": 3600},
				"conditionalNext": map[string]any{"reply": "t", "timeout": "t"}},
			lcTransform("t", "`1`", ""))
		child := lcCreateWorkflow(t, h, tok, "slow child", map[string]any{"type": "manual"},
			map[string]any{"id": "wait", "type": "delay", "config": map[string]any{"seconds": 3600}, "nextStepId": "t"}, lcTransform("t", "`1`", ""))
		parent := lcCreateWorkflow(t, h, tok, "parent", map[string]any{"type": "manual"},
			map[string]any{"id": "call", "type": "subWorkflow", "config": map[string]any{"workflowId": child.ID, "wait": true}})
		var wr, pr lcRun
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+waiting.ID+"/runs", tok, map[string]any{}).Data(t, &wr)
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+parent.ID+"/runs", tok, map[string]any{}).Data(t, &pr)
		pollUntil(t, "the run waits for its reply", func() bool {
			return lcCount(t, h, `SELECT COUNT(*) FROM workflow_reply_waiters WHERE run_id = $1`, wr.ID) == 1
		})
		var childRun string
		pollUntil(t, "the child run waits in its delay", func() bool {
			return lcCount(t, h, `SELECT COUNT(*) FROM workflow_runs WHERE parent_run_id = $1 AND status = 'running' AND wake_at IS NOT NULL`, pr.ID) == 1
		})
		if err := h.App.DB.Read().QueryRowContext(context.Background(), `SELECT id FROM workflow_runs WHERE parent_run_id = $1`, pr.ID).Scan(&childRun); err != nil {
			t.Fatal(err)
		}

		h.Call(http.StatusOK, "DELETE", "/api/v1/admin/users/"+s.UserID, h.Admin().AccessToken, nil)

		for name, id := range map[string]string{"waiting for a reply": wr.ID, "parent": pr.ID, "child": childRun} {
			if r := lcRunOf(t, h, id); r.Status != "cancelled" || r.Error != "the owner's account was deleted" {
				t.Errorf("run %s after the delete: %+v", name, r)
			}
		}
		if n := lcCount(t, h, `SELECT COUNT(*) FROM workflow_reply_waiters WHERE workspace_id = $1`, s.UserID); n != 0 {
			t.Errorf("%d reply waits left", n)
		}
		if n := lcCount(t, h, `SELECT COUNT(*) FROM workflow_runs WHERE workflow_id = $1`, onError.ID); n != 0 {
			t.Errorf("the error workflow started %d runs for the cancelled ones", n)
		}
	})
}
