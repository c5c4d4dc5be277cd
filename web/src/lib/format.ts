import { formatDistanceToNow, format } from 'date-fns';

// Credits are integers in millicredits.
export function credits(milli: number): string {
  return (milli / 1000).toLocaleString(undefined, { maximumFractionDigits: 3 });
}

export function ago(iso: string | undefined | null): string {
  if (!iso) return '—';
  return formatDistanceToNow(new Date(iso), { addSuffix: true });
}

export function when(iso: string | undefined | null): string {
  if (!iso) return '—';
  return format(new Date(iso), 'PPp');
}

// query reads one parameter of the page's address (tokens stay strings).
export function query(name: string): string {
  return new URLSearchParams(location.search).get(name) ?? '';
}
