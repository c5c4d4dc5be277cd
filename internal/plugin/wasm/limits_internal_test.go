package wasm

import (
	"testing"

	"github.com/switchboard/switchboard/internal/plugin/wasm/wasmtest"
)

// Whatever bytes a submitter sends, reading a module's declarations
// answers an error or a result, never a panic, and bounding its tables
// leaves every table with a maximum and nothing else changed.
func FuzzDeclarations(f *testing.F) {
	f.Add(wasmtest.TableGrow(5))
	f.Add(wasmtest.TableFill(wasmtest.Limits{Min: 3, Max: 7}))
	f.Add(wasmtest.MemoryGrow(true, true))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x04\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, mod []byte) {
		_ = checkDeclarations(mod)
		before, err := readDeclarations(mod)
		if err != nil {
			return
		}
		bounded, err := boundTables(mod)
		if err != nil {
			t.Fatalf("declarations read but tables not bounded: %v", err)
		}
		after, err := readDeclarations(bounded)
		if err != nil {
			t.Fatalf("bounded module unreadable: %v", err)
		}
		if len(after.tables) != len(before.tables) {
			t.Fatalf("tables %d, were %d", len(after.tables), len(before.tables))
		}
		for i, tb := range after.tables {
			want := before.tables[i].max
			if !before.tables[i].hasMax {
				want = before.tables[i].min
			}
			if !tb.hasMax || tb.min != before.tables[i].min || tb.max != want {
				t.Fatalf("table %d is %+v, was %+v", i, tb, before.tables[i])
			}
		}
	})
}
