package wasm

import (
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
)

// MaxTableElements bounds the elements of a module's tables, all tables
// together. wazero keeps a table as a Go slice of 8-byte references per
// instance, outside the linear memory that the plan's ramMb caps, and has no
// setting of its own for it: `(table 134217728 funcref)` alone would take
// 1 GiB of the host per execution. 100,000 elements (800 KB) leave room for
// big Go programs — the Go linker puts every function whose address is
// taken in the table, about 6,300 for a small plugin, and it grows with the
// code — while keeping a table's cost small next to the smallest plan's
// 128 MiB.
const MaxTableElements = 100_000

// limits is a table's or memory's declared size: min, and max if hasMax.
type limits struct {
	min, max uint32
	hasMax   bool
}

// declarations are what a module says about its tables and memory, read
// from its binary before wazero compiles it (wazero's CompiledModule does
// not expose tables).
type declarations struct {
	tables         []limits
	importedTables int
	memory         *limits
	importedMemory bool
	// tableSection locates the table section in the module, when it has
	// one: where its id byte is, where its payload starts and ends.
	tableSection [3]int
}

var errTruncated = errors.New("truncated")

type reader struct {
	b   []byte
	pos int
}

func (r *reader) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

// u32 reads an unsigned LEB128 of at most 32 bits.
func (r *reader) u32() (uint32, error) {
	var v uint32
	for shift := uint(0); ; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift == 28 && c&0x70 != 0 {
			return 0, errors.New("integer too large")
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
		if shift == 28 {
			return 0, errors.New("integer too long")
		}
	}
}

func (r *reader) skip(n uint32) error {
	if uint64(r.pos)+uint64(n) > uint64(len(r.b)) {
		return errTruncated
	}
	r.pos += int(n)
	return nil
}

// limits reads limits whose flag is 0x00 (min) or 0x01 (min, max); other
// flags (shared memory, 64-bit indexes) are not supported by the sandbox.
func (r *reader) limits(what string) (limits, error) {
	flag, err := r.byte()
	if err != nil {
		return limits{}, err
	}
	if flag > 1 {
		return limits{}, fmt.Errorf("the %s uses limits flag 0x%02x (shared or 64-bit); only plain 32-bit %ss are supported", what, flag, what)
	}
	var l limits
	if l.min, err = r.u32(); err != nil {
		return limits{}, err
	}
	if flag == 1 {
		if l.max, err = r.u32(); err != nil {
			return limits{}, err
		}
		l.hasMax = true
	}
	return l, nil
}

func (r *reader) tableType() (limits, error) {
	ref, err := r.byte()
	if err != nil {
		return limits{}, err
	}
	if ref != 0x70 && ref != 0x6f { // funcref, externref
		return limits{}, fmt.Errorf("a table has element type 0x%02x; only funcref and externref are supported", ref)
	}
	return r.limits("table")
}

// readDeclarations walks the module's sections and decodes its imports'
// tables and memories and its table and memory sections; it skips
// everything else. Errors describe a malformed or unsupported module.
func readDeclarations(wasm []byte) (declarations, error) {
	var d declarations
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return d, errors.New("no \\0asm header")
	}
	r := &reader{b: wasm, pos: 8}
	for r.pos < len(wasm) {
		head := r.pos
		id, err := r.byte()
		if err != nil {
			return d, err
		}
		size, err := r.u32()
		if err != nil {
			return d, fmt.Errorf("section %d: %w", id, err)
		}
		start := r.pos
		if err := r.skip(size); err != nil {
			return d, fmt.Errorf("section %d: %w", id, err)
		}
		sec := &reader{b: wasm[:r.pos], pos: start}
		switch id {
		case 2:
			err = d.readImports(sec)
		case 4:
			d.tableSection = [3]int{head, start, r.pos}
			err = d.readTables(sec)
		case 5:
			err = d.readMemories(sec)
		}
		if err != nil {
			return d, fmt.Errorf("section %d: %w", id, err)
		}
	}
	return d, nil
}

