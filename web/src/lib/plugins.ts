import type { components } from './api/schema';

export type Entry = components['schemas']['MarketEntry'];
export type Installation = components['schemas']['Installation'];
export type Execution = components['schemas']['InstallExecution'];
export type Submission = components['schemas']['MarketVersion'];
export type Gateway = components['schemas']['Gateway'];
export type Report = components['schemas']['AnalyticsReport'];

// What each permission a sandboxed plugin asks for lets it do, for the
// installer who grants it.
export const permissionText: Record<string, string> = {
  log: 'write log lines kept with each execution',
  kv: 'keep data in its own key-value store',
  http: 'make HTTP requests to the hosts it lists',
  'gateway.send': 'send messages through the gateways you subscribe it to',
};

// Plugins that act on gateway events, so installing them without a
// gateway does nothing.
export const eventPlugins = new Set(['auto-reply', 'welcome', 'analytics']);

export function statusClass(s: string): string {
  return s === 'SUCCEEDED' || s === 'APPROVED' ? 'good' : s === 'FAILED' || s === 'REJECTED' || s === 'YANKED' ? 'bad' : '';
}

export function duration(ms: number | undefined): string {
  if (ms === undefined) return '—';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

// A config as the form edits it: an object (the API may answer null).
export function asObject(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? { ...(v as Record<string, unknown>) } : {};
}

// fileBase64 reads an uploaded file as base64, the way submissions carry
// their WebAssembly module.
export function fileBase64(f: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => {
      const s = String(r.result);
      resolve(s.slice(s.indexOf(',') + 1));
    };
    r.onerror = () => reject(r.error ?? new Error('cannot read ' + f.name));
    r.readAsDataURL(f);
  });
}

// nextPatch is the version after v (1.2.3 → 1.2.4), the default for a
// new version of a plugin.
export function nextPatch(v: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
  return m ? `${m[1]}.${m[2]}.${Number(m[3]) + 1}` : v;
}

// Secret names as the API takes them.
export const secretName = /^[a-z][A-Za-z0-9_]{0,63}$/;
