import { api, call, type MFAChallenge, type Tokens, type User, type Me } from './api/client';
import { ApiError } from './api/errors';
import { assertionJSON, requestOptions } from './passkeys';

// Impersonator is the admin behind an impersonation session, as GET /me
// names them.
export type Impersonator = NonNullable<Me['impersonator']>;

// The signed-in state. The access token lives only here, in memory; the
// refresh token is an HttpOnly cookie the page cannot read, so a reload
// signs back in through POST /auth/refresh with "session": "cookie".
export const session = $state({
  token: '',
  user: null as User | null,
  // ready turns true once the first refresh has been tried.
  ready: false,
  // impersonator is the admin while they act as session.user through an
  // impersonation session, as GET /me names them. That session has no
  // refresh token; its short-lived access token is kept in this tab's
  // sessionStorage so a reload stays in it (see restoreSession). The
  // admin's own session stays behind the cookie, so ending returns to it.
  impersonator: null as Impersonator | null,
});

// The impersonation session's access token, per tab: sessionStorage dies
// with the tab, and the token with the impersonation (15 minutes at most,
// revoked when it ends). The admin's refresh token never leaves its
// HttpOnly cookie.
const impersonationKey = 'switchboard-impersonation';

function remember(token: string) {
  try {
    if (token) sessionStorage.setItem(impersonationKey, token);
    else sessionStorage.removeItem(impersonationKey);
  } catch {
    // Storage refused (private mode): a reload returns to the admin.
  }
}

