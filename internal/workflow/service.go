package workflow

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/secret"
	"github.com/switchboard/switchboard/internal/telemetry"
)

// PluginRef names what a plugin step runs: an installation of the
// workspace, or a built-in plugin by slug with its configuration.
type PluginRef struct {
	InstallationID string
	Plugin         string
	Config         json.RawMessage
}

// Plugins runs plugin steps; the installation service provides it.
type Plugins interface {
	RunStep(ctx context.Context, a actor.Actor, ref PluginRef, input json.RawMessage, ec plugin.ExecutionContext) (plugin.ExecutionResult, error)
}

// Gateways queues a gateway step's message inside the step's own
// transaction, so the message and the step's checkpoint commit together.
type Gateways interface {
	SendTx(ctx context.Context, tx *db.Tx, a actor.Actor, gatewayID string, in gateway.SendInput) (gateway.SendRecord, error)
}

// Meter counts a run against the plan's executions per day.
type Meter interface {
	ConsumeTx(ctx context.Context, tx *db.Tx, a actor.Actor, action actor.Action, amount int64, key string) (credit.Consumption, error)
}

// Deps are what the service works with. Jobs may be nil on a node that
// cannot queue (then only runs whose steps are all pure can finish).
type Deps struct {
	DB        *db.DB
	Jobs      *jobs.Runner
	Refs      Refs
	Plugins   Plugins
	Gateways  Gateways
	Meter     Meter
	Log       *slog.Logger
	PublicURL string
	// Keys seals the path tokens of webhook URLs.
	Keys *secret.Keyring
	// Metrics counts runs and steps (nil: not counted).
	Metrics *telemetry.Metrics
	// Events, if set, receives run.completed and run.failed (runevents.go).
	Events Events
}

// Service manages workflows and drives their runs.
type Service struct {
	Deps
	compiled cache
	hooks    hookCache
	waiters  waiters
	notices  notices
	// alone writes runs that are one row each in batch statements
	// (hookalone.go).
	alone *db.Batcher[*aloneRow]
	// aloneStatements and aloneRuns count what alone wrote (BatchedRuns).
	aloneStatements, aloneRuns atomic.Uint64
	now                        func() time.Time
	schedNow                   func() time.Time // schedule_trigger.go
	stop                       context.CancelFunc
	done                       *sync.WaitGroup
}

// New returns the workflow service; call RegisterJobs before the job
// runner opens.
func New(d Deps) *Service {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	s := &Service{Deps: d, now: db.Now}
	s.alone = db.NewBatcher(maxAlone, s.insertAlone)
	return s
}

// Workflow is a workflow at its current version.
type Workflow struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Description    string     `json:"description"`
	Enabled        bool       `json:"enabled"`
	Version        int        `json:"version"`
	TriggerType    string     `json:"triggerType"`
	Definition     Definition `json:"definition"`
	HookURL        string     `json:"hookUrl,omitempty"`
	NextRunAt      *time.Time `json:"nextRunAt,omitempty"`
	UserID         string     `json:"userId"`
	OrganizationID string     `json:"organizationId,omitempty"`
	CreatedAt      time.Time  `json:"createdAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`

	// Layout is where the editor draws each step (null until it saves
	// one); it is not part of any version.
	Layout *Layout `json:"layout"`

	versionID string
	// hookEnc is the sealed path token of the webhook URL; hookPlain the
	// token of a row not yet sealed (see openHook).
	hookEnc   string
	hookPlain string
	plan      actor.Plan
	// unsubscribed is set when the read that found the workflow also found
	// no enabled event subscription in its workspace: a run started from
	// that read ending in its first commit has no event to emit.
	unsubscribed bool
	// guard is set on a workflow served from the webhook cache.
	guard *runGuard
}

