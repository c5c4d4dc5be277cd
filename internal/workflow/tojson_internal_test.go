package workflow

import (
	"context"
	"encoding/json"
	"runtime"
	"testing"
)

func nested(depth int, leaf any) any {
	v := leaf
	for range depth {
		v = []any{v}
	}
	return v
}

// fitsIndented never says an indented value fits in fewer bytes than
// json.MarshalIndent writes: toJSON relies on it to refuse before encoding.
func TestFitsIndented_NeverUnderestimates(t *testing.T) {
	values := []any{
		nested(1, "x"), nested(40, 1.0), nested(300, map[string]any{"k": []string{"a", "bc"}}),
		map[string]any{"a": []any{1.0, "two", nil, true, map[string]any{"b": []any{[]any{}, map[string]any{}}}}},
		[]any{[]string{"x", "y"}, map[string]any{"deep": nested(20, map[string]any{"z": "w"})}},
	}
	for i, v := range values {
		b, err := json.MarshalIndent(v, "", toJSONIndent)
		if err != nil {
			t.Fatal(err)
		}
		if fitsIndented(v, len(b)-1, len(toJSONIndent)) {
			t.Errorf("value %d: fits in %d bytes, but indents to %d", i, len(b)-1, len(b))
		}
		if !fitsIndented(v, 2*len(b)+64, len(toJSONIndent)) {
			t.Errorf("value %d: refused at twice its indented size %d", i, len(b))
		}
	}
}

// A small value nested deep indents to a size that grows with the square
// of its depth (20 KB nested 10,000 deep: ~200 MB). toJSON refuses it
// without encoding it.
func TestToJSON_DeepValueRefusedWithoutEncoding(t *testing.T) {
	deep := nested(10_000, 1.0)
	if !fits(deep, maxValueBytes) {
		t.Fatal("the compact value should fit: the test would not show indentation being counted")
	}
	p, err := compileExpr(`len(toJSON(trigger.deep)) > 0`)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = evalExpr(context.Background(), p, map[string]any{"trigger": map[string]any{"deep": deep}})
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("toJSON of a value nested 10,000 deep succeeded")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("refusing it allocated %d MB", grew>>20)
	}
	// Shallow values still encode as before.
	p, err = compileExpr(`toJSON(trigger.shallow)`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := evalExpr(context.Background(), p, map[string]any{"trigger": map[string]any{"shallow": nested(3, "x")}})
	if err != nil || got != "[\n  [\n    [\n      \"x\"\n    ]\n  ]\n]" {
		t.Errorf("toJSON of a shallow value: %q %v", got, err)
	}
}
