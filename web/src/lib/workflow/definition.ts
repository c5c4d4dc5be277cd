// The definition as the studio edits it: the server's format (see
// docs/workflows.md), kept loose so fields the engine gains later pass
// through untouched.
export interface Step {
  id: string;
  name?: string;
  type: string;
  config: Record<string, unknown>;
  nextStepId?: string;
  conditionalNext?: Record<string, string>;
  onErrorNextStepId?: string;
  onError?: string;
  retryCount?: number;
  retryBackoffMs?: number;
  [k: string]: unknown;
}

export interface Trigger {
  type: string;
  cron?: string;
  timezone?: string;
  gatewayIds?: string[];
  filter?: string;
  mode?: string;
  timeoutMs?: number;
  dedupeHeader?: string;
  [k: string]: unknown;
}

export interface Definition {
  trigger: Trigger;
  startStepId: string;
  steps: Step[];
  variables?: Record<string, unknown>;
  settings?: { timeoutSeconds?: number; maxSteps?: number };
  [k: string]: unknown;
}

export type XY = { x: number; y: number };
export interface Layout {
  nodes: Record<string, XY>;
  viewport?: { x: number; y: number; zoom: number };
}

// TRIGGER is the trigger's node id: a step id must start with a letter,
// so it cannot clash.
export const TRIGGER = '__trigger';

// A link is one outgoing edge of a step: its kind names the field it
// lives in. 'next' and 'error' are nextStepId and onErrorNextStepId,
// 'body' a loop's config.bodyStartStepId, 'branch:<i>' the i-th entry of
// a parallel step's config.branches ('branch' alone, in setLink, adds
// one), and any other kind a key of conditionalNext (true/false of a
// condition, reply/timeout of waitForReply).
export type LinkKind = string;
export interface Link {
  from: string;
  kind: LinkKind;
  to: string;
}

function branchesOf(s: Step): string[] {
  const b = s.config?.branches;
  return Array.isArray(b) ? b.map((x) => (typeof x === 'string' ? x : '')) : [];
}

// handleOf is the canvas handle a link leaves from: all of a parallel
// step's branches share one.
export function handleOf(kind: LinkKind): string {
  return kind.startsWith('branch:') ? 'branch' : kind;
}

export function links(def: Definition): Link[] {
  const out: Link[] = [];
  if (def.startStepId) out.push({ from: TRIGGER, kind: 'start', to: def.startStepId });
  for (const s of def.steps) {
    if (s.nextStepId) out.push({ from: s.id, kind: 'next', to: s.nextStepId });
    for (const [k, t] of Object.entries(s.conditionalNext ?? {})) if (t) out.push({ from: s.id, kind: k, to: t });
    const body = s.config?.bodyStartStepId;
    if (typeof body === 'string' && body) out.push({ from: s.id, kind: 'body', to: body });
    branchesOf(s).forEach((t, i) => t && out.push({ from: s.id, kind: 'branch:' + i, to: t }));
    if (s.onErrorNextStepId) out.push({ from: s.id, kind: 'error', to: s.onErrorNextStepId });
  }
  return out;
}

// setLink points one outgoing link of a step (or the trigger's start) at
// target; an empty target removes it.
export function setLink(def: Definition, from: string, kind: LinkKind, target: string) {
  if (from === TRIGGER || kind === 'start') {
    def.startStepId = target;
    return;
  }
  const s = def.steps.find((x) => x.id === from);
  if (!s) return;
  if (kind === 'next') {
    if (target) s.nextStepId = target;
    else delete s.nextStepId;
  } else if (kind === 'error') {
    if (target) s.onErrorNextStepId = target;
    else delete s.onErrorNextStepId;
  } else if (kind === 'body') {
    // The key stays (empty) so the form shows the field to fill.
    s.config = { ...(s.config ?? {}), bodyStartStepId: target };
  } else if (kind === 'branch' || kind.startsWith('branch:')) {
    const b = branchesOf(s);
    const i = kind === 'branch' ? -1 : Number(kind.slice(7));
    if (i < 0) {
      if (target && !b.includes(target)) b.push(target);
    } else if (target) b[i] = target;
    else b.splice(i, 1);
    s.config = { ...(s.config ?? {}), branches: b };
  } else {
    const c = { ...(s.conditionalNext ?? {}) };
    if (target) c[kind] = target;
    else delete c[kind];
    if (Object.keys(c).length) s.conditionalNext = c;
    else delete s.conditionalNext;
  }
}