function remembered(): string {
  try {
    return sessionStorage.getItem(impersonationKey) ?? '';
  } catch {
    return '';
  }
}

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
function actingAs(accessToken: string, user: User): User {
  let claims: { organizationId?: string; orgRole?: User['orgRole'] };
  try {
    claims = JSON.parse(atob(accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    return user;
  }
  return { ...user, organizationId: claims.organizationId || undefined, orgRole: claims.orgRole || undefined };
}

export function setTokens(t: Tokens) {
  session.token = t.accessToken;
  session.user = actingAs(t.accessToken, t.user);
  clearTimeout(timer);
  // A workspace switch inside an impersonation stays in it: no renewal
  // through the admin's cookie.
  if (session.impersonator) {
    remember(t.accessToken);
    return;
  }
  // Renew a little before the access token expires.
  const ms = Math.max(10, t.expiresIn * 0.8) * 1000;
  timer = setTimeout(() => void refreshSession(), ms);
}

function clear() {
  clearTimeout(timer);
  session.token = '';
  session.user = null;
  session.impersonator = null;
  remember('');
}

// startImpersonation switches this tab to the impersonation session.
// The admin's renewal timer stops: renewing through the cookie would
// silently switch back to the admin.
// The banner then names the admin as GET /me does.
export async function startImpersonation(t: Tokens) {
  clearTimeout(timer);
  const admin = session.user;
  session.impersonator = admin ? { id: admin.id, email: admin.email, name: admin.name } : null;
  session.token = t.accessToken;
  session.user = actingAs(t.accessToken, t.user);
  remember(t.accessToken);
  try {
    const me = await call(api.GET('/api/v1/me'));
    session.user = actingAs(t.accessToken, userOf(me));
    if (me.impersonator) session.impersonator = me.impersonator;
  } catch {
    // The start answer's user stands until the next page's calls.
  }
}

// userOf is GET /me's answer as the account sign-in answers it.
function userOf(me: Me): User {
  const u: Partial<Me> = { ...me };
  delete u.impersonator;
  return { ...u, pendingEmail: me.pendingEmail ?? undefined } as User;
}

// restoreSession runs once when the page loads: a tab that was in an
// impersonation session goes back into it when GET /me still answers as
// one (naming the admin); otherwise the cookie signs the owner back in.
export async function restoreSession(): Promise<boolean> {
  const token = remembered();
  if (token) {
    // The token goes in by hand: a 401 must not refresh into the admin.
    const me = await call(api.GET('/api/v1/me', { headers: { Authorization: 'Bearer ' + token } })).catch(() => null);
    if (me?.impersonator) {
      session.token = token;
      session.user = actingAs(token, userOf(me));
      session.impersonator = me.impersonator;
      session.ready = true;
      return true;
    }
    remember('');
  }
  return refreshSession();
}

// impersonationOver returns to the admin's own session when the server
// no longer takes the impersonation's token (expired or revoked).
export async function impersonationOver() {
  if (!session.impersonator) return;
  session.impersonator = null;
  session.token = '';
  remember('');
  await refreshSession();
}

// endImpersonation ends the impersonation session on the server (POST
// /auth/impersonation/end revokes it) and goes back to the admin's own
// session through the cookie, which the impersonation never touched.
export async function endImpersonation() {
  if (!session.impersonator) return;
  try {
    await call(api.POST('/api/v1/auth/impersonation/end', { credentials: 'omit' }));
  } catch {
    // An expired or revoked impersonation session is over anyway.
  }
  await impersonationOver();
}

// refreshRetries are the waits, in ms, before asking again for a refresh
// the server could not answer: about ten seconds in all, the time a node
// behind a balancer takes to restart.
const refreshRetries = [500, 1500, 3000, 5000];

// refreshWaiting hears when a refresh is about to be asked again, with
// the wait in ms: the page that is still signing back in says so.
const refreshWaiting = new Set<(ms: number) => void>();
export function onRefreshWait(l: (ms: number) => void): () => void {
  refreshWaiting.add(l);
  return () => refreshWaiting.delete(l);
}

function unavailable(e: unknown): e is ApiError {
  return e instanceof ApiError && (e.status === 0 || e.status === 429 || e.status >= 500);
}

// refreshSession trades the cookie for a new access token. Tabs take turns
// (Web Locks): refresh tokens are single use, and two tabs spending the
// same one at once would look like a stolen token.
export function refreshSession(): Promise<boolean> {
  inflight ??= (async () => {
    const run = async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          setTokens(await call(api.POST('/api/v1/auth/refresh', { body: { session: 'cookie' } })));
          return true;
        } catch (e) {
          // A server that is restarting or busy (no answer, 429, 5xx) has
          // not spent the token: it is asked again, a few times, before
          // the tab gives up. A refused token signs out at once.
          if (attempt < refreshRetries.length && unavailable(e)) {
            const wait = Math.min(10_000, Math.max(refreshRetries[attempt], (e.retryAfter ?? 0) * 1000));
            for (const l of refreshWaiting) l(wait);
            await new Promise((r) => setTimeout(r, wait));
            continue;
          }
          clear();
          return false;
        }
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

// signIn checks the password. It answers null once signed in, or the
// challenge of an account with a second factor: completeSignIn finishes it.
export async function signIn(email: string, password: string): Promise<MFAChallenge | null> {
  const answer = await call(api.POST('/api/v1/auth/login', { body: { email, password, session: 'cookie' } }));
  if ('mfaRequired' in answer && answer.mfaRequired) return answer as MFAChallenge;
  setTokens(answer as Tokens);
  channel?.postMessage('signed-in');
  return null;
}

// completeSignIn finishes a second-factor sign-in with a TOTP code or a
// recovery code.
export async function completeSignIn(mfaToken: string, proof: { code: string } | { recoveryCode: string }) {
  setTokens(await call(api.POST('/api/v1/auth/login/mfa', { body: { mfaToken, ...proof, session: 'cookie' } })));
  channel?.postMessage('signed-in');
}

// askPasskey runs navigator.credentials.get with the request options of a
// begun ceremony and answers the assertion in the API's JSON form.
async function askPasskey(publicKey: unknown): Promise<Record<string, unknown>> {
  const cred = (await navigator.credentials.get({ publicKey: requestOptions(publicKey) })) as PublicKeyCredential | null;
  if (!cred) throw new Error('no passkey was chosen');
  return assertionJSON(cred);
}

// completeSignInWithPasskey finishes a second-factor sign-in with one of
// the account's passkeys (methods include "passkey"). Beginning does not
// use up the mfaToken, so a cancelled prompt can be tried again.
export async function completeSignInWithPasskey(mfaToken: string) {
  const begun = await call(api.POST('/api/v1/auth/login/mfa/passkey/begin', { body: { mfaToken } }));
  const credential = await askPasskey(begun.publicKey);
  setTokens(
    await call(
      api.POST('/api/v1/auth/login/mfa', {
        body: { mfaToken, passkey: { ceremonyId: begun.ceremonyId, credential }, session: 'cookie' },
      }),
    ),
  );
  channel?.postMessage('signed-in');
}

// reauthWithPasskey re-authenticates the session with one of the
// account's passkeys.
export async function reauthWithPasskey() {
  const begun = await call(api.POST('/api/v1/auth/reauth/passkey/begin'));
  const credential = await askPasskey(begun.publicKey);
  await call(api.POST('/api/v1/auth/reauth', { body: { passkey: { ceremonyId: begun.ceremonyId, credential } } }));
}

// signInWithPasskey signs in without a password: the browser offers the
// passkeys it holds for this site, and the one chosen names the account.
export async function signInWithPasskey() {
  const begun = await call(api.POST('/api/v1/auth/passkey/begin'));
  const cred = (await navigator.credentials.get({ publicKey: requestOptions(begun.publicKey) })) as PublicKeyCredential | null;
  if (!cred) throw new Error('no passkey was chosen');
  setTokens(
    await call(
      api.POST('/api/v1/auth/passkey/finish', { body: { ceremonyId: begun.ceremonyId, credential: assertionJSON(cred), session: 'cookie' } }),
    ),
  );
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
