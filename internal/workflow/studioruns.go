package workflow

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

// more adds the run inspector's filters to a run listing's query: the
// trigger, the version, a time window on the start (since inclusive,
// until exclusive) and test or real runs.
func (f RunFilter) more(q string, args []any) (string, []any, error) {
	if f.Trigger != "" {
		switch TriggerType(f.Trigger) {
		case TriggerManual, TriggerSchedule, TriggerEvent, TriggerWebhook:
		default:
			return "", nil, apperr.Invalid(apperr.FieldError{Field: "trigger", Message: "must be manual, schedule, event or webhook"})
		}
		args = append(args, f.Trigger)
		q += fmt.Sprintf(` AND trigger_kind = $%d`, len(args)+1)
	}
	if f.Version != 0 {
		if f.Version < 1 {
			return "", nil, apperr.Invalid(apperr.FieldError{Field: "version", Message: "must be a version number (1, 2, …)"})
		}
		args = append(args, f.Version)
		q += fmt.Sprintf(` AND version = $%d`, len(args)+1)
	}
	if !f.Since.IsZero() {
		args = append(args, f.Since.UTC())
		q += fmt.Sprintf(` AND created_at >= $%d`, len(args)+1)
	}
	if !f.Until.IsZero() {
		args = append(args, f.Until.UTC())
		q += fmt.Sprintf(` AND created_at < $%d`, len(args)+1)
	}
	if f.Test != nil {
		args = append(args, *f.Test)
		q += fmt.Sprintf(` AND test = $%d`, len(args)+1)
	}
	return q, args, nil
}

// waitUntil notes on the last step record when the run goes on after it.
func (x *exec) waitUntil(t time.Time) {
	if len(x.records) > 0 {
		t = t.UTC()
		x.records[len(x.records)-1].WaitUntil = &t
	}
}

// noteCharge records what a run's start cost in credits (nothing to do
// within the plan).
func noteCharge(ctx context.Context, tx *db.Tx, ws, runID string, millicredits int64) error {
	if millicredits == 0 {
		return nil
	}
	_, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE workflow_runs SET charged_millicredits = charged_millicredits + $3
		WHERE workspace_id = $1 AND id = $2`, runID, millicredits)
	return err
}
