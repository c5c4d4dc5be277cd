package workflow

// The workflow studio's side of the service: the editor's layout and
// draft (saved without making a version), restoring an old version as
// the newest, and test runs of unsaved definitions (studiotest.go).

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

// Layout is where the editor draws a workflow: a position per step id and
// the last viewport. Ids of steps that no longer exist are allowed (the
// editor drops them); it is never part of a version, so version diffs
// ignore it.
type Layout struct {
	Nodes    map[string]Position `json:"nodes"`
	Viewport *Viewport           `json:"viewport,omitempty"`
}

// Position is a node's top-left corner on the canvas.
type Position struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Viewport is the canvas's pan and zoom.
type Viewport struct {
	X    float64 `json:"x"`
	Y    float64 `json:"y"`
	Zoom float64 `json:"zoom"`
}

// LayoutInput is the body of PUT /workflows/{id}/layout; a null layout
// clears it.
type LayoutInput struct {
	Layout *Layout `json:"layout"`
}

// Bounds of a layout: five times the step limit leaves room for stale
// ids, and coordinates stay far inside what a canvas can show.
const (
	MaxLayoutNodes = 5 * MaxStepsPerWorkflow
	MaxLayoutBytes = 64 << 10
	maxCoordinate  = 1e7
	maxZoom        = 100
)

func checkLayout(l *Layout) ([]byte, error) {
	if l == nil {
		return nil, nil
	}
	var p problems
	if l.Nodes == nil {
		l.Nodes = map[string]Position{}
	}
	if len(l.Nodes) > MaxLayoutNodes {
		p.add("layout.nodes", "may place at most %d steps", MaxLayoutNodes)
	}
	for id, pos := range l.Nodes {
		if id == "" || len(id) > 64 {
			p.add("layout.nodes", "keys are step ids (1–64 characters)")
			break
		}
		if !coordinate(pos.X) || !coordinate(pos.Y) {
			p.add("layout.nodes."+id, "x and y must be numbers from -%g to %g", maxCoordinate, maxCoordinate)
		}
	}
	if v := l.Viewport; v != nil {
		if !coordinate(v.X) || !coordinate(v.Y) {
			p.add("layout.viewport", "x and y must be numbers from -%g to %g", maxCoordinate, maxCoordinate)
		}
		if !(v.Zoom > 0 && v.Zoom <= maxZoom) {
			p.add("layout.viewport.zoom", "must be above 0 and at most %d", maxZoom)
		}
	}
	if len(p) > 0 {
		return nil, apperr.Invalid(p...)
	}
	raw, err := json.Marshal(l)
	if err != nil {
		return nil, apperr.Invalid(apperr.FieldError{Field: "layout", Message: "cannot be encoded"})
	}
	if len(raw) > MaxLayoutBytes {
		return nil, apperr.Invalid(apperr.FieldError{Field: "layout", Message: fmt.Sprintf("must encode to at most %d bytes", MaxLayoutBytes)})
	}
	return raw, nil
}

func coordinate(v float64) bool { return !math.IsNaN(v) && math.Abs(v) <= maxCoordinate }

func decodeLayout(raw sql.NullString) *Layout {
	if !raw.Valid || raw.String == "" {
		return nil
	}
	var l Layout
	if json.Unmarshal([]byte(raw.String), &l) != nil {
		return nil // a layout is a convenience: a bad one is drawn afresh
	}
	return &l
}

