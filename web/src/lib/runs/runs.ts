import type { components } from '../api/schema';

export type Run = components['schemas']['WorkflowRun'];
export type StepRecord = Run['steps'][number];

export const runStatuses = ['running', 'completed', 'failed', 'cancelled'] as const;
export const runTriggers = ['manual', 'webhook', 'schedule', 'event'] as const;

export function terminal(status: string): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

export function statusClass(s: string): string {
  return s === 'completed' || s === 'succeeded' ? 'good' : s === 'failed' || s === 'cancelled' ? 'bad' : '';
}

// duration says how long something took: "420 ms", "3.2 s", "4 min 5 s".
export function duration(ms: number): string {
  if (!isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return m < 60 ? `${m} min${s ? ` ${s} s` : ''}` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

// runDuration is a run's length so far (to now while it runs).
export function runDuration(r: Pick<Run, 'createdAt' | 'finishedAt'>, now = Date.now()): string {
  const end = r.finishedAt ? new Date(r.finishedAt).getTime() : now;
  return duration(end - new Date(r.createdAt).getTime());
}

// pretty shows a JSON value for reading.
export function pretty(v: unknown): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v, null, 2);
}