// Version is one immutable version of a workflow's definition.
type Version struct {
	ID         string     `json:"id"`
	WorkflowID string     `json:"workflowId"`
	Version    int        `json:"version"`
	Definition Definition `json:"definition"`
	CreatedBy  string     `json:"createdBy,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
}

// CreateInput makes a workflow (enabled unless Enabled says otherwise).
type CreateInput struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Enabled     *bool           `json:"enabled,omitempty"`
	Definition  json.RawMessage `json:"definition"`
}

// UpdateInput changes a workflow; every update makes a new version (an
// omitted definition carries the current one over).
type UpdateInput struct {
	Name        *string         `json:"name,omitempty"`
	Description *string         `json:"description,omitempty"`
	Definition  json.RawMessage `json:"definition,omitempty"`

	// restoredFrom is the version a restore brings back (audited as such).
	restoredFrom int
}

var errNotFound = apperr.New(apperr.NotFound, "workflow not found")

func allow(a actor.Actor, p actor.Permission) error {
	if !a.Can(p) {
		return apperr.New(apperr.Forbidden, "you lack the permission %s", p)
	}
	return nil
}

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", apperr.Invalid(apperr.FieldError{Field: "name", Message: "is required"})
	case utf8.RuneCountInString(name) > 200:
		return "", apperr.Invalid(apperr.FieldError{Field: "name", Message: "must be at most 200 characters"})
	}
	return name, nil
}

func checkDescription(d string) error {
	if utf8.RuneCountInString(d) > 2000 {
		return apperr.Invalid(apperr.FieldError{Field: "description", Message: "must be at most 2000 characters"})
	}
	return nil
}

func newToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

const wfColumns = `w.id, w.workspace_id, w.user_id, w.organization_id, w.name, w.description, w.enabled, w.version, w.version_id,
	w.trigger_type, w.hook_token, w.hook_token_enc, w.created_at, w.updated_at, v.definition, s.next_fire_at, COALESCE(o.plan, u.plan, 'FREE'), w.layout`

const wfFrom = ` FROM workflows w JOIN workflow_versions v ON v.id = w.version_id
	LEFT JOIN workflow_schedules s ON s.workflow_id = w.id
	LEFT JOIN organizations o ON o.id = w.organization_id LEFT JOIN users u ON u.id = w.user_id `

func (s *Service) scanWorkflow(r interface{ Scan(...any) error }) (Workflow, string, error) {
	var w Workflow
	var ws, def string
	var org sql.NullString
	var next sql.NullTime
	var layout sql.NullString
	if err := r.Scan(&w.ID, &ws, &w.UserID, &org, &w.Name, &w.Description, &w.Enabled, &w.Version, &w.versionID,
		&w.TriggerType, &w.hookPlain, &w.hookEnc, &w.CreatedAt, &w.UpdatedAt, &def, &next, &w.plan, &layout); err != nil {
		return Workflow{}, "", err
	}
	w.Layout = decodeLayout(layout)
	w.OrganizationID = org.String
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	if next.Valid && w.Enabled {
		t := next.Time.UTC()
		w.NextRunAt = &t
	}
	if err := json.Unmarshal([]byte(def), &w.Definition); err != nil {
		return Workflow{}, "", fmt.Errorf("workflow %s definition: %w", w.ID, err)
	}
	if w.TriggerType == string(TriggerWebhook) {
		token, err := s.openHook(w)
		if err != nil {
			return Workflow{}, "", err
		}
		w.HookURL = s.PublicURL + "/hooks/workflows/" + w.ID + "/" + token
	}
	return w, ws, nil
}

func (s *Service) get(ctx context.Context, q db.Querier, ws, id string) (Workflow, error) {
	if !ids.Valid(ids.Workflow, id) {
		return Workflow{}, errNotFound
	}
	w, _, err := s.scanWorkflow(db.Scope(q, ws).QueryRowContext(ctx, `SELECT `+wfColumns+wfFrom+`
		WHERE w.workspace_id = $1 AND w.id = $2 AND w.deleted_at IS NULL`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Workflow{}, errNotFound
	}
	return w, err
}

// compileFor returns the compiled form of a stored version.
func (s *Service) compileFor(ctx context.Context, versionID string, def Definition) (*compiled, error) {
	if c := s.compiled.get(versionID); c != nil {
		return c, nil
	}
	c, err := compile(ctx, actor.Actor{System: true}, def, nil)
	if err != nil {
		return nil, fmt.Errorf("version %s no longer compiles: %w", versionID, err)
	}
	s.compiled.put(versionID, c)
	return c, nil
}

// Create validates and stores a workflow at version 1.
func (s *Service) Create(ctx context.Context, a actor.Actor, in CreateInput) (Workflow, error) {
	if err := allow(a, actor.PermWorkflowCreate); err != nil {
		return Workflow{}, err
	}
	name, err := checkName(in.Name)
	if err != nil {
		return Workflow{}, err
	}
	if err := checkDescription(in.Description); err != nil {
		return Workflow{}, err
	}
	if len(in.Definition) == 0 {
		return Workflow{}, apperr.Invalid(apperr.FieldError{Field: "definition", Message: "is required"})
	}
	def, c, err := s.validate(ctx, a, in.Definition)
	if err != nil {
		return Workflow{}, err
	}
	if err := s.checkCalls(ctx, a, "", c); err != nil {
		return Workflow{}, err
	}
	ws := a.WorkspaceID()
	now := s.now()
	w := Workflow{ID: ids.New(ids.Workflow), Name: name, Description: in.Description, Enabled: in.Enabled == nil || *in.Enabled,
		Version: 1, TriggerType: string(def.Trigger.Type), Definition: def, UserID: a.UserID, OrganizationID: a.OrganizationID,
		CreatedAt: now, UpdatedAt: now, versionID: ids.New(ids.WorkflowVersion), plan: a.Plan}
	token := newToken()
	hookKeyID := ""
	if w.hookEnc, hookKeyID, err = s.sealHook(w.ID, token); err != nil {
		return Workflow{}, apperr.Wrap(err, "create workflow")
	}
	raw, _ := json.Marshal(def)
	err = s.DB.Tx(ctx, func(tx *db.Tx) error {
		if _, err := db.Scope(tx, ws).ExecContext(ctx, `INSERT INTO workflows (workspace_id, id, user_id, organization_id, name, description,
			enabled, version, version_id, trigger_type, hook_token, hook_token_enc, hook_token_key_id, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, '', $10, $11, $12, $12)`,
			w.ID, a.UserID, nullable(a.OrganizationID), w.Name, w.Description, w.Enabled, w.versionID, w.TriggerType,
			w.hookEnc, hookKeyID, now); err != nil {
			return fmt.Errorf("insert workflow: %w", err)
		}
		if err := insertVersion(ctx, tx, ws, w.ID, w.versionID, 1, raw, a.UserID, now); err != nil {
			return err
		}
		if err := s.syncSchedule(ctx, tx, ws, w.ID, w.Enabled, c); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "workflow.created", Resource: "workflow", ResourceID: w.ID,
			Metadata: map[string]any{"name": w.Name, "version": 1, "trigger": w.TriggerType, "steps": len(def.Steps)}})
	})
	if err != nil {
		return Workflow{}, apperr.Wrap(err, "create workflow")
	}
	s.compiled.put(w.versionID, c)
	return s.get(ctx, s.DB.Read(), ws, w.ID)
}

func (s *Service) validate(ctx context.Context, a actor.Actor, raw json.RawMessage) (Definition, *compiled, error) {
	def, err := decodeDefinition(raw)
	if err != nil {
		return Definition{}, nil, err
	}
	c, err := compile(ctx, a, def, s.Refs)
	if err != nil {
		return Definition{}, nil, err
	}
	if err := s.checkErrorWorkflow(ctx, s.DB.Read(), a.WorkspaceID(), def.Settings.ErrorWorkflowID, "", "definition.settings.errorWorkflowId"); err != nil {
		return Definition{}, nil, err
	}
	return def, c, nil
}

// Validate checks a definition without saving it (what the editor calls
// as its author types).
func (s *Service) Validate(ctx context.Context, a actor.Actor, raw json.RawMessage) error {
	if err := allow(a, actor.PermWorkflowRead); err != nil {
		return err
	}
	_, c, err := s.validate(ctx, a, raw)
	if err != nil {
		return err
	}
	// The workflows its subWorkflow steps call are checked as a save
	// checks them: another workspace's id is refused here too.
	return s.checkCalls(ctx, a, "", c)
}

func insertVersion(ctx context.Context, tx *db.Tx, ws, workflowID, id string, version int, def []byte, by string, now time.Time) error {
	if _, err := db.Scope(tx, ws).ExecContext(ctx, `INSERT INTO workflow_versions (workspace_id, id, workflow_id, version, definition, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, workflowID, version, string(def), nullable(by), now); err != nil {
		return fmt.Errorf("insert version: %w", err)
	}
	return nil
}