// SetLayout saves where the editor draws a workflow's steps. It makes no
// version, moves no updatedAt and is not audited: it changes nothing a run
// or a reader of the definition sees.
func (s *Service) SetLayout(ctx context.Context, a actor.Actor, id string, in LayoutInput) (Workflow, error) {
	if err := allow(a, actor.PermWorkflowUpdate); err != nil {
		return Workflow{}, err
	}
	raw, err := checkLayout(in.Layout)
	if err != nil {
		return Workflow{}, err
	}
	ws := a.WorkspaceID()
	if _, err := s.get(ctx, s.DB.Read(), ws, id); err != nil {
		return Workflow{}, apperr.Wrap(err, "save layout")
	}
	var val any
	if raw != nil {
		val = string(raw)
	}
	err = s.DB.Tx(ctx, func(tx *db.Tx) error {
		_, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE workflows SET layout = $3 WHERE workspace_id = $1 AND id = $2 AND deleted_at IS NULL`, id, val)
		return err
	})
	if err != nil {
		return Workflow{}, apperr.Wrap(err, "save layout")
	}
	return s.get(ctx, s.DB.Read(), ws, id)
}

// Restore makes version v of a workflow its newest version again: a new
// version with v's definition (validated again, since the plugins and
// gateways it names may have changed), audited as workflow.restored.
func (s *Service) Restore(ctx context.Context, a actor.Actor, id string, v int) (Workflow, error) {
	if err := allow(a, actor.PermWorkflowUpdate); err != nil {
		return Workflow{}, err
	}
	old, err := s.GetVersion(ctx, a, id, v)
	if err != nil {
		return Workflow{}, err
	}
	raw, err := json.Marshal(old.Definition)
	if err != nil {
		return Workflow{}, apperr.Wrap(err, "restore version")
	}
	return s.Update(ctx, a, id, UpdateInput{Definition: raw, restoredFrom: v})
}

// Draft is the editor's unsaved work on a workflow: a definition (which
// need not validate), the step outputs pinned for test runs and a sample
// input. Saving it makes no version.
type Draft struct {
	Definition json.RawMessage            `json:"definition"`
	Pinned     map[string]json.RawMessage `json:"pinned"`
	Input      json.RawMessage            `json:"input"`
	UpdatedAt  *time.Time                 `json:"updatedAt"`
	UpdatedBy  string                     `json:"updatedBy,omitempty"`
}

// DraftInput is the body of PUT /workflows/{id}/draft.
type DraftInput struct {
	Definition json.RawMessage            `json:"definition"`
	Pinned     map[string]json.RawMessage `json:"pinned,omitempty"`
	Input      json.RawMessage            `json:"input,omitempty"`
}

// MaxPinnedBytes bounds a draft's (and a test run's) pinned outputs.
const MaxPinnedBytes = 512 << 10

func checkPinned(pinned map[string]json.RawMessage) ([]byte, error) {
	if pinned == nil {
		pinned = map[string]json.RawMessage{}
	}
	if len(pinned) > MaxLayoutNodes {
		return nil, apperr.Invalid(apperr.FieldError{Field: "pinned", Message: fmt.Sprintf("may pin at most %d steps", MaxLayoutNodes)})
	}
	for k, v := range pinned {
		if k == "" || len(k) > 64 {
			return nil, apperr.Invalid(apperr.FieldError{Field: "pinned", Message: "keys are step ids (1–64 characters)"})
		}
		if len(v) == 0 {
			pinned[k] = json.RawMessage("null")
		}
	}
	raw, err := json.Marshal(pinned)
	if err != nil {
		return nil, apperr.Invalid(apperr.FieldError{Field: "pinned", Message: "is not valid JSON"})
	}
	if len(raw) > MaxPinnedBytes {
		return nil, apperr.New(apperr.PayloadTooLarge, "the pinned outputs must encode to at most %d bytes", MaxPinnedBytes)
	}
	return raw, nil
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// SaveDraft stores the editor's draft of a workflow (one per workflow).
func (s *Service) SaveDraft(ctx context.Context, a actor.Actor, id string, in DraftInput) (Draft, error) {
	if err := allow(a, actor.PermWorkflowUpdate); err != nil {
		return Draft{}, err
	}
	var def, input any
	if !isNull(in.Definition) {
		if len(in.Definition) > MaxDefinitionBytes {
			return Draft{}, apperr.Invalid(apperr.FieldError{Field: "definition", Message: fmt.Sprintf("must encode to at most %d bytes", MaxDefinitionBytes)})
		}
		def = string(in.Definition)
	}
	if !isNull(in.Input) {
		if len(in.Input) > MaxInputBytes {
			return Draft{}, apperr.New(apperr.PayloadTooLarge, "the input must encode to at most %d bytes", MaxInputBytes)
		}
		input = string(in.Input)
	}
	pinned, err := checkPinned(in.Pinned)
	if err != nil {
		return Draft{}, err
	}
	ws := a.WorkspaceID()
	if _, err := s.get(ctx, s.DB.Read(), ws, id); err != nil {
		return Draft{}, apperr.Wrap(err, "save draft")
	}
	err = s.DB.Tx(ctx, func(tx *db.Tx) error {
		_, err := db.Scope(tx, ws).ExecContext(ctx, `INSERT INTO workflow_drafts (workspace_id, workflow_id, definition, pinned, input, updated_by, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (workflow_id) DO UPDATE SET definition = excluded.definition,
			pinned = excluded.pinned, input = excluded.input, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			id, def, string(pinned), input, nullable(a.UserID), s.now())
		return err
	})
	if err != nil {
		return Draft{}, apperr.Wrap(err, "save draft")
	}
	return s.GetDraft(ctx, a, id)
}

// GetDraft returns a workflow's draft; a workflow without one answers an
// empty draft (definition and input null, nothing pinned).
func (s *Service) GetDraft(ctx context.Context, a actor.Actor, id string) (Draft, error) {
	if err := allow(a, actor.PermWorkflowRead); err != nil {
		return Draft{}, err
	}
	ws := a.WorkspaceID()
	if _, err := s.get(ctx, s.DB.Read(), ws, id); err != nil {
		return Draft{}, apperr.Wrap(err, "get draft")
	}
	d := Draft{Pinned: map[string]json.RawMessage{}}
	var def, input, by sql.NullString
	var pinned string
	var at time.Time
	err := db.Scope(s.DB.Read(), ws).QueryRowContext(ctx, `SELECT definition, pinned, input, updated_by, updated_at
		FROM workflow_drafts WHERE workspace_id = $1 AND workflow_id = $2`, id).Scan(&def, &pinned, &input, &by, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return d, nil
	}
	if err != nil {
		return Draft{}, apperr.Wrap(err, "get draft")
	}
	if def.Valid {
		d.Definition = json.RawMessage(def.String)
	}
	if input.Valid {
		d.Input = json.RawMessage(input.String)
	}
	_ = json.Unmarshal([]byte(pinned), &d.Pinned)
	at = at.UTC()
	d.UpdatedAt, d.UpdatedBy = &at, by.String
	return d, nil
}
