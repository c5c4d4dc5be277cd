package install

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/plugin"
)

// Sandboxed plugins never receive installation secrets: the service does
// not open them for a marketplace version, and the execution context (which
// the WebAssembly ABI passes as JSON) never serializes them.
func TestSecrets_NotForSandboxedPlugins(t *testing.T) {
	s := &Service{} // no database: reaching it would panic
	got, err := s.executionSecrets(context.Background(), "ws", Installation{ID: "ins_x", versionID: "ver_x", SecretNames: []string{"apiKey"}})
	if err != nil || got != nil {
		t.Fatalf("sandboxed installation got secrets %v (%v)", got, err)
	}
	b, err := json.Marshal(plugin.ExecutionContext{Secrets: map[string]string{"apiKey": "sk-never-serialized"}})
	if err != nil || strings.Contains(string(b), "sk-never-serialized") {
		t.Fatalf("execution context serialized its secrets: %s", b)
	}
}

func TestSecrets_CheckChanges(t *testing.T) {
	v, long := "x", strings.Repeat("x", MaxSecretValueSize+1)
	for _, c := range []struct {
		in        map[string]*string
		allowNull bool
		ok        bool
	}{
		{map[string]*string{"apiKey": &v}, false, true},
		{map[string]*string{"api_key2": &v}, false, true},
		{map[string]*string{"ApiKey": &v}, false, false},
		{map[string]*string{"1key": &v}, false, false},
		{map[string]*string{"a-b": &v}, false, false},
		{map[string]*string{"apiKey": &long}, false, false},
		{map[string]*string{"apiKey": nil}, false, false},
		{map[string]*string{"apiKey": nil}, true, true},
	} {
		if err := checkSecretChanges(c.in, c.allowNull); (err == nil) != c.ok {
			t.Errorf("%v (null allowed %v): %v", c.in, c.allowNull, err)
		}
	}
}
