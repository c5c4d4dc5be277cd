package jsrun

import "fmt"

// logFunc is the one host function a VM has. The harness takes it into a
// closure and deletes the global before the body is evaluated, so the
// body reaches it only through console.
const logFunc = "__switchboard_log"

// harnessName names the harness's call frame, which stacks leave out.
const harnessName = "__switchboard_call"

// harness returns the script run before the body. Its value is the
// function that calls the body and reports back as one string: "R" and the
// JSON of the returned value, "C" and why that value cannot be the output,
// or "E" and the name, message and stack of what the body threw (NUL
// separated). Everything it relies on is taken before the body runs, so a
// body that replaces JSON, String or prototypes changes only its own
// values, never how they are checked (Go checks the size once more).
func harness() string {
	return fmt.Sprintf(`(function () {
"use strict";
const log = globalThis.%[1]s;
delete globalThis.%[1]s;
const stringify = JSON.stringify, parse = JSON.parse, toStr = String, apply = Reflect.apply;
const substring = String.prototype.substring, ErrorCtor = Error;
const MAXLINE = %[2]d, MAXMSG = %[3]d;
function cut(s, n) { return s.length > n ? apply(substring, s, [0, n]) : s; }
function show(v) {
	try {
		switch (typeof v) {
		case "string": return v;
		case "undefined": return "undefined";
		case "function": return "[function]";
		case "symbol": case "bigint": return toStr(v);
		}
		if (v instanceof ErrorCtor) return toStr(v);
		const s = stringify(v);
		return s === undefined ? toStr(v) : s;
	} catch (e) {
		try { return toStr(v); } catch (e2) { return "[unprintable]"; }
	}
}
function console_(level) {
	return function () {
		let text = "";
		for (let i = 0; i < arguments.length && text.length <= MAXLINE; i++) {
			text += (i ? " " : "") + show(arguments[i]);
		}
		log(level, text.length > MAXLINE ? cut(text, MAXLINE) + "…" : text);
	};
}
globalThis.console = {log: console_("log"), info: console_("info"), debug: console_("debug"),
	warn: console_("warn"), error: console_("error"), trace: console_("log")};
function describe(e) {
	let name = "", msg = "", stack = "";
	try {
		if (e !== null && (typeof e === "object" || typeof e === "function")) {
			name = toStr(e.name === undefined ? "" : e.name);
			msg = toStr(e.message === undefined ? "" : e.message);
			stack = toStr(e.stack === undefined ? "" : e.stack);
			if (name === "" && msg === "") msg = show(e);
		} else {
			msg = show(e);
		}
	} catch (x) {
		msg = "(the thrown value could not be read)";
	}
	// A stack cut short ends in \x01: its last frame is partial.
	return cut(name, 200) + "\x00" + cut(msg, MAXMSG) + "\x00" + (stack.length > 16384 ? cut(stack, 16384) + "\x01" : stack);
}
return function %[4]s(fn, input, MAXOUT) {
	let r, s;
	try {
		const a = parse(input);
		r = fn(a.trigger, a.steps, a.vars, a.item, a.index, a.previous);
		const t = typeof r;
		if (t === "undefined") return "Cthe code returned undefined: end it with return and a JSON value (object, array, string, number, boolean or null)";
		if (t === "function" || t === "symbol" || t === "bigint") return "Cthe code returned a " + t + ", which has no JSON form";
		if (r !== null && t === "object" && typeof r.then === "function") return "Cthe code returned a Promise: code steps run synchronously (no await, no timers)";
	} catch (e) {
		return "E" + describe(e);
	}
	try {
		s = stringify(r);
	} catch (e) {
		if (e instanceof TypeError) return "Cthe returned value has no JSON form: " + cut(toStr(e.message), MAXMSG);
		return "E" + describe(e);
	}
	if (s === undefined) return "Cthe returned value has no JSON form";
	if (s.length > MAXOUT) return "Cthe returned value's JSON is " + s.length + " characters, over the limit of " + MAXOUT + " bytes";
	return "R" + s;
};
})()`, logFunc, MaxLogBytes, maxMessage, harnessName)
}

// logSink keeps console lines up to MaxLogLines and MaxLogBytes.
type logSink struct {
	kept    []string
	bytes   int
	dropped int
}

func (l *logSink) host(args []any) (any, error) {
	var level, text string
	if len(args) == 2 {
		level, _ = args[0].(string)
		text, _ = args[1].(string)
	}
	switch level {
	case "warn", "error":
		text = "[" + level + "] " + text
	}
	room := MaxLogBytes - l.bytes
	if len(l.kept) >= MaxLogLines || room <= 0 {
		l.dropped++
		return nil, nil
	}
	if len(text) > room {
		text = clipText(text, room)
	}
	l.kept = append(l.kept, text)
	l.bytes += len(text)
	return nil, nil
}

func (l *logSink) lines() []string {
	if l.dropped == 0 {
		return l.kept
	}
	return append(l.kept, fmt.Sprintf("… %d more console line(s) not kept (the limit is %d lines and %d KiB)", l.dropped, MaxLogLines, MaxLogBytes>>10))
}
