import { api, call, type Tokens, type User } from './api/client';

// The signed-in state. The access token lives only here, in memory; the
// refresh token is an HttpOnly cookie the page cannot read, so a reload
// signs back in through POST /auth/refresh with "session": "cookie".
export const session = $state({
  token: '',
  user: null as User | null,
  // ready turns true once the first refresh has been tried.
  ready: false,
  // impersonator is the admin while they act as session.user through an
  // impersonation session. That session has no refresh token and lives
  // only in this tab's memory; the admin's own session stays behind the
  // cookie, so ending (or a reload) returns to it.
  impersonator: null as User | null,
});

let timer: ReturnType<typeof setTimeout> | undefined;
let inflight: Promise<boolean> | null = null;

// Tabs tell each other when the user signs out or in.
const channel = typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel('switchboard-session');
const listeners = new Set<(e: 'signed-out' | 'signed-in') => void>();
channel?.addEventListener('message', (m) => {
  if (m.data === 'signed-out') {
    clear();
    for (const l of listeners) l('signed-out');
  } else if (m.data === 'signed-in' && !session.token) {
    void refreshSession().then(() => listeners.forEach((l) => l('signed-in')));
  }
});

export function onSessionChange(l: (e: 'signed-out' | 'signed-in') => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

// actingAs is the account as the token acts: the user that sign-in,
// refresh and switch answer names the oldest organization it belongs to,
// while the access token's claims name the workspace this session acts in
// (an organization, or none for the personal one). Pages read the latter.
function actingAs(t: Tokens): User {
  let claims: { organizationId?: string; orgRole?: User['orgRole'] };
  try {
    claims = JSON.parse(atob(t.accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    return t.user;
  }
  return { ...t.user, organizationId: claims.organizationId || undefined, orgRole: claims.orgRole || undefined };
}

export function setTokens(t: Tokens) {
  session.token = t.accessToken;
  session.user = actingAs(t);
  clearTimeout(timer);
  // Renew a little before the access token expires.
  const ms = Math.max(10, t.expiresIn * 0.8) * 1000;
  timer = setTimeout(() => void refreshSession(), ms);
}

function clear() {
  clearTimeout(timer);
  session.token = '';
  session.user = null;
  session.impersonator = null;
}

// startImpersonation switches this tab to the impersonation session.
// The admin's renewal timer stops: renewing through the cookie would
// silently switch back to the admin.
export function startImpersonation(t: Tokens) {
  clearTimeout(timer);
  session.impersonator = session.user;
  session.token = t.accessToken;
  session.user = actingAs(t);
}

// endImpersonation ends the impersonation session on the server and goes
// back to the admin's own session. The logout is sent without cookies, or
// it would clear the admin's session cookie too.
export async function endImpersonation() {
  if (!session.impersonator) return;
  try {
    await call(api.POST('/api/v1/auth/logout', { credentials: 'omit' }));
  } catch {
    // An expired or revoked impersonation session is over anyway.
  }
  session.impersonator = null;
  session.token = '';
  await refreshSession();
}

// refreshSession trades the cookie for a new access token. Tabs take turns
// (Web Locks): refresh tokens are single use, and two tabs spending the
// same one at once would look like a stolen token.
export function refreshSession(): Promise<boolean> {
  inflight ??= (async () => {
    const run = async () => {
      try {
        setTokens(await call(api.POST('/api/v1/auth/refresh', { body: { session: 'cookie' } })));
        return true;
      } catch {
        clear();
        return false;
      }
    };
    try {
      return navigator.locks ? await navigator.locks.request('switchboard-refresh', run) : await run();
    } finally {
      inflight = null;
      session.ready = true;
    }
  })();
  return inflight;
}

export async function signIn(email: string, password: string) {
  setTokens(await call(api.POST('/api/v1/auth/login', { body: { email, password, session: 'cookie' } })));
  channel?.postMessage('signed-in');
}

export async function signOut() {
  try {
    await call(api.POST('/api/v1/auth/logout'));
  } catch {
    // Signed out here whatever the server said; the cookie is gone or stale.
  }
  clear();
  channel?.postMessage('signed-out');
}

// signedOutLocally ends the session in this tab and the others without
// asking the server (used after a password reset ended every session).
export function signedOutLocally() {
  clear();
  channel?.postMessage('signed-out');
}