// syncSchedule keeps the schedule row of a workflow in step with its
// current version and enabled state.
func (s *Service) syncSchedule(ctx context.Context, tx *db.Tx, ws, id string, enabled bool, c *compiled) error {
	sc := db.Scope(tx, ws)
	if !enabled || c.def.Trigger.Type != TriggerSchedule {
		_, err := sc.ExecContext(ctx, `DELETE FROM workflow_schedules WHERE workspace_id = $1 AND workflow_id = $2`, id)
		return err
	}
	next := c.sched.Next(s.scheduleNow())
	_, err := sc.ExecContext(ctx, `INSERT INTO workflow_schedules (workspace_id, workflow_id, next_fire_at, updated_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (workflow_id) DO UPDATE SET next_fire_at = excluded.next_fire_at, updated_at = excluded.updated_at`,
		id, next, s.now())
	return err
}

// Get returns a workflow at its current version.
func (s *Service) Get(ctx context.Context, a actor.Actor, id string) (Workflow, error) {
	if err := allow(a, actor.PermWorkflowRead); err != nil {
		return Workflow{}, err
	}
	w, err := s.get(ctx, s.DB.Read(), a.WorkspaceID(), id)
	return w, apperr.Wrap(err, "get workflow")
}

// Page is a page of workflows, newest first.
type Page struct {
	Items      []Workflow `json:"items"`
	NextCursor *string    `json:"nextCursor"`
}

