import { TRIGGER, links, handleOf, type Definition } from '../workflow/definition';
import type { StepRecord } from './runs';

// The path a run took over its definition: each step's last record, and
// which links it went along. A link is taken when both its ends ran and
// its target ran after its source (an error link: after its source
// failed).
export type StepState = 'completed' | 'failed' | 'running' | 'waiting' | 'skipped' | 'not-run';

export function stepStates(def: Definition, records: StepRecord[], runStatus: string): Map<string, StepState> {
  const m = new Map<string, StepState>();
  for (const s of def.steps) m.set(s.id, 'not-run');
  for (const r of records) {
    let st: StepState = r.status === 'failed' ? 'failed' : r.status === 'skipped' ? 'skipped' : 'completed';
    if (r.status === 'running' || r.status === 'waiting') st = runStatus === 'running' ? (r.status as StepState) : 'completed';
    if (r.waitUntil && runStatus === 'running' && new Date(r.waitUntil).getTime() > Date.now()) st = 'waiting';
    m.set(r.stepId, st);
  }
  return m;
}

export function takenLinks(def: Definition, records: StepRecord[]): Set<string> {
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  const failedAt = new Map<string, number>();
  // Records are in the order they were made (several may share a
  // checkpoint), so their index orders them.
  records.forEach((r, i) => {
    if (!first.has(r.stepId)) first.set(r.stepId, i);
    last.set(r.stepId, i);
    if (r.status === 'failed') failedAt.set(r.stepId, i);
  });
  const out = new Set<string>();
  for (const l of links(def)) {
    const id = `${l.from}:${l.kind}`;
    const to = last.get(l.to);
    if (to === undefined) continue;
    if (l.from === TRIGGER) {
      out.add(id);
      continue;
    }
    if (handleOf(l.kind) === 'error') {
      const f = failedAt.get(l.from);
      if (f !== undefined && to > f) out.add(id);
      continue;
    }
    const from = first.get(l.from);
    if (from !== undefined && to > from) out.add(id);
  }
  return out;
}
