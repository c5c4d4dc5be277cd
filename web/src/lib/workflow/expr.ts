// A small tokenizer for the studio's expression fields: enough to colour
// expr-lang, JMESPath and {{ }} templates, not to parse them (the server's
// validation does that and its errors show beside the field).

export type TokKind = 'text' | 'delim' | 'str' | 'num' | 'kw' | 'ident' | 'op' | 'ws';
export interface Tok {
  kind: TokKind;
  text: string;
}

const keywords = new Set(['true', 'false', 'nil', 'null', 'and', 'or', 'not', 'in', 'matches', 'contains', 'startsWith', 'endsWith', 'let']);

// tokenizeCode splits an expression.
export function tokenizeCode(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    let m: RegExpExecArray | null;
    const rest = src.slice(i);
    if ((m = /^\s+/.exec(rest))) out.push({ kind: 'ws', text: m[0] });
    else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      out.push({ kind: 'str', text: src.slice(i, Math.min(j + 1, src.length)) });
    } else if ((m = /^\d+(\.\d+)?/.exec(rest))) out.push({ kind: 'num', text: m[0] });
    else if ((m = /^[A-Za-z_$][\w$]*/.exec(rest))) out.push({ kind: keywords.has(m[0]) ? 'kw' : 'ident', text: m[0] });
    else out.push({ kind: 'op', text: c });
    i += out[out.length - 1].text.length;
  }
  return out;
}

// tokenizeTemplate splits a template: plain text, and the code between
// {{ and }} (a }} inside a quoted string does not close it, as on the
// server).
export function tokenizeTemplate(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      out.push({ kind: 'text', text: src.slice(i) });
      break;
    }
    if (open > i) out.push({ kind: 'text', text: src.slice(i, open) });
    let j = open + 2;
    let quote = '';
    for (; j < src.length; j++) {
      const c = src[j];
      if (quote) {
        if (c === '\\') j++;
        else if (c === quote) quote = '';
      } else if (c === '"' || c === "'" || c === '`') quote = c;
      else if (c === '}' && src[j + 1] === '}') break;
    }
    out.push({ kind: 'delim', text: '{{' });
    out.push(...tokenizeCode(src.slice(open + 2, j)));
    if (j < src.length) out.push({ kind: 'delim', text: '}}' });
    i = j + 2;
  }
  return out;
}

// paths lists every dotted path into a value (objects only; lists stop
// the walk), for autocomplete: paths('trigger', {body: {a: 1}}) →
// trigger, trigger.body, trigger.body.a.
export function paths(prefix: string, v: unknown, out: string[] = [], depth = 0): string[] {
  out.push(prefix);
  if (depth > 6 || out.length > 2000 || !v || typeof v !== 'object' || Array.isArray(v)) return out;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (/^[A-Za-z_][\w]*$/.test(k)) paths(prefix + '.' + k, x, out, depth + 1);
  }
  return out;
}

// wordBefore is the dotted name being typed just before the caret.
export function wordBefore(text: string, caret: number): string {
  const m = /[A-Za-z_][\w.]*$/.exec(text.slice(0, caret));
  return m ? m[0] : '';
}

// lookup reads a dotted path from data.
export function lookup(data: Record<string, unknown>, path: string): unknown {
  let v: unknown = data;
  for (const k of path.split('.')) {
    if (!v || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}
