package audit_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/audit"
)

func TestDiff_KeepsChangedFieldsAndRedactsSecrets(t *testing.T) {
	type gw struct {
		Name     string         `json:"name"`
		Enabled  bool           `json:"enabled"`
		BotToken string         `json:"botToken"`
		Config   map[string]any `json:"config"`
	}
	before := gw{Name: "old", Enabled: true, BotToken: "tok-before", Config: map[string]any{"mode": "a", "webhookUrl": "https://hooks.example/AAA", "same": 1}}
	after := gw{Name: "new", Enabled: true, BotToken: "tok-after", Config: map[string]any{"mode": "b", "webhookUrl": "https://hooks.example/BBB", "same": 1, "added": "x"}}
	d := audit.Diff(before, after, "config.webhookUrl")
	raw, _ := json.Marshal(d)
	for _, secret := range []string{"tok-before", "tok-after", "AAA", "BBB"} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("secret %q in diff: %s", secret, raw)
		}
	}
	want := `{"after":{"botToken":"[REDACTED]","config":{"added":"x","mode":"b","webhookUrl":"[REDACTED]"},"name":"new"},` +
		`"before":{"botToken":"[REDACTED]","config":{"mode":"a","webhookUrl":"[REDACTED]"},"name":"old"}}`
	if string(raw) != want {
		t.Fatalf("diff\n got %s\nwant %s", raw, want)
	}
	if audit.Changed(audit.Diff(before, before)) {
		t.Fatal("no change reported as one")
	}
	// A secret added inside a new object is still redacted.
	d = audit.Diff(map[string]any{}, map[string]any{"creds": map[string]any{"apiKey": "k-1", "region": "eu"}})
	if raw, _ := json.Marshal(d); strings.Contains(string(raw), "k-1") || !strings.Contains(string(raw), "eu") {
		t.Fatalf("new object: %s", raw)
	}
}
