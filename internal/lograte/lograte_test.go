package lograte_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/lograte"
)

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		out = append(out, m)
	}
	buf.Reset()
	return out
}

func TestHandler_LetsABurstThroughPerIntervalAndCountsTheRest(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(lograte.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), 3, time.Minute))
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	emit := func(l *slog.Logger, level slog.Level, msg string, when time.Time) {
		r := slog.NewRecord(when, level, msg, 0)
		if err := l.Handler().Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		emit(log, slog.LevelError, "request failed", at.Add(time.Duration(i)*time.Second))
		// The same message from a logger with attributes shares the count.
		emit(log.With("route", "x"), slog.LevelError, "request failed", at.Add(time.Duration(i)*time.Second))
		emit(log, slog.LevelInfo, "request", at)
	}
	emit(log, slog.LevelError, "another failure", at)
	emit(log, slog.LevelWarn, "request failed", at)
	got := lines(t, &buf)
	count := map[string]int{}
	for _, l := range got {
		count[l["level"].(string)+" "+l["msg"].(string)]++
	}
	if count["ERROR request failed"] != 3 || count["INFO request"] != 10 || count["ERROR another failure"] != 1 || count["WARN request failed"] != 1 {
		t.Fatalf("lines written: %v", count)
	}
	// The next interval lets lines through again; the first says how many
	// were dropped.
	emit(log, slog.LevelError, "request failed", at.Add(time.Minute))
	got = lines(t, &buf)
	if len(got) != 1 || got[0]["suppressed"] != float64(17) {
		t.Fatalf("first line of the next interval: %v", got)
	}
}