// List pages the workspace's workflows, newest first.
func (s *Service) List(ctx context.Context, a actor.Actor, cursor string, limit int) (Page, error) {
	if err := allow(a, actor.PermWorkflowRead); err != nil {
		return Page{}, err
	}
	limit = pageLimit(limit)
	if cursor != "" && !ids.Valid(ids.Workflow, cursor) {
		return Page{}, apperr.Invalid(apperr.FieldError{Field: "cursor", Message: "is not a cursor from this listing"})
	}
	q := `SELECT ` + wfColumns + wfFrom + ` WHERE w.workspace_id = $1 AND w.deleted_at IS NULL`
	var args []any
	if cursor != "" {
		q += ` AND w.id < $2`
		args = append(args, cursor)
	}
	q += fmt.Sprintf(` ORDER BY w.id DESC LIMIT %d`, limit+1)
	items, next, err := db.CollectPage(ctx, s.DB.Read(), a.WorkspaceID(), q, args, limit, func(rows *sql.Rows) (Workflow, string, error) {
		w, _, err := s.scanWorkflow(rows)
		return w, w.ID, err
	})
	if err != nil {
		return Page{}, apperr.Wrap(err, "list workflows")
	}
	return Page{Items: items, NextCursor: cursorOrNil(next)}, nil
}

// cursorOrNil is a page's nextCursor: null on the last page.
func cursorOrNil(next string) *string {
	if next == "" {
		return nil
	}
	return &next
}

func pageLimit(limit int) int {
	if limit <= 0 || limit > 200 {
		return 50
	}
	return limit
}

