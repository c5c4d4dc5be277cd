import dagre from '@dagrejs/dagre';

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

// A link is one outgoing edge of a step: its kind names the field it lives in.
export type LinkKind = 'next' | 'true' | 'false' | 'error';
export interface Link {
  from: string;
  kind: LinkKind | 'start';
  to: string;
}

export function links(def: Definition): Link[] {
  const out: Link[] = [];
  if (def.startStepId) out.push({ from: TRIGGER, kind: 'start', to: def.startStepId });
  for (const s of def.steps) {
    if (s.nextStepId) out.push({ from: s.id, kind: 'next', to: s.nextStepId });
    for (const k of ['true', 'false'] as const) {
      const t = s.conditionalNext?.[k];
      if (t) out.push({ from: s.id, kind: k, to: t });
    }
    if (s.onErrorNextStepId) out.push({ from: s.id, kind: 'error', to: s.onErrorNextStepId });
  }
  return out;
}

// setLink points one outgoing link of a step (or the trigger's start) at
// target; an empty target removes it.
export function setLink(def: Definition, from: string, kind: LinkKind | 'start', target: string) {
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
  const re = new RegExp('\\bsteps\\.' + from.replace(/[-]/g, '\\-') + '\\b', 'g');
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
  }
  return added.map((s) => s.id);
}

export const NODE_W = 220;
export const NODE_H = 84;

// autoLayout places the trigger and the steps top to bottom along their
// links (dagre), for a workflow opened without saved positions.
export function autoLayout(def: Definition): Record<string, XY> {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'TB', nodesep: 40, ranksep: 60 });
  g.setDefaultEdgeLabel(() => ({}));
  g.setNode(TRIGGER, { width: NODE_W, height: 56 });
  for (const s of def.steps) g.setNode(s.id, { width: NODE_W, height: NODE_H });
  for (const l of links(def)) if (g.hasNode(l.from) && g.hasNode(l.to)) g.setEdge(l.from, l.to);
  dagre.layout(g);
  const out: Record<string, XY> = {};
  for (const id of g.nodes()) {
    const n = g.node(id);
    if (n) out[id] = { x: Math.round(n.x - (n.width ?? NODE_W) / 2), y: Math.round(n.y - (n.height ?? NODE_H) / 2) };
  }
  return out;
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
