// Package analytics keeps the counters of the analytics built-in: messages
// per installation, UTC day, gateway, chat and user, counted from the
// gateway events the installation subscribes to, and the report that reads
// them (GET /api/v1/installations/{id}/analytics).
//
// A message is counted exactly once. Its counting key (the execution's
// idempotency key, "event:<event id>") is inserted in the transaction that
// bumps the counter; a retried execution finds the key and counts nothing.
package analytics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/plugin/builtin"
	"github.com/switchboard/switchboard/internal/plugin/install"
)

// Slug is the analytics built-in's plugin slug.
const Slug = "analytics"

// maxIDLen bounds the keys and provider ids stored with a count.
const maxIDLen = 200

// Service records and reports message counts. It implements
// builtin.AnalyticsRecorder.
type Service struct {
	db       *db.DB
	installs *install.Service
	log      *slog.Logger
}

// New returns the analytics service; installs resolves the installation a
// report is asked for.
func New(d *db.DB, installs *install.Service, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: d, installs: installs, log: log}
}

var _ builtin.AnalyticsRecorder = (*Service)(nil)

// Record counts m for the installation unless key was counted for it
// before; counted reports whether this call counted it. The key and the
// counter are written in one transaction, so a message is in the counters
// once whatever fails or retries around it. Only the system acting for the
// workspace (an event-triggered execution) or an actor holding
// workflow:execute may record.
func (s *Service) Record(ctx context.Context, a actor.Actor, installationID, key string, m builtin.AnalyticsMessage) (counted bool, err error) {
	if !a.System && !a.Can(actor.PermWorkflowExecute) {
		return false, apperr.New(apperr.Forbidden, "you lack the permission %s", actor.PermWorkflowExecute)
	}
	ws := a.WorkspaceID()
	if ws == "" || !ids.Valid(ids.Installation, installationID) {
		return false, apperr.New(apperr.NotFound, "installation not found")
	}
	if err := checkMessage(key, m); err != nil {
		return false, err
	}
	username := m.Username
	if len(username) > maxIDLen {
		username = username[:maxIDLen]
		for !utf8.ValidString(username) { // cut on a rune boundary
			username = username[:len(username)-1]
		}
	}
	day := m.Day.UTC().Format(time.DateOnly)
	now := db.Now()
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		q := db.Scope(tx, ws)
		var got string
		err := q.QueryRowContext(ctx, `INSERT INTO plugin_analytics_seen (workspace_id, installation_id, event_key, created_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (workspace_id, installation_id, event_key) DO NOTHING RETURNING event_key`,
			installationID, key, now).Scan(&got)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // counted before
		}
		if err != nil {
			return fmt.Errorf("mark %s counted: %w", key, err)
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO plugin_analytics_counts (workspace_id, installation_id, day, gateway_id, chat_id, user_id,
			username, messages, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)
			ON CONFLICT (workspace_id, installation_id, day, gateway_id, chat_id, user_id) DO UPDATE SET
			messages = plugin_analytics_counts.messages + 1,
			username = CASE WHEN excluded.username = '' THEN plugin_analytics_counts.username ELSE excluded.username END,
			updated_at = excluded.updated_at`,
			installationID, day, m.GatewayID, m.ChatID, m.UserID, username, now); err != nil {
			return fmt.Errorf("count message: %w", err)
		}
		counted = true
		return nil
	})
	if err != nil {
		s.log.Error("analytics: record", "installation", installationID, "key", key, "error", err)
		return false, apperr.Wrap(err, "record analytics")
	}
	return counted, nil
}

func checkMessage(key string, m builtin.AnalyticsMessage) error {
	var bad []apperr.FieldError
	if key == "" || len(key) > maxIDLen {
		bad = append(bad, apperr.FieldError{Field: "key", Message: fmt.Sprintf("must be 1 to %d characters", maxIDLen)})
	}
	if m.GatewayID == "" || len(m.GatewayID) > maxIDLen {
		bad = append(bad, apperr.FieldError{Field: "gatewayId", Message: "is required"})
	}
	if len(m.ChatID) > maxIDLen {
		bad = append(bad, apperr.FieldError{Field: "chatId", Message: fmt.Sprintf("must be at most %d characters", maxIDLen)})
	}
	if len(m.UserID) > maxIDLen {
		bad = append(bad, apperr.FieldError{Field: "userId", Message: fmt.Sprintf("must be at most %d characters", maxIDLen)})
	}
	if m.Day.IsZero() {
		bad = append(bad, apperr.FieldError{Field: "day", Message: "is required"})
	}
	if len(bad) > 0 {
		return apperr.Invalid(bad...)
	}
	return nil
}

// ForgetTx deletes an installation's counters and counted keys inside tx
// (the installation is being uninstalled).
func ForgetTx(ctx context.Context, tx *db.Tx, workspaceID, installationID string) error {
	for _, q := range []string{
		`DELETE FROM plugin_analytics_counts WHERE workspace_id = $1 AND installation_id = $2`,
		`DELETE FROM plugin_analytics_seen WHERE workspace_id = $1 AND installation_id = $2`,
	} {
		if _, err := db.Scope(tx, workspaceID).ExecContext(ctx, q, installationID); err != nil {
			return fmt.Errorf("forget analytics: %w", err)
		}
	}
	return nil
}