// Update makes a new version of a workflow. Runs already started stay on
// the version they started with.
func (s *Service) Update(ctx context.Context, a actor.Actor, id string, in UpdateInput) (Workflow, error) {
	if err := allow(a, actor.PermWorkflowUpdate); err != nil {
		return Workflow{}, err
	}
	ws := a.WorkspaceID()
	cur, err := s.get(ctx, s.DB.Read(), ws, id)
	if err != nil {
		return Workflow{}, apperr.Wrap(err, "update workflow")
	}
	name, desc := cur.Name, cur.Description
	if in.Name != nil {
		if name, err = checkName(*in.Name); err != nil {
			return Workflow{}, err
		}
	}
	if in.Description != nil {
		if err := checkDescription(*in.Description); err != nil {
			return Workflow{}, err
		}
		desc = *in.Description
	}
	raw := in.Definition
	if len(raw) == 0 || string(raw) == "null" {
		raw, _ = json.Marshal(cur.Definition)
	}
	def, c, err := s.validate(ctx, a, raw)
	if err != nil {
		return Workflow{}, err
	}
	if def.Settings.ErrorWorkflowID == id {
		return Workflow{}, apperr.Invalid(apperr.FieldError{Field: "definition.settings.errorWorkflowId", Message: "cannot name the workflow itself"})
	}
	if err := s.checkCalls(ctx, a, id, c); err != nil {
		return Workflow{}, err
	}
	defRaw, _ := json.Marshal(def)
	vid := ids.New(ids.WorkflowVersion)
	var version int
	err = s.DB.Tx(ctx, func(tx *db.Tx) error {
		w, err := s.get(ctx, tx, ws, id)
		if err != nil {
			return err
		}
		version = w.Version + 1
		now := s.now()
		if err := insertVersion(ctx, tx, ws, id, vid, version, defRaw, a.UserID, now); err != nil {
			return err
		}
		res, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE workflows SET name = $3, description = $4, version = $5, version_id = $6,
			trigger_type = $7, updated_at = $8 WHERE workspace_id = $1 AND id = $2 AND version = $9`,
			id, name, desc, version, vid, string(def.Trigger.Type), now, w.Version)
		if err != nil {
			return fmt.Errorf("update workflow: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.New(apperr.Conflict, "the workflow changed while saving; try again")
		}
		if err := s.syncSchedule(ctx, tx, ws, id, w.Enabled, c); err != nil {
			return err
		}
		action, meta := "workflow.updated", map[string]any{"name": name, "version": version, "previousVersion": w.Version, "trigger": def.Trigger.Type, "steps": len(def.Steps)}
		if in.restoredFrom > 0 {
			action, meta["restoredFrom"] = "workflow.restored", in.restoredFrom
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: action, Resource: "workflow", ResourceID: id,
			Metadata: audit.WithDiff(meta,
				// The definitions themselves are kept whole as the workflow's
				// versions; the row says which parts moved.
				map[string]any{"name": w.Name, "description": w.Description, "version": w.Version, "trigger": w.Definition.Trigger, "steps": len(w.Definition.Steps)},
				map[string]any{"name": name, "description": desc, "version": version, "trigger": def.Trigger, "steps": len(def.Steps)})})
	})
	if err != nil {
		if db.IsUniqueViolation(err) {
			return Workflow{}, apperr.New(apperr.Conflict, "the workflow changed while saving; try again")
		}
		return Workflow{}, apperr.Wrap(err, "update workflow")
	}
	s.compiled.put(vid, c)
	return s.get(ctx, s.DB.Read(), ws, id)
}

// SetEnabled enables or disables a workflow. A disabled workflow starts
// no runs (its webhook answers 409); runs under way go on.
func (s *Service) SetEnabled(ctx context.Context, a actor.Actor, id string, enabled bool) (Workflow, error) {
	if err := allow(a, actor.PermWorkflowUpdate); err != nil {
		return Workflow{}, err
	}
	ws := a.WorkspaceID()
	err := s.DB.Tx(ctx, func(tx *db.Tx) error {
		w, err := s.get(ctx, tx, ws, id)
		if err != nil {
			return err
		}
		if w.Enabled == enabled {
			return nil
		}
		if _, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE workflows SET enabled = $3, updated_at = $4 WHERE workspace_id = $1 AND id = $2`,
			id, enabled, s.now()); err != nil {
			return fmt.Errorf("enable workflow: %w", err)
		}
		c, err := s.compileFor(ctx, w.versionID, w.Definition)
		if err != nil {
			return err
		}
		if err := s.syncSchedule(ctx, tx, ws, id, enabled, c); err != nil {
			return err
		}
		action := "workflow.disabled"
		if enabled {
			action = "workflow.enabled"
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: action, Resource: "workflow", ResourceID: id, Metadata: map[string]any{"version": w.Version}})
	})
	if err != nil {
		return Workflow{}, apperr.Wrap(err, "enable workflow")
	}
	return s.get(ctx, s.DB.Read(), ws, id)
}

