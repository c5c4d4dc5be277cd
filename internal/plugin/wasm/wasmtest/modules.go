package wasmtest

// Hand-assembled WebAssembly modules that attack the sandbox's memory
// accounting, for tests and benchmarks (no wat2wasm needed). Each is a WASI
// command: it exports "memory" and "_start", imports nothing, and its WAT
// is given beside its builder.

// uleb appends v as an unsigned LEB128.
func uleb(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// sleb appends v as a signed LEB128.
func sleb(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func section(id byte, payload []byte) []byte {
	return append(uleb([]byte{id}, uint32(len(payload))), payload...)
}

// Limits is a table's or memory's declared size; NoMax leaves the maximum
// out.
type Limits struct {
	Min, Max uint32
	NoMax    bool
}

func (l Limits) encode(b []byte) []byte {
	if l.NoMax {
		return uleb(append(b, 0x00), l.Min)
	}
	return uleb(uleb(append(b, 0x01), l.Min), l.Max)
}

// Module assembles a command module of one function, _start, with the given
// local i32 count and body (without the final end), an optional funcref
// table and a memory.
func Module(table *Limits, memory Limits, locals uint32, body []byte) []byte {
	b := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	b = append(b, section(1, []byte{0x01, 0x60, 0x00, 0x00})...) // (type (func))
	b = append(b, section(3, []byte{0x01, 0x00})...)             // one function of type 0
	if table != nil {
		b = append(b, section(4, table.encode([]byte{0x01, 0x70}))...)
	}
	b = append(b, section(5, memory.encode([]byte{0x01}))...)
	exports := []byte{0x02, 0x06}
	exports = append(exports, "memory"...)
	exports = append(exports, 0x02, 0x00, 0x06)
	exports = append(exports, "_start"...)
	exports = append(exports, 0x00, 0x00)
	b = append(b, section(7, exports)...)
	fn := []byte{}
	if locals > 0 {
		fn = uleb(append(fn, 0x01), locals)
		fn = append(fn, 0x7f) // i32
	} else {
		fn = append(fn, 0x00)
	}
	fn = append(fn, body...)
	fn = append(fn, 0x0b)
	code := uleb([]byte{0x01}, uint32(len(fn)))
	return append(b, section(10, append(code, fn...))...)
}

// TableFill declares a funcref table of elements entries and fills it:
//
//	(table $t <elements> [<max>] funcref)
//	(func $_start (table.fill $t (i32.const 0) (ref.null func) (i32.const <elements>)))
//
// wazero holds a table as 8 bytes an element, outside linear memory: with
// 134217728 elements that is 1 GiB per instance whatever the plan's ramMb.
func TableFill(t Limits) []byte {
	body := sleb([]byte{0x41}, 0)                 // i32.const 0
	body = append(body, 0xd0, 0x70)               // ref.null func
	body = sleb(append(body, 0x41), int32(t.Min)) // i32.const elements
	body = append(body, 0xfc, 0x11, 0x00)         // table.fill 0
	return Module(&t, Limits{Min: 1, NoMax: true}, 0, body)
}

// TableGrow declares a one-element table without a maximum and grows it by
// delta elements, trapping if the growth succeeds:
//
//	(table $t 1 funcref)
//	(func $_start
//	  (if (i32.ne (table.grow $t (ref.null func) (i32.const <delta>)) (i32.const -1))
//	    (then unreachable)))
func TableGrow(delta int32) []byte {
	body := []byte{0xd0, 0x70}                  // ref.null func
	body = sleb(append(body, 0x41), delta)      // i32.const delta
	body = append(body, 0xfc, 0x0f, 0x00)       // table.grow 0
	body = sleb(append(body, 0x41), -1)         // i32.const -1
	body = append(body, 0x47)                   // i32.ne
	body = append(body, 0x04, 0x40, 0x00, 0x0b) // if unreachable end
	return Module(&Limits{Min: 1, NoMax: true}, Limits{Min: 1, NoMax: true}, 0, body)
}

// MemoryGrow grows linear memory 16 pages (1 MiB) at a time until
// memory.grow refuses; when touch is set it writes every new byte (so the
// pages are really committed). Refused, it traps if trap is set, else it
// returns normally:
//
//	(memory 1)
//	(func $_start (local $old i32)
//	  (loop $more
//	    (local.set $old (memory.grow (i32.const 16)))
//	    (if (i32.eq (local.get $old) (i32.const -1)) (then unreachable|return))
//	    [(memory.fill (i32.shl (local.get $old) (i32.const 16)) (i32.const 1) (i32.const 1048576))]
//	    (br $more)))
func MemoryGrow(touch, trap bool) []byte {
	body := []byte{0x03, 0x40}            // loop
	body = sleb(append(body, 0x41), 16)   // i32.const 16
	body = append(body, 0x40, 0x00)       // memory.grow 0
	body = append(body, 0x22, 0x00)       // local.tee 0
	body = sleb(append(body, 0x41), -1)   // i32.const -1
	body = append(body, 0x46, 0x04, 0x40) // i32.eq if
	if trap {
		body = append(body, 0x00) // unreachable
	} else {
		body = append(body, 0x0f) // return
	}
	body = append(body, 0x0b) // end if
	if touch {
		body = append(body, 0x20, 0x00)        // local.get 0
		body = sleb(append(body, 0x41), 16)    // i32.const 16
		body = append(body, 0x74)              // i32.shl
		body = sleb(append(body, 0x41), 1)     // i32.const 1
		body = sleb(append(body, 0x41), 1<<20) // i32.const 1 MiB
		body = append(body, 0xfc, 0x0b, 0x00)  // memory.fill 0
	}
	body = append(body, 0x0c, 0x00, 0x0b) // br 0, end loop
	return Module(nil, Limits{Min: 1, NoMax: true}, 1, body)
}

// Recursion calls itself until the stack gives out:
//
//	(func $_start (call $_start))
func Recursion() []byte {
	return Module(nil, Limits{Min: 1, NoMax: true}, 0, []byte{0x10, 0x00})
}

// Reactor assembles a reactor module: an empty _initialize (function 0),
// switchboard_execute of type () -> i32 (function 1) with the given local
// i32 count and body (without the final end) and, when helper is not nil,
// function 2 of type (i32) -> () with that body, for execute to call; an
// optional funcref table; and a memory of one page without a maximum,
// exported as "memory".
func Reactor(table *Limits, locals uint32, body, helper []byte) []byte {
	b := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	b = append(b, section(1, []byte{0x03,
		0x60, 0x00, 0x00, // 0: (func)
		0x60, 0x00, 0x01, 0x7f, // 1: (func (result i32))
		0x60, 0x01, 0x7f, 0x00, // 2: (func (param i32))
	})...)
	type fn struct {
		locals uint32
		body   []byte
	}
	fns := []fn{{0, nil}, {locals, body}}
	if helper != nil {
		fns = append(fns, fn{0, helper})
	}
	types := uleb(nil, uint32(len(fns)))
	for i := range fns {
		types = append(types, byte(i))
	}
	b = append(b, section(3, types)...)
	if table != nil {
		b = append(b, section(4, table.encode([]byte{0x01, 0x70}))...)
	}
	b = append(b, section(5, Limits{Min: 1, NoMax: true}.encode([]byte{0x01}))...)
	exports := []byte{0x03}
	for _, e := range []struct {
		name string
		kind byte
		idx  uint32
	}{{"memory", 0x02, 0}, {"_initialize", 0x00, 0}, {"switchboard_execute", 0x00, 1}} {
		exports = uleb(exports, uint32(len(e.name)))
		exports = append(exports, e.name...)
		exports = uleb(append(exports, e.kind), e.idx)
	}
	b = append(b, section(7, exports)...)
	code := uleb(nil, uint32(len(fns)))
	for _, f := range fns {
		enc := []byte{0x00}
		if f.locals > 0 {
			enc = uleb([]byte{0x01}, f.locals)
			enc = append(enc, 0x7f) // i32
		}
		enc = append(append(enc, f.body...), 0x0b)
		code = append(uleb(code, uint32(len(enc))), enc...)
	}
	return append(b, section(10, code)...)
}

// ReactorMemory is a reactor module whose every execution grows its linear
// memory to mib MiB if it is smaller, writes every byte of it (so the pages
// are really committed) and returns 0, or returns 1 if memory.grow refuses:
//
//	(func $switchboard_execute (result i32)
//	  (if (i32.lt_u (memory.size) (i32.const <mib*16>))
//	    (then (if (i32.eq (memory.grow (i32.sub (i32.const <mib*16>) (memory.size))) (i32.const -1))
//	      (then (return (i32.const 1))))))
//	  (memory.fill (i32.const 0) (i32.const 1) (i32.shl (memory.size) (i32.const 16)))
//	  (i32.const 0))
func ReactorMemory(mib uint32) []byte {
	pages := int32(mib * 16)
	body := []byte{0x3f, 0x00}                               // memory.size
	body = sleb(append(body, 0x41), pages)                   // i32.const pages
	body = append(body, 0x49, 0x04, 0x40)                    // i32.lt_u if
	body = sleb(append(body, 0x41), pages)                   // i32.const pages
	body = append(body, 0x3f, 0x00, 0x6b)                    // memory.size i32.sub
	body = append(body, 0x40, 0x00)                          // memory.grow
	body = sleb(append(body, 0x41), -1)                      // i32.const -1
	body = append(body, 0x46, 0x04, 0x40)                    // i32.eq if
	body = sleb(append(body, 0x41), 1)                       // i32.const 1
	body = append(body, 0x0f, 0x0b, 0x0b)                    // return end end
	body = sleb(append(body, 0x41), 0)                       // i32.const 0
	body = sleb(append(body, 0x41), 1)                       // i32.const 1
	body = append(body, 0x3f, 0x00)                          // memory.size
	body = sleb(append(body, 0x41), 16)                      // i32.const 16
	body = append(body, 0x74, 0xfc, 0x0b, 0x00)              // i32.shl memory.fill 0
	return Reactor(nil, 0, sleb(append(body, 0x41), 0), nil) // i32.const 0
}

// ReactorRecursion is a reactor module whose every execution recurses depth
// calls deep and returns 0:
//
//	(func $down (param $n i32)
//	  (if (local.get $n) (then (call $down (i32.sub (local.get $n) (i32.const 1))))))
//	(func $switchboard_execute (result i32) (call $down (i32.const <depth>)) (i32.const 0))
func ReactorRecursion(depth int32) []byte {
	down := []byte{0x20, 0x00, 0x04, 0x40, 0x20, 0x00} // local.get 0 if local.get 0
	down = sleb(append(down, 0x41), 1)                 // i32.const 1
	down = append(down, 0x6b, 0x10, 0x02, 0x0b)        // i32.sub call 2 end
	body := sleb([]byte{0x41}, depth)                  // i32.const depth
	body = append(body, 0x10, 0x02)                    // call 2
	return Reactor(nil, 0, sleb(append(body, 0x41), 0), down)
}

// ReactorTable is a reactor module with a funcref table of elements
// entries (its minimum and maximum) whose every execution writes every
// element and returns 0:
//
//	(table $t <elements> <elements> funcref)
//	(func $switchboard_execute (result i32)
//	  (table.fill $t (i32.const 0) (ref.null func) (table.size $t))
//	  (i32.const 0))
func ReactorTable(elements uint32) []byte {
	body := sleb([]byte{0x41}, 0)                                                              // i32.const 0
	body = append(body, 0xd0, 0x70)                                                            // ref.null func
	body = append(body, 0xfc, 0x10, 0x00)                                                      // table.size 0
	body = append(body, 0xfc, 0x11, 0x00)                                                      // table.fill 0
	return Reactor(&Limits{Min: elements, Max: elements}, 0, sleb(append(body, 0x41), 0), nil) // i32.const 0
}
