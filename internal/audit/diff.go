package audit

import (
	"encoding/json"
	"reflect"
	"strings"
)

// Diff compares two versions of a changed thing and returns
// {"before": {...}, "after": {...}} holding only the fields that differ,
// for an update's audit metadata. Values are compared as their JSON
// encodings (so struct tags name the fields); nested objects are compared
// field by field, keeping only what changed inside them. A field whose name
// looks like a secret (see Redact) or is listed in secret — by its name at
// any depth, or as a dotted path such as "config.webhookUrl" — is kept as
// Redacted on both sides: the row says it changed, never to what.
// before or after may be nil (a field appearing or disappearing).
func Diff(before, after any, secret ...string) map[string]any {
	b, a := asObject(before), asObject(after)
	secrets := make(map[string]bool, len(secret))
	for _, s := range secret {
		secrets[s] = true
	}
	db, da := diffObjects(b, a, "", secrets)
	return map[string]any{"before": db, "after": da}
}

// Changed reports whether a Diff found any difference.
func Changed(d map[string]any) bool {
	b, _ := d["before"].(map[string]any)
	a, _ := d["after"].(map[string]any)
	return len(b) > 0 || len(a) > 0
}

// WithDiff adds Diff(before, after, secret...) to meta (a new map when meta
// is nil) and returns it.
func WithDiff(meta map[string]any, before, after any, secret ...string) map[string]any {
	if meta == nil {
		meta = map[string]any{}
	}
	for k, v := range Diff(before, after, secret...) {
		meta[k] = v
	}
	return meta
}

func diffObjects(b, a map[string]any, prefix string, secrets map[string]bool) (map[string]any, map[string]any) {
	ob, oa := map[string]any{}, map[string]any{}
	keys := make(map[string]bool, len(b)+len(a))
	for k := range b {
		keys[k] = true
	}
	for k := range a {
		keys[k] = true
	}
	for k := range keys {
		bv, inB := b[k]
		av, inA := a[k]
		if inB == inA && reflect.DeepEqual(bv, av) {
			continue
		}
		path := prefix + k
		if isSensitive(k) || secrets[k] || secrets[path] {
			if inB {
				ob[k] = Redacted
			}
			if inA {
				oa[k] = Redacted
			}
			continue
		}
		bm, bIsMap := bv.(map[string]any)
		am, aIsMap := av.(map[string]any)
		if bIsMap && aIsMap {
			ob[k], oa[k] = diffObjects(bm, am, path+".", secrets)
			continue
		}
		if inB {
			ob[k] = scrub(bv, path+".", secrets)
		}
		if inA {
			oa[k] = scrub(av, path+".", secrets)
		}
	}
	return ob, oa
}

// scrub redacts secrets inside a value kept whole (a new or replaced
// object, or a list of them).
func scrub(v any, prefix string, secrets map[string]bool) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			if isSensitive(k) || secrets[k] || secrets[prefix+k] {
				out[k] = Redacted
				continue
			}
			out[k] = scrub(e, prefix+k+".", secrets)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = scrub(e, prefix, secrets)
		}
		return out
	}
	return v
}

// asObject turns v into its JSON object form; a value that is not an
// object becomes {"value": v}.
func asObject(v any) map[string]any {
	if v == nil {
		return map[string]any{}
	}
	// Even a map is round-tripped, so every value compares in one form.
	raw, err := json.Marshal(v)
	if err != nil {
		return map[string]any{"value": "[unencodable]"}
	}
	var out any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return map[string]any{"value": "[unencodable]"}
	}
	if m, ok := out.(map[string]any); ok {
		return m
	}
	if out == nil {
		return map[string]any{}
	}
	return map[string]any{"value": out}
}