// Delete removes a workflow: it starts no more runs, runs under way are
// cancelled, and its versions and run history stay readable by run.
func (s *Service) Delete(ctx context.Context, a actor.Actor, id string) error {
	if err := allow(a, actor.PermWorkflowDelete); err != nil {
		return err
	}
	ws := a.WorkspaceID()
	err := s.DB.Tx(ctx, func(tx *db.Tx) error {
		w, err := s.get(ctx, tx, ws, id)
		if err != nil {
			return err
		}
		now := s.now()
		sc := db.Scope(tx, ws)
		if _, err := sc.ExecContext(ctx, `UPDATE workflows SET deleted_at = $3, enabled = $4, updated_at = $3 WHERE workspace_id = $1 AND id = $2`,
			id, now, false); err != nil {
			return fmt.Errorf("delete workflow: %w", err)
		}
		if _, err := sc.ExecContext(ctx, `DELETE FROM workflow_schedules WHERE workspace_id = $1 AND workflow_id = $2`, id); err != nil {
			return fmt.Errorf("delete schedule: %w", err)
		}
		res, err := sc.ExecContext(ctx, `UPDATE workflow_runs SET status = $3, error = $4, seq = seq + 1, finished_at = $5, updated_at = $5
			WHERE workspace_id = $1 AND workflow_id = $2 AND status = 'running'`, id, StatusCancelled, "the workflow was deleted", now)
		if err != nil {
			return fmt.Errorf("cancel runs: %w", err)
		}
		cancelled, _ := res.RowsAffected()
		if err := dropWaiters(ctx, tx, ws, "", id); err != nil {
			return err
		}
		if err := s.workflowDeleted(ctx, tx, ws, id, now); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "workflow.deleted", Resource: "workflow", ResourceID: id,
			Metadata: map[string]any{"name": w.Name, "version": w.Version, "cancelledRuns": cancelled}})
	})
	return apperr.Wrap(err, "delete workflow")
}

// Versions lists a workflow's versions, newest first: at most limit (1–500,
// default 500) of those before version before (0: from the newest).
func (s *Service) Versions(ctx context.Context, a actor.Actor, id string, before, limit int) ([]Version, error) {
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	if err := allow(a, actor.PermWorkflowRead); err != nil {
		return nil, err
	}
	ws := a.WorkspaceID()
	if _, err := s.get(ctx, s.DB.Read(), ws, id); err != nil {
		return nil, apperr.Wrap(err, "list versions")
	}
	rows, err := db.Scope(s.DB.Read(), ws).QueryContext(ctx, `SELECT id, workflow_id, version, definition, created_by, created_at
		FROM workflow_versions WHERE workspace_id = $1 AND workflow_id = $2 AND ($3 = 0 OR version < $3)
		ORDER BY version DESC LIMIT $4`, id, before, limit)
	if err != nil {
		return nil, apperr.Wrap(err, "list versions")
	}
	defer rows.Close()
	out := []Version{}
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, apperr.Wrap(err, "list versions")
		}
		out = append(out, v)
	}
	return out, apperr.Wrap(rows.Err(), "list versions")
}

// GetVersion returns one version of a workflow.
func (s *Service) GetVersion(ctx context.Context, a actor.Actor, id string, version int) (Version, error) {
	if err := allow(a, actor.PermWorkflowRead); err != nil {
		return Version{}, err
	}
	ws := a.WorkspaceID()
	if _, err := s.get(ctx, s.DB.Read(), ws, id); err != nil {
		return Version{}, apperr.Wrap(err, "get version")
	}
	v, err := scanVersion(db.Scope(s.DB.Read(), ws).QueryRowContext(ctx, `SELECT id, workflow_id, version, definition, created_by, created_at
		FROM workflow_versions WHERE workspace_id = $1 AND workflow_id = $2 AND version = $3`, id, version))
	if errors.Is(err, sql.ErrNoRows) {
		return Version{}, apperr.New(apperr.NotFound, "version not found")
	}
	return v, apperr.Wrap(err, "get version")
}

func scanVersion(r interface{ Scan(...any) error }) (Version, error) {
	var v Version
	var def string
	var by sql.NullString
	if err := r.Scan(&v.ID, &v.WorkflowID, &v.Version, &def, &by, &v.CreatedAt); err != nil {
		return Version{}, err
	}
	v.CreatedBy, v.CreatedAt = by.String, v.CreatedAt.UTC()
	return v, json.Unmarshal([]byte(def), &v.Definition)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
