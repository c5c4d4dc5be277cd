package plugin_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/builtin"
)

func TestSchema_ValidatesAndRefusesExternalRefs(t *testing.T) {
	t.Parallel()
	s, err := plugin.CompileSchema(json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer","minimum":1}},"required":["n"]}`))
	if err != nil {
		t.Fatal(err)
	}
	for in, ok := range map[string]bool{`{"n":2}`: true, `{"n":0}`: false, `{}`: false, `[1]`: false, `{"n":`: false} {
		if err := s.Validate(json.RawMessage(in)); (err == nil) != ok {
			t.Errorf("%s: err %v", in, err)
		}
	}
	if err := s.Validate(json.RawMessage(`{"n":0}`)); err == nil || !strings.Contains(err.Error(), "/n") {
		t.Errorf("error does not name the field: %v", err)
	}
	for _, bad := range []string{`{"$ref":"file:///etc/passwd"}`, `{"$ref":"https://example.com/s.json"}`, `{"type":12}`, `"str"`} {
		if _, err := plugin.CompileSchema(json.RawMessage(bad)); err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
	if s, err := plugin.CompileSchema(nil); s != nil || err != nil {
		t.Fatalf("empty schema: %v %v", s, err)
	}
}

func TestTemplate_RendersAndEnforcesItsContract(t *testing.T) {
	t.Parallel()
	r := builtin.NewTemplate()
	ctx := context.Background()
	ec := plugin.ExecutionContext{Trigger: plugin.TriggerStandalone, Config: json.RawMessage(`{"template":"Hi {{.name}}"}`)}
	for _, tc := range []struct {
		input, want, fail string
	}{
		{`{"data":{"name":"Ann"}}`, `{"text":"Hi Ann"}`, ""},
		{`{"template":"{{range .}}{{.}},{{end}}","data":[1,2]}`, `{"text":"1,2,"}`, ""},
		{`{"tmpl":"x"}`, "", "input: at /"},
		{`{"template":"{{.x"}`, "", "template:"},
		{`{"template":"{{range $i, $e := .}}{{printf \"%0100000d\" 1}}{{end}}","data":[1,2,3,4]}`, "", "exceeds"},
	} {
		res := plugin.Run(ctx, r, ec, json.RawMessage(tc.input))
		if tc.fail != "" {
			if res.Success || !strings.Contains(res.Error, tc.fail) {
				t.Errorf("%s: want failure %q, got %+v", tc.input, tc.fail, res)
			}
			continue
		}
		if !res.Success || string(res.Output) != tc.want {
			t.Errorf("%s: got %+v %s", tc.input, res, res.Output)
		}
	}
	if err := plugin.CheckConfig(r, json.RawMessage(`{"template":"{{"}`)); err == nil {
		t.Error("a broken template was accepted as config")
	}
	if err := plugin.CheckConfig(r, json.RawMessage(`{"other":1}`)); err == nil {
		t.Error("an unknown config field was accepted")
	}
}
