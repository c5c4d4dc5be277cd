import type { components, operations } from './api/schema';
import { api, call } from './api/client';

export type Balance = components['schemas']['CreditBalance'];
export type UsageItem = components['schemas']['CreditUsageItem'];
export type UsageReport = components['schemas']['CreditUsageReport'];
export type Overview = components['schemas']['BillingOverview'];
export type PlanOffer = components['schemas']['BillingPlanOffer'];
export type Pack = components['schemas']['BillingPack'];
export type Transaction = components['schemas']['CreditTransaction'];
export type TxPage = components['schemas']['CreditTxPage'];
export type TxQuery = NonNullable<operations['getCreditsTransactions']['parameters']['query']>;

// transactions reads one page of the ledger. The route also answers CSV
// (format=csv), which widens its generated type; as JSON it is the usual
// envelope.
export function transactions(query: TxQuery): Promise<TxPage> {
  const p = api.GET('/api/v1/credits/transactions', { params: { query } });
  return call(p as unknown as Promise<{ data?: { data?: TxPage }; error?: unknown; response: Response }>);
}

export const UNLIMITED = -1;

export const txTypes = [
  { value: 'purchase', label: 'Purchase' },
  { value: 'usage', label: 'Usage' },
  { value: 'refund', label: 'Refund' },
  { value: 'bonus', label: 'Bonus' },
  { value: 'grant', label: 'Grant' },
];

export function txTypeLabel(t: string): string {
  return txTypes.find((x) => x.value === t)?.label ?? t;
}

const metricLabels: Record<string, string> = {
  executions: 'Executions today',
  aiTokens: 'AI tokens this month',
  storageBytes: 'Storage',
  gateways: 'Gateways',
  plugins: 'Plugins',
  eventSubscriptions: 'Event subscriptions',
};

export function metricLabel(metric: string): string {
  return metricLabels[metric] ?? metric;
}

// bytes shows a size in the largest unit that keeps it at least 1.
export function bytes(n: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toLocaleString(undefined, { maximumFractionDigits: i ? 1 : 0 })} ${units[i]}`;
}

// amount shows a quantity of a metric in its unit.
export function amount(metric: string, n: number): string {
  return metric === 'storageBytes' ? bytes(n) : n.toLocaleString();
}

// usageText reads one usage item aloud: "12 of 100", "12 (no limit)".
export function usageText(u: UsageItem): string {
  if (u.used === null) return u.limit === UNLIMITED ? 'no limit' : `limit ${amount(u.metric, u.limit)}`;
  if (u.limit === UNLIMITED) return `${amount(u.metric, u.used)} (no limit)`;
  return `${amount(u.metric, u.used)} of ${amount(u.metric, u.limit)}`;
}

// share is the part of the limit used, 0–100 (more when exceeded).
export function share(u: UsageItem): number {
  if (u.used === null || u.limit === UNLIMITED) return 0;
  if (u.limit === 0) return u.used > 0 ? 100 : 0;
  return Math.round((u.used / u.limit) * 100);
}

export function limit(n: number, unit = ''): string {
  if (n === UNLIMITED) return 'Unlimited';
  return n.toLocaleString() + (unit ? ' ' + unit : '');
}

export function planLabel(p: string): string {
  return p ? p.charAt(0) + p.slice(1).toLowerCase() : '';
}

export function price(cents: number, currency: string): string {
  return new Intl.NumberFormat(undefined, { style: 'currency', currency: currency.toUpperCase() }).format(cents / 100);
}

// toMilli reads a number of credits typed by a person ("12", "0.5") as
// millicredits; null when it is not a number with at most 3 decimals.
export function toMilli(s: string): number | null {
  const t = s.trim();
  if (!/^\d+(\.\d{1,3})?$/.test(t)) return null;
  const [whole, frac = ''] = t.split('.');
  return Number(whole) * 1000 + Number(frac.padEnd(3, '0'));
}

// fromMilli writes millicredits as the credits a person types.
export function fromMilli(mc: number): string {
  return String(mc / 1000);
}

// dayStart is the start of a date input's day in the browser's time zone,
// plusDays later, as RFC 3339 (date filters are whole local days; "to"
// includes its day).
export function dayStart(d: string, plusDays = 0): string | undefined {
  if (!d) return undefined;
  const t = new Date(d + 'T00:00:00');
  t.setDate(t.getDate() + plusDays);
  return t.toISOString();
}

// A checkout the browser left for: remembered across the trip to Stripe
// so the return page can say what it bought.
export type PendingCheckout = { sessionId: string; kind: 'pack' | 'plan'; what: string };
const pendingKey = 'switchboard-checkout';

export function rememberCheckout(p: PendingCheckout) {
  sessionStorage.setItem(pendingKey, JSON.stringify(p));
}

// takeCheckout returns and forgets the checkout that returned with this
// session id.
export function takeCheckout(sessionId: string): PendingCheckout | null {
  const raw = sessionStorage.getItem(pendingKey);
  if (!raw) return null;
  sessionStorage.removeItem(pendingKey);
  try {
    const p = JSON.parse(raw) as PendingCheckout;
    return p.sessionId === sessionId ? p : null;
  } catch {
    return null;
  }
}