func (d *declarations) readImports(r *reader) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		for j := 0; j < 2; j++ { // module and field names
			l, err := r.u32()
			if err != nil {
				return err
			}
			if err := r.skip(l); err != nil {
				return err
			}
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		switch kind {
		case 0x00: // function: type index
			_, err = r.u32()
		case 0x01:
			d.importedTables++
			_, err = r.tableType()
		case 0x02:
			d.importedMemory = true
			_, err = r.limits("memory")
		case 0x03: // global: value type, mutability
			if _, err = r.byte(); err == nil {
				_, err = r.byte()
			}
		case 0x04: // tag: attribute, type index
			if _, err = r.byte(); err == nil {
				_, err = r.u32()
			}
		default:
			return fmt.Errorf("import of unknown kind 0x%02x", kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *declarations) readTables(r *reader) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		l, err := r.tableType()
		if err != nil {
			return err
		}
		d.tables = append(d.tables, l)
	}
	return nil
}

func (d *declarations) readMemories(r *reader) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		l, err := r.limits("memory")
		if err != nil {
			return err
		}
		if d.memory != nil {
			return errors.New("more than one memory")
		}
		d.memory = &l
	}
	return nil
}

// maxPlanPages is the linear memory of the plan with the most ramMb.
func maxPlanPages() uint32 {
	var most int64
	for _, l := range actor.PlanLimits {
		most = max(most, l.RAMMB)
	}
	return pagesFor(most)
}

// checkDeclarations refuses a module whose tables or memory could take more
// of the host than the sandbox accounts for. A table without a declared
// maximum is bounded by its minimum: boundTables gives it that maximum
// before compilation, so table.grow fails beyond it (the Go linker never
// declares a table maximum, so refusing those would refuse every Go
// plugin). A memory without a maximum is accepted for the same reason (Go
// declares none) and is capped at the executing plan's ramMb.
func checkDeclarations(wasm []byte) error {
	bad := func(format string, args ...any) error {
		return apperr.Invalid(apperr.FieldError{Field: "wasm", Message: fmt.Sprintf(format, args...)})
	}
	d, err := readDeclarations(wasm)
	if err != nil {
		return bad("does not compile: %v", err)
	}
	if d.importedTables > 0 {
		return bad("must not import a table")
	}
	if d.importedMemory {
		return bad("must not import memory")
	}
	var total uint64
	for i, t := range d.tables {
		bound := t.min
		if t.hasMax {
			if t.max > MaxTableElements {
				return bad("table %d may grow to %d elements; a table's maximum must be at most %d (tables are host memory outside the plan's ramMb)", i, t.max, MaxTableElements)
			}
			bound = t.max
		}
		total += uint64(bound)
	}
	if total > MaxTableElements {
		return bad("declares tables of %d elements; at most %d elements in all are allowed (tables are host memory outside the plan's ramMb)", total, MaxTableElements)
	}
	if m := d.memory; m != nil {
		most := maxPlanPages()
		mib := func(pages uint32) int64 { return int64(pages) * pageSize >> 20 }
		if m.min > most {
			return bad("memory starts at %d pages (%d MiB), above the %d MiB of the largest plan", m.min, mib(m.min), mib(most))
		}
		if m.hasMax && m.max > most {
			return bad("memory may grow to %d pages (%d MiB), above the %d MiB of the largest plan", m.max, mib(m.max), mib(most))
		}
	}
	return nil
}

// boundTables returns wasm with every table that declares no maximum given
// its minimum as maximum, or wasm itself when every table has one. Only the
// table section changes; no other section refers to byte offsets in
// another, so the rest is copied as it is. wasm must have passed
// checkDeclarations.
func boundTables(wasm []byte) ([]byte, error) {
	d, err := readDeclarations(wasm)
	if err != nil {
		return nil, err
	}
	open := false
	for _, t := range d.tables {
		open = open || !t.hasMax
	}
	if !open {
		return wasm, nil
	}
	payload := appendU32(nil, uint32(len(d.tables)))
	r := &reader{b: wasm[:d.tableSection[2]], pos: d.tableSection[1]}
	if _, err := r.u32(); err != nil {
		return nil, err
	}
	for _, t := range d.tables {
		ref, err := r.byte()
		if err != nil {
			return nil, err
		}
		if _, err := r.limits("table"); err != nil {
			return nil, err
		}
		if !t.hasMax {
			t.max = t.min
		}
		payload = append(payload, ref, 0x01)
		payload = appendU32(payload, t.min)
		payload = appendU32(payload, t.max)
	}
	out := make([]byte, 0, len(wasm)+16)
	out = append(out, wasm[:d.tableSection[0]]...)
	out = append(out, 4)
	out = appendU32(out, uint32(len(payload)))
	out = append(out, payload...)
	return append(out, wasm[d.tableSection[2]:]...), nil
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
