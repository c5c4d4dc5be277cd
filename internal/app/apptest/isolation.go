package apptest

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// Workspace is a place resources live in, with a token acting in it.
type Workspace struct {
	Name string
	// User is the workspace's owner; Token acts in the workspace.
	User  Session
	Token string
	// OrgID is empty for a personal workspace.
	OrgID string
}

// Probe is one request an outsider makes against a resource. Path may hold
// {name} placeholders filled from the resource's variables.
type Probe struct {
	Method, Path string
	Body         any
}

// Owned describes one kind of workspace-owned resource for the isolation
// matrix.
type Owned struct {
	Name string
	// Create makes a resource in ws and returns its path variables.
	Create func(t *testing.T, h *Harness, ws Workspace) map[string]string
	// Read is a GET of the one resource: the owner gets 200, an outsider
	// 404. Leave it empty for resources without a single-item read.
	Read string
	// Snapshot is a GET the owner makes before and after the probes to
	// prove nothing changed (default: Read).
	Snapshot string
	// List, when set, is a listing whose body must not mention the
	// resource's "id" variable for an outsider.
	List string
	// Writes are the updates and deletes an outsider tries; each must
	// answer 404 and change nothing the owner can read.
	Writes []Probe
	// ContextScoped resources belong to the workspace, not the user: the
	// same user acting in another of their workspaces is an outsider too.
	ContextScoped bool
}

// Workspaces makes the matrix's four workspaces: two users, each with a
// personal workspace and an organization they own.
func (h *Harness) Workspaces(t *testing.T) []Workspace {
	t.Helper()
	a := h.SignUp("isolation-a@example.com", "correct horse battery")
	b := h.SignUp("isolation-b@example.com", "correct horse battery")
	mk := func(s Session, name string) Workspace {
		var o struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/orgs", s.AccessToken, map[string]string{"name": name}).Data(t, &o)
		var tok struct{ AccessToken string }
		h.Call(http.StatusOK, "POST", "/api/v1/auth/switch", s.AccessToken, map[string]any{"organizationId": o.ID}).Data(t, &tok)
		return Workspace{Name: name, User: s, Token: tok.AccessToken, OrgID: o.ID}
	}
	return []Workspace{
		{Name: "A personal", User: a, Token: a.AccessToken},
		mk(a, "A org"),
		{Name: "B personal", User: b, Token: b.AccessToken},
		mk(b, "B org"),
	}
}

// IsolationMatrix creates each kind of resource in every workspace and
// proves that every read, listing, update and delete from every workspace
// that must not reach it answers 404 and changes nothing.
func (h *Harness) IsolationMatrix(t *testing.T, kinds []Owned) {
	t.Helper()
	wss := h.Workspaces(t)
	for _, k := range kinds {
		for _, owner := range wss {
			vars := k.Create(t, h, owner)
			read := fill(k.Read, vars)
			snap := fill(k.Snapshot, vars)
			if snap == "" {
				snap = read
			}
			before := h.Call(http.StatusOK, "GET", snap, owner.Token, nil).Raw
			for _, intruder := range wss {
				sameUser := intruder.User.UserID == owner.User.UserID
				if sameUser && (!k.ContextScoped || intruder.Name == owner.Name) {
					continue
				}
				where := k.Name + " of " + owner.Name + " probed from " + intruder.Name
				if read != "" {
					if r := h.Do(Request{Method: "GET", Path: read, Token: intruder.Token}); r.Status != http.StatusNotFound || r.Code() != "NOT_FOUND" {
						t.Errorf("%s: GET %s answered %d %s, want 404", where, read, r.Status, r.Raw)
					}
				}
				if k.List != "" {
					list := fill(k.List, vars)
					r := h.Do(Request{Method: "GET", Path: list, Token: intruder.Token})
					if r.Status == http.StatusOK && strings.Contains(string(r.Raw), vars["id"]) {
						t.Errorf("%s: listing %s shows %s", where, list, vars["id"])
					}
				}
				for _, p := range k.Writes {
					path := fill(p.Path, vars)
					if r := h.Do(Request{Method: p.Method, Path: path, Token: intruder.Token, Body: p.Body}); r.Status != http.StatusNotFound || r.Code() != "NOT_FOUND" {
						t.Errorf("%s: %s %s answered %d %s, want 404", where, p.Method, path, r.Status, r.Raw)
					}
				}
			}
			after := h.Call(http.StatusOK, "GET", snap, owner.Token, nil).Raw
			if !bytes.Equal(before, after) {
				t.Errorf("%s of %s changed under probes:\nbefore %s\nafter  %s", k.Name, owner.Name, before, after)
			}
		}
	}
}

func fill(path string, vars map[string]string) string {
	for k, v := range vars {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return path
}
