package analytics

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// Groupings of a report's rows.
const (
	ByDay  = "day"
	ByChat = "chat"
	ByUser = "user"
)

// Report bounds.
const (
	// MaxDays is the longest range one report covers.
	MaxDays = 366
	// DefaultDays is the range ending at To when From is not given.
	DefaultDays = 30
	// DefaultLimit and MaxLimit bound the rows of a chat or user report.
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Query asks for a report. From and To are UTC days (YYYY-MM-DD),
// inclusive; To defaults to today and From to DefaultDays days ending at
// To. GatewayID and ChatID narrow the counted messages. GroupBy is day
// (default: one row per day of the range, zeros included), chat or user
// (the busiest first, at most Limit rows).
type Query struct {
	From      string
	To        string
	GatewayID string
	ChatID    string
	GroupBy   string
	Limit     int
}

// Row is one group of a report. Chats and Users count the distinct chats
// and users among the row's messages (a chat or user is one of a gateway:
// the same provider id on two gateways is two).
type Row struct {
	Day       string `json:"day,omitempty"`
	GatewayID string `json:"gatewayId,omitempty"`
	ChatID    string `json:"chatId,omitempty"`
	UserID    string `json:"userId,omitempty"`
	Username  string `json:"username,omitempty"`
	Messages  int64  `json:"messages"`
	Chats     int64  `json:"chats"`
	Users     int64  `json:"users"`
}

// Totals summarise every message the report covers, whatever the rows'
// limit.
type Totals struct {
	Messages int64 `json:"messages"`
	Chats    int64 `json:"chats"`
	Users    int64 `json:"users"`
}

// Report is the answer to a Query.
type Report struct {
	InstallationID string `json:"installationId"`
	From           string `json:"from"`
	To             string `json:"to"`
	GroupBy        string `json:"groupBy"`
	GatewayID      string `json:"gatewayId,omitempty"`
	ChatID         string `json:"chatId,omitempty"`
	Rows           []Row  `json:"rows"`
	// Truncated says a chat or user report has more rows than Limit.
	Truncated bool   `json:"truncated,omitempty"`
	Totals    Totals `json:"totals"`
}

// filter is a checked Query.
type filter struct {
	from, to       time.Time
	gatewayID      string
	chatID         string
	groupBy        string
	limit          int
	installationID string
}

func parseQuery(q Query, today time.Time) (filter, error) {
	f := filter{gatewayID: q.GatewayID, chatID: q.ChatID, groupBy: q.GroupBy, limit: q.Limit}
	var bad []apperr.FieldError
	day := func(field, v string, def time.Time) time.Time {
		if v == "" {
			return def
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			bad = append(bad, apperr.FieldError{Field: field, Message: "must be a date such as 2026-01-02"})
		}
		return t
	}
	f.to = day("to", q.To, today.UTC().Truncate(24*time.Hour))
	f.from = day("from", q.From, f.to.AddDate(0, 0, -(DefaultDays-1)))
	if len(bad) == 0 {
		switch span := int(f.to.Sub(f.from)/(24*time.Hour)) + 1; {
		case f.from.After(f.to):
			bad = append(bad, apperr.FieldError{Field: "from", Message: "must not be after to (" + f.to.Format(time.DateOnly) + ")"})
		case span > MaxDays:
			bad = append(bad, apperr.FieldError{Field: "to", Message: fmt.Sprintf("the range covers %d days; at most %d", span, MaxDays)})
		}
	}
	if f.gatewayID != "" && !ids.Valid(ids.Gateway, f.gatewayID) {
		bad = append(bad, apperr.FieldError{Field: "gatewayId", Message: "is not a gateway id"})
	}
	if len(f.chatID) > maxIDLen {
		bad = append(bad, apperr.FieldError{Field: "chatId", Message: fmt.Sprintf("must be at most %d characters", maxIDLen)})
	}
	switch f.groupBy {
	case "":
		f.groupBy = ByDay
	case ByDay, ByChat, ByUser:
	default:
		bad = append(bad, apperr.FieldError{Field: "groupBy", Message: "must be day, chat or user"})
	}
	switch {
	case f.limit == 0:
		f.limit = DefaultLimit
	case f.limit < 0 || f.limit > MaxLimit:
		bad = append(bad, apperr.FieldError{Field: "limit", Message: fmt.Sprintf("must be from 1 to %d", MaxLimit)})
	}
	if len(bad) > 0 {
		return filter{}, apperr.Invalid(bad...)
	}
	return f, nil
}

// where is the filter as SQL after "WHERE", with its arguments ($1 is the
// workspace).
func (f filter) where() (string, []any) {
	w := `workspace_id = $1 AND installation_id = $2 AND day >= $3 AND day <= $4`
	args := []any{f.installationID, f.from.Format(time.DateOnly), f.to.Format(time.DateOnly)}
	if f.gatewayID != "" {
		args = append(args, f.gatewayID)
		w += fmt.Sprintf(` AND gateway_id = $%d`, len(args)+1)
	}
	if f.chatID != "" {
		args = append(args, f.chatID)
		w += fmt.Sprintf(` AND chat_id = $%d`, len(args)+1)
	}
	return w, args
}

// Distinct chats and users: a provider id is unique only within its
// gateway, and gateway ids hold no ':'.
const (
	distinctChats = `COUNT(DISTINCT CASE WHEN chat_id <> '' THEN gateway_id || ':' || chat_id END)`
	distinctUsers = `COUNT(DISTINCT CASE WHEN user_id <> '' THEN gateway_id || ':' || user_id END)`
	sumMessages   = `CAST(COALESCE(SUM(messages), 0) AS BIGINT)`
)

// Report reads an analytics installation's counters. Another workspace's
// installation, or one of another plugin, answers NOT_FOUND.
func (s *Service) Report(ctx context.Context, a actor.Actor, installationID string, q Query) (Report, error) {
	if !a.Can(actor.PermPluginRead) {
		return Report{}, apperr.New(apperr.Forbidden, "you lack the permission %s", actor.PermPluginRead)
	}
	inst, err := s.installs.Get(ctx, a, installationID)
	if err != nil {
		return Report{}, err
	}
	if inst.Plugin != Slug {
		return Report{}, apperr.New(apperr.NotFound, "installation %s is not an analytics installation", installationID)
	}
	f, err := parseQuery(q, db.Now())
	if err != nil {
		return Report{}, err
	}
	f.installationID = inst.ID
	out := Report{InstallationID: inst.ID, From: f.from.Format(time.DateOnly), To: f.to.Format(time.DateOnly), GroupBy: f.groupBy,
		GatewayID: f.gatewayID, ChatID: f.chatID, Rows: []Row{}}
	sc := db.Scope(s.db.Read(), a.WorkspaceID())
	where, args := f.where()
	if err := sc.QueryRowContext(ctx, `SELECT `+sumMessages+`, `+distinctChats+`, `+distinctUsers+`
		FROM plugin_analytics_counts WHERE `+where, args...).Scan(&out.Totals.Messages, &out.Totals.Chats, &out.Totals.Users); err != nil {
		return Report{}, apperr.Wrap(err, "analytics totals")
	}
	switch f.groupBy {
	case ByDay:
		out.Rows, err = s.byDay(ctx, sc, f, where, args)
	default:
		out.Rows, out.Truncated, err = s.byChatOrUser(ctx, sc, f, where, args)
	}
	if err != nil {
		return Report{}, apperr.Wrap(err, "analytics rows")
	}
	return out, nil
}

// byDay returns one row per day of the range, days without messages
// included.
func (s *Service) byDay(ctx context.Context, sc db.Scoped, f filter, where string, args []any) ([]Row, error) {
	rows, err := sc.QueryContext(ctx, `SELECT day, `+sumMessages+`, `+distinctChats+`, `+distinctUsers+`
		FROM plugin_analytics_counts WHERE `+where+` GROUP BY day`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := map[string]Row{}
	for rows.Next() {
		var r Row
		if err := rows.Scan(&r.Day, &r.Messages, &r.Chats, &r.Users); err != nil {
			return nil, err
		}
		got[r.Day] = r
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := []Row{}
	for d := f.from; !d.After(f.to); d = d.AddDate(0, 0, 1) {
		key := d.Format(time.DateOnly)
		r, ok := got[key]
		if !ok {
			r = Row{Day: key}
		}
		out = append(out, r)
	}
	return out, nil
}

// byChatOrUser returns the busiest chats or users first, at most f.limit,
// and whether there were more.
func (s *Service) byChatOrUser(ctx context.Context, sc db.Scoped, f filter, where string, args []any) ([]Row, bool, error) {
	var q string
	if f.groupBy == ByChat {
		q = `SELECT gateway_id, chat_id, '', ` + sumMessages + ` AS n, ` + distinctChats + `, ` + distinctUsers + `
			FROM plugin_analytics_counts WHERE ` + where + ` GROUP BY gateway_id, chat_id ORDER BY n DESC, gateway_id, chat_id`
	} else {
		q = `SELECT gateway_id, user_id, MAX(username), ` + sumMessages + ` AS n, ` + distinctChats + `, ` + distinctUsers + `
			FROM plugin_analytics_counts WHERE ` + where + ` GROUP BY gateway_id, user_id ORDER BY n DESC, gateway_id, user_id`
	}
	q += fmt.Sprintf(` LIMIT %d`, f.limit+1)
	rows, err := sc.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	out := []Row{}
	for rows.Next() {
		var r Row
		var id string
		if err := rows.Scan(&r.GatewayID, &id, &r.Username, &r.Messages, &r.Chats, &r.Users); err != nil {
			return nil, false, err
		}
		if f.groupBy == ByChat {
			r.ChatID = id
		} else {
			r.UserID = id
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	more := len(out) > f.limit
	if more {
		out = out[:f.limit]
	}
	return out, more, nil
}
