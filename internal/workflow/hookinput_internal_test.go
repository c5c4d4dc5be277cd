package workflow

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// A webhook run's input reads back as the values its steps saw, whatever
// the body, and a JSON body keeps its numbers' digits.
func TestHookInput_ReadsBackAsTheStepsSawIt(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"id":"ord_1","items":[{"price":40},{"price":75.5}]}`,
		"{ \"spaced\" :\n [1, 2,\t3] }",
		`{"html":"<b>&amp;</b>","uni":"\u00e9\u2028"}`,
		`{"dup":1,"dup":2}`,
		`"just a string"`,
		`null`,
		`[]`,
	} {
		var decoded any
		if err := json.Unmarshal([]byte(body), &decoded); err != nil {
			t.Fatal(err)
		}
		req := HookRequest{Method: "POST", Path: "/hooks/workflows/wf_1", Query: map[string]any{"a": "1", "b": []any{"x", "y"}},
			Headers: map[string]any{"content-type": "application/json"}, Body: decoded, BodyJSON: []byte(body)}
		got, err := hookInput(req)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		want := map[string]any{"method": req.Method, "path": req.Path, "query": req.Query, "headers": req.Headers, "body": decoded}
		var back map[string]any
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%s: the input %s is not JSON: %v", body, got, err)
		}
		if !reflect.DeepEqual(back, want) {
			t.Errorf("%s: the input %s reads back as %v, want %v", body, got, back, want)
		}
		if strings.ContainsAny(string(got), "\n\t") {
			t.Errorf("%s: the input %q is not compact", body, got)
		}
	}
	// A body that is not JSON (a form, text) is encoded from its value.
	got, err := hookInput(HookRequest{Method: "POST", Headers: map[string]any{}, Query: map[string]any{}, Body: map[string]any{"name": "Ada"}})
	if err != nil || string(got) != `{"body":{"name":"Ada"},"headers":{},"method":"POST","path":"","query":{}}` {
		t.Errorf("a form body's input: %s, %v", got, err)
	}
	big := `{"n":12345678901234567890}`
	got, err = hookInput(HookRequest{Body: map[string]any{"n": 1.2345678901234567e19}, BodyJSON: []byte(big)})
	if err != nil || !strings.Contains(string(got), `"n":12345678901234567890`) {
		t.Errorf("a big number's digits: %s, %v", got, err)
	}
}
