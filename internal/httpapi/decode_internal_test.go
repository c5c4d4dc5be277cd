package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// A null where the Go type needs an object is refused with the field's
// path; a null for a pointer (an optional object) still means "not given".
func TestDecode_NullWhereObjectRequired(t *testing.T) {
	type inner struct {
		N int `json:"n"`
	}
	type body struct {
		Name  string           `json:"name"`
		Inner inner            `json:"inner"`
		Opt   *inner           `json:"opt,omitempty"`
		List  []inner          `json:"list,omitempty"`
		Map   map[string]inner `json:"map,omitempty"`
	}
	for _, c := range []struct{ body, want string }{
		{`null`, "request body must be a JSON object, not null"},
		{`{"inner":null}`, "inner: must be an object, not null"},
		{`{"list":[{"n":1},null]}`, "list[1]: must be an object, not null"},
		{`{"map":{"k":null}}`, "map.k: must be an object, not null"},
		{`{"name":"x","inner":{"n":1},"opt":null}`, ""},
		{`{"name":null}`, ""},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
		r.Header.Set("Content-Type", "application/json")
		var v body
		err := decode(r, &v)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.body, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", c.body, err, c.want)
		}
	}
}
