package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultTimeout bounds how long one database call may wait: for a
// PostgreSQL connection from the pool (including connecting), for one
// statement to answer, and for SQLite's lock (busy timeout). With the
// database unreachable — stopped, partitioned or frozen — a request then
// fails within a few seconds with a connectivity error (IsUnavailable),
// which the API answers 503 UNAVAILABLE, instead of hanging for the outage.
const DefaultTimeout = 3 * time.Second

// cancelGrace is how long a timed-out PostgreSQL statement waits for the
// server to acknowledge its cancel request before the connection is
// dropped: a live server stops the statement and keeps the connection, an
// unreachable one costs this much more.
const cancelGrace = time.Second

type noTimeoutKey struct{}

// WithoutTimeout marks ctx so that statements run under it are not bounded
// by the per-call timeout: for maintenance that may legitimately run long
// (migrations). Its own deadline, if any, still applies.
func WithoutTimeout(ctx context.Context) context.Context {
	return context.WithValue(ctx, noTimeoutKey{}, true)
}

func timeoutFor(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 || ctx.Value(noTimeoutKey{}) != nil {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// statementDeadline is a pgx tracer that gives every statement a deadline,
// from the moment it is sent until its rows are closed. pgx hands the
// returned context to the statement and back to TraceQueryEnd.
type statementDeadline struct{ d time.Duration }

type statementCancelKey struct{}

func (t statementDeadline) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	ctx, cancel := timeoutFor(ctx, t.d)
	return context.WithValue(ctx, statementCancelKey{}, cancel)
}

func (t statementDeadline) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	if cancel, ok := ctx.Value(statementCancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
}

// configureTimeouts bounds connecting and statements on a pgx pool config,
// keeping what the URL set explicitly (connect_timeout).
func configureTimeouts(cfg *pgxpool.Config, d time.Duration) {
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = d
	}
	cc.Tracer = statementDeadline{d: d}
	cc.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &onContextDone{
			deadline: &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()},
			cancel:   &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelGrace},
		}
	}
}

// onContextDone decides what a connection does when a statement's context
// ends. On a deadline it asks the server to stop the statement (so its
// locks go) and drops the connection if the server does not answer in
// time. A plain cancellation — the job queue interrupting its wait for
// notifications every few seconds, a client gone — keeps pgx's default of
// interrupting the read at once, without a cancel request per interrupt.
type onContextDone struct {
	deadline, cancel, used ctxwatch.Handler
}

func (h *onContextDone) HandleCancel(ctx context.Context) {
	h.used = h.deadline
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		h.used = h.cancel
	}
	h.used.HandleCancel(ctx)
}

func (h *onContextDone) HandleUnwatchAfterCancel() { h.used.HandleUnwatchAfterCancel() }

// acquireTimeout bounds how long database/sql waits for a PostgreSQL
// connection: the pgx pool waits for a free connection, pings one that sat
// idle, or dials a new one, all under the caller's context, which an HTTP
// request does not bound.
type acquireTimeout struct {
	driver.Connector
	d time.Duration
}

func (c acquireTimeout) Connect(ctx context.Context) (driver.Conn, error) {
	ctx, cancel := timeoutFor(ctx, c.d)
	defer cancel()
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return conn, nil
}
