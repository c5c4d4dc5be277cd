import { api, call } from './api/client';
import type { Balance } from './billing';

// wallet is the balance of the workspace in use, shared by the shell's
// credit figure and the pages that change it (a purchase, a switch of
// workspace), so both show the same number.
export const wallet = $state({ available: null as number | null });

// refreshBalance reads the balance again and returns it.
export async function refreshBalance(): Promise<Balance> {
  const b = await call(api.GET('/api/v1/credits'));
  wallet.available = b.available;
  return b;
}
