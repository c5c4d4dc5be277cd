import { asApiError, type ApiError } from './api/errors';
import type { Page } from './api/client';

// Pager holds one paged list: the rows loaded so far, the cursor of the
// next page ("Load more"), and the last error.
export class Pager<T> {
  items = $state<T[]>([]);
  next = $state<string | null>(null);
  error = $state<ApiError | null>(null);
  loading = $state(false);
  loaded = $state(false);

  // Only the latest request counts: a reload (new filters, another
  // workspace) must not be overwritten by an older page arriving late.
  private seq = 0;

  constructor(private fetchPage: (cursor?: string) => Promise<Page<T>>) {}

  async reload() {
    await this.load(undefined, true);
  }

  async more() {
    if (this.next) await this.load(this.next, false);
  }

  private async load(cursor: string | undefined, replace: boolean) {
    const seq = ++this.seq;
    this.loading = true;
    this.error = null;
    try {
      const p = await this.fetchPage(cursor);
      if (seq !== this.seq) return;
      this.items = replace ? p.items : [...this.items, ...p.items];
      this.next = p.nextCursor ?? null;
      this.loaded = true;
    } catch (e) {
      if (seq === this.seq) this.error = asApiError(e);
    } finally {
      if (seq === this.seq) this.loading = false;
    }
  }
}
