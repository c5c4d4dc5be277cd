import { api, call } from './api/client';
import type { Balance } from './billing';

// wallet is the balance and plan of the workspace in use, shared by the
// shell (credit figure, plan badge) and the pages that change them (a
// purchase, a plan change, a switch of workspace), so both show the same.
// plan is set only once a page has read a newer one than the shell's.
export const wallet = $state({ available: null as number | null, plan: null as { workspace: string; plan: string } | null });

// refreshBalance reads the balance again and returns it.
export async function refreshBalance(): Promise<Balance> {
  const b = await call(api.GET('/api/v1/credits'));
  wallet.available = b.available;
  return b;
}
