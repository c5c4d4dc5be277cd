// Package lograte keeps a flood of identical warnings and errors — every
// request failing the same way while the database is down — from drowning
// the log and the disk under it. A slog handler wrapper lets the first few
// lines with the same level and message through in each interval, drops the
// rest, and says on the next line it lets through how many it dropped.
// Lines below Warn are never dropped.
package lograte

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// maxKeys bounds the memory kept for distinct messages; messages are
// constant strings in practice, so reaching it means something odd and the
// counts simply start over.
const maxKeys = 1024

// Handler is a slog.Handler that rate-limits repeated warnings and errors.
type Handler struct {
	next slog.Handler
	s    *state
}

type state struct {
	mu    sync.Mutex
	burst int
	every time.Duration
	seen  map[key]*window
}

type key struct {
	level slog.Level
	msg   string
}

type window struct {
	start              time.Time
	passed, suppressed int
}

// New wraps next so that at most burst lines with the same level (Warn or
// above) and message are written per interval every.
func New(next slog.Handler, burst int, every time.Duration) *Handler {
	return &Handler{next: next, s: &state{burst: max(burst, 1), every: every, seen: map[key]*window{}}}
}

// Enabled reports what the wrapped handler reports.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle writes r unless too many lines like it were written in the
// current interval. The first line let through in a new interval carries
// "suppressed": how many like it were dropped in the one before.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	now := r.Time
	if now.IsZero() {
		now = time.Now()
	}
	k := key{r.Level, r.Message}
	h.s.mu.Lock()
	w := h.s.seen[k]
	dropped := 0
	if w == nil || now.Sub(w.start) >= h.s.every {
		if w != nil {
			dropped = w.suppressed
		}
		if w == nil && len(h.s.seen) >= maxKeys {
			h.s.seen = map[key]*window{}
		}
		w = &window{start: now}
		h.s.seen[k] = w
	}
	if w.passed >= h.s.burst {
		w.suppressed++
		h.s.mu.Unlock()
		return nil
	}
	w.passed++
	h.s.mu.Unlock()
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", dropped))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a handler sharing this one's counts.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(as), s: h.s}
}

// WithGroup returns a handler sharing this one's counts.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), s: h.s}
}
