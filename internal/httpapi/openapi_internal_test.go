package httpapi

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/auth"
)

// docPage has the shape of the API's generic list pages.
type docPage[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"nextCursor"`
}

type docPair[K comparable, V any] struct {
	Key   K `json:"key"`
	Value V `json:"value"`
}

type docLoose struct {
	Raw     json.RawMessage `json:"raw"`
	Any     any             `json:"any"`
	Maybe   *int            `json:"maybe"`
	Omitted *int            `json:"omitted,omitempty"`
	Nested  struct {
		Note *string `json:"note"`
	} `json:"nested"`
	Values map[string]any `json:"values"`
}

var componentNameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

func TestOpenAPI_ComponentNamesOfGenericTypes(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{docPage[auth.User]{}, "DocPageOfAuthUser"},
		{docPage[string]{}, "DocPageOfString"},
		{docPage[*auth.User]{}, "DocPageOfAuthUser"},
		{docPage[[]auth.User]{}, "DocPageOfListOfAuthUser"},
		{docPage[map[string]auth.User]{}, "DocPageOfMapOfAuthUser"},
		{docPage[docPage[auth.User]]{}, "DocPageOfDocPageOfAuthUser"},
		{docPair[string, docPage[auth.User]]{}, "DocPairOfStringAndDocPageOfAuthUser"},
		{auth.User{}, "AuthUser"},
		{errorEnvelope{}, "ErrorEnvelope"},
	} {
		got := componentName(reflect.TypeOf(c.v))
		if got != c.want || !componentNameRE.MatchString(got) {
			t.Errorf("%T: component %q, want %q", c.v, got, c.want)
		}
	}
}

func TestOpenAPI_GenericPageIsAReferencedComponent(t *testing.T) {
	sc := newSchemas()
	root := toJSONString(sc.of(docPage[auth.User]{}))
	if root != `{"$ref":"#/components/schemas/DocPageOfAuthUser"}` {
		t.Fatalf("root schema %s", root)
	}
	page := toJSONString(sc.components["DocPageOfAuthUser"])
	for _, want := range []string{`"items":{"items":{"$ref":"#/components/schemas/AuthUser"},"type":"array"}`, `"nextCursor":{"type":["string","null"]}`} {
		if !strings.Contains(page, want) {
			t.Errorf("page component lacks %s: %s", want, page)
		}
	}
	if _, ok := sc.components["AuthUser"]; !ok || len(sc.collisions) > 0 {
		t.Errorf("AuthUser not a component, or collisions %v", sc.collisions)
	}
}

func TestOpenAPI_AnyIsEmptySchemaAndPointersAreNullable(t *testing.T) {
	sc := newSchemas()
	sc.of(docLoose{})
	got := toJSONString(sc.components["DocLoose"])
	for _, want := range []string{`"raw":{}`, `"any":{}`, `"maybe":{"type":["integer","null"]}`, `"omitted":{"type":"integer"}`,
		`"note":{"type":["string","null"]}`, `"values":{"type":"object"}`} {
		if !strings.Contains(got, want) {
			t.Errorf("want %s in %s", want, got)
		}
	}
	if strings.Contains(got, "true") {
		t.Errorf("a boolean schema is left: %s", got)
	}
}

func TestOpenAPI_NoTwoTypesShareAComponent(t *testing.T) {
	doc, collisions := declaredOnly("test").openAPI()
	if len(collisions) > 0 {
		t.Errorf("component names shared by different types: %v", collisions)
	}
	comps := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name := range comps {
		if !componentNameRE.MatchString(name) {
			t.Errorf("component name %q is not valid", name)
		}
	}
}

func toJSONString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