// removeSteps deletes steps and every link that pointed at them.
export function removeSteps(def: Definition, ids: Set<string>) {
  def.steps = def.steps.filter((s) => !ids.has(s.id));
  // Branches go by value: removing one by index would shift the others.
  for (const s of def.steps) if (branchesOf(s).some((b) => ids.has(b))) s.config = { ...s.config, branches: branchesOf(s).filter((b) => !ids.has(b)) };
  for (const l of links(def)) if (ids.has(l.to)) setLink(def, l.from, l.kind, '');
  if (ids.has(def.startStepId)) def.startStepId = def.steps[0]?.id ?? '';
}

// renameStep changes a step's id and every link and expression reference
// to it (`steps.<old>.` in expressions and templates).
export function renameStep(def: Definition, from: string, to: string) {
  const s = def.steps.find((x) => x.id === from);
  if (!s || from === to) return;
  s.id = to;
  for (const l of links(def)) if (l.to === from) setLink(def, l.from, l.kind, to);
  // The id ends where id characters end: renaming "a" leaves steps.a-2.
  const re = new RegExp('\\bsteps\\.' + from.replace(/[-]/g, '\\-') + '(?![A-Za-z0-9_-])', 'g');
  for (const x of def.steps) x.config = JSON.parse(JSON.stringify(x.config).replace(re, 'steps.' + to));
}

// freeId is base, or base-2, base-3 … whichever no step uses yet.
export function freeId(def: Definition, base: string): string {
  const used = new Set(def.steps.map((s) => s.id));
  const clean = (/^[A-Za-z]/.test(base) ? base : 's' + base).replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 56);
  if (!used.has(clean)) return clean;
  for (let i = 2; ; i++) if (!used.has(`${clean}-${i}`)) return `${clean}-${i}`;
}

// pasteSteps adds copies of steps with fresh ids; links among the copies
// follow them, links to steps outside the copy are dropped.
export function pasteSteps(def: Definition, copied: Step[]): string[] {
  const map = new Map<string, string>();
  for (const s of copied) {
    const id = freeId(def, s.id);
    map.set(s.id, id);
    def.steps.push({ ...s, id }); // reserve the id before the next
  }
  const added = def.steps.slice(def.steps.length - copied.length);
  for (const s of added) {
    const keep = (t?: string) => (t && map.has(t) ? map.get(t) : undefined);
    s.nextStepId = keep(s.nextStepId);
    if (!s.nextStepId) delete s.nextStepId;
    s.onErrorNextStepId = keep(s.onErrorNextStepId);
    if (!s.onErrorNextStepId) delete s.onErrorNextStepId;
    if (s.conditionalNext) {
      const c: Record<string, string> = {};
      for (const [k, v] of Object.entries(s.conditionalNext)) {
        const t = keep(v);
        if (t) c[k] = t;
      }
      if (Object.keys(c).length) s.conditionalNext = c;
      else delete s.conditionalNext;
    }
    const cfg = { ...(s.config ?? {}) };
    if (typeof cfg.bodyStartStepId === 'string') cfg.bodyStartStepId = keep(cfg.bodyStartStepId) ?? '';
    if (Array.isArray(cfg.branches)) cfg.branches = branchesOf(s).map(keep).filter((t): t is string => !!t);
    s.config = cfg;
  }
  return added.map((s) => s.id);
}

export const NODE_W = 220;
export const NODE_H = 84;
// ROW_GAP is the space between a row of steps and the next: room for a
// step to show its one-line error and output below what NODE_H holds,
// and for its branch labels, without reaching the step below.
export const ROW_GAP = 80;

// autoLayout places the trigger and the steps top to bottom along their
// links, for a workflow opened without saved positions: each step one
// row below the lowest step linking to it (links back up, the loops, are
// left out), each row ordered by where its parents stand, so branches
// spread left and right and chains stay straight. Steps nothing links to
// stand in a column on the right. Linear in the number of links (a
// general-purpose layout library took 100–200 ms at the maximum step
// count, beyond the studio's budget for opening a workflow).
export function autoLayout(def: Definition): Record<string, XY> {
  const out = new Map<string, Link[]>();
  for (const l of links(def)) out.set(l.from, [...(out.get(l.from) ?? []), l]);
  const ids = new Set(def.steps.map((s) => s.id));
  // Depth-first from the trigger: the order seen, and the links that go
  // back to a step on the current path (the loops).
  const seen = new Map<string, number>();
  const onPath = new Set<string>();
  const forward: Link[] = [];
  const visit = (id: string) => {
    seen.set(id, seen.size);
    onPath.add(id);
    for (const l of out.get(id) ?? []) {
      if (!ids.has(l.to) || onPath.has(l.to)) continue;
      forward.push(l);
      if (!seen.has(l.to)) visit(l.to);
    }
    onPath.delete(id);
  };
  visit(TRIGGER);
  // Rows: the longest path from the trigger along forward links, taken
  // in a topological order (Kahn).
  const indeg = new Map<string, number>();
  const fwdOut = new Map<string, Link[]>();
  for (const l of forward) {
    indeg.set(l.to, (indeg.get(l.to) ?? 0) + 1);
    fwdOut.set(l.from, [...(fwdOut.get(l.from) ?? []), l]);
  }
  const row = new Map<string, number>([[TRIGGER, 0]]);
  const queue = [TRIGGER];
  const parents = new Map<string, string[]>();
  for (let q = 0; q < queue.length; q++) {
    const id = queue[q];
    for (const l of fwdOut.get(id) ?? []) {
      row.set(l.to, Math.max(row.get(l.to) ?? 0, row.get(id)! + 1));
      parents.set(l.to, [...(parents.get(l.to) ?? []), id]);
      const d = indeg.get(l.to)! - 1;
      indeg.set(l.to, d);
      if (d === 0) queue.push(l.to);
    }
  }
  const rows: string[][] = [];
  for (const [id, r] of row) (rows[r] ??= []).push(id);
  const pos: Record<string, XY> = {};
  const colW = NODE_W + 40;
  const rowH = NODE_H + ROW_GAP;
  for (let r = 0; r < rows.length; r++) {
    const items = (rows[r] ?? []).map((id) => {
      const ps = (parents.get(id) ?? []).filter((p) => pos[p]);
      // A branch's children sit to the left (true, reply, a loop's body)
      // and right (false, timeout, error, a loop's next) of the parent's
      // column.
      const lean = (out.get(ps[0] ?? '') ?? []).filter((l) => l.to === id).map((l) => (['false', 'error', 'timeout'].includes(l.kind) || (l.kind === 'next' && (out.get(ps[0]) ?? []).some((o) => o.kind === 'body')) ? 0.5 : ['true', 'reply', 'body'].includes(l.kind) ? -0.5 : 0))[0] ?? 0;
      const want = ps.length ? ps.reduce((a, p) => a + pos[p].x, 0) / ps.length + lean * colW : 0;
      return { id, want, order: seen.get(id) ?? 0 };
    });
    items.sort((a, b) => a.want - b.want || a.order - b.order);
    // Keep the wanted places where they do not overlap; push right where
    // they do, then centre the row on what it wanted.
    let x = -Infinity;
    const xs = items.map((it) => (x = Math.max(it.want, x + colW)));
    const shift = items.length ? (items.reduce((a, it) => a + it.want, 0) - xs.reduce((a, v) => a + v, 0)) / items.length : 0;
    items.forEach((it, i) => (pos[it.id] = { x: Math.round(xs[i] + shift), y: r * rowH - (r === 0 ? 0 : 28) }));
  }
  // Steps nothing reaches: a column to the right.
  const maxX = Math.max(0, ...Object.values(pos).map((p) => p.x));
  let y = 0;
  for (const s of def.steps) {
    if (pos[s.id]) continue;
    pos[s.id] = { x: maxX + colW * 1.5, y };
    y += rowH;
  }
  return pos;
}

// stepIndexErrors maps the validation's field names
// (definition.steps[3].config.expression) to the steps' ids and the rest
// of the field (config.expression); fields outside steps go under "".
export interface FieldError {
  field: string;
  message: string;
}
export function errorsByStep(def: Definition, fields: { field?: string; message?: string }[]): Map<string, FieldError[]> {
  const out = new Map<string, FieldError[]>();
  const add = (k: string, e: FieldError) => {
    const l = out.get(k) ?? [];
    l.push(e);
    out.set(k, l);
  };
  for (const f of fields) {
    if (!f.field || !f.message) continue;
    const m = /^definition\.steps\[(\d+)\]\.?(.*)$/.exec(f.field);
    if (m && def.steps[Number(m[1])]) add(def.steps[Number(m[1])].id, { field: m[2], message: f.message });
    else add('', { field: f.field.replace(/^definition\.?/, ''), message: f.message });
  }
  return out;
}

export function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}
