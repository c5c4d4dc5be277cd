import createClient from 'openapi-fetch';
import type { paths, operations } from './schema';
import { ApiError } from './errors';
import { session, refreshSession, impersonationOver } from '../session.svelte';

// Every call goes through this fetch: it adds the in-memory access token
// and, when a signed-in call answers 401 because the token expired,
// refreshes once through the session cookie and retries.
export async function authedFetch(input: Request): Promise<Response> {
  const retry = input.clone();
  const res = await fetch(withToken(input));
  // An impersonation that expired or was revoked hands the tab back to
  // the admin's own session.
  if (res.status === 401 && session.token && session.impersonator && !new URL(input.url).pathname.startsWith('/api/v1/auth/')) {
    void impersonationOver();
    return res;
  }
  // An impersonation session cannot be renewed: the cookie is the admin's.
  if (res.status !== 401 || !session.token || session.impersonator || new URL(input.url).pathname.startsWith('/api/v1/auth/')) {
    return res;
  }
  if (!(await refreshSession())) return res;
  return fetch(withToken(retry));
}

function withToken(r: Request): Request {
  if (session.token && !r.headers.has('Authorization')) {
    r.headers.set('Authorization', 'Bearer ' + session.token);
  }
  return r;
}

export const api = createClient<paths>({ baseUrl: '', fetch: authedFetch });

type Result<D> = { data?: D; error?: unknown; response: Response };

// call unwraps the success envelope, or throws the error envelope as an
// ApiError.
export async function call<D extends { data?: unknown }>(p: Promise<Result<D>>): Promise<NonNullable<D['data']>> {
  let r: Result<D>;
  try {
    r = await p;
  } catch (e) {
    throw new ApiError({ message: 'cannot reach the server: ' + (e instanceof Error ? e.message : String(e)), code: 'NETWORK', status: 0 });
  }
  if (r.response.ok && r.data !== undefined && r.data.data !== undefined) {
    return r.data.data as NonNullable<D['data']>;
  }
  throw ApiError.from(r.response, r.error);
}

// A page of a list: lists answer {items, nextCursor}. itemsOf also takes a
// bare array, as some list routes answered before they were paged.
export type Page<T> = { items: T[]; nextCursor?: string | null };
export function itemsOf<T>(v: Page<T> | T[] | null | undefined): T[] {
  if (!v) return [];
  return Array.isArray(v) ? v : (v.items ?? []);
}

// User is the account as sign-in and PATCH /me answer it; Me is GET /me's
// answer, which adds pendingEmail and impersonator.
export type User = Tokens['user'];
export type Me = operations['getMe']['responses'][200]['content']['application/json']['data'];
export type Tokens = operations['postAuthRefresh']['responses'][200]['content']['application/json']['data'];
// LoginAnswer is what a password sign-in answers: Tokens, or, on an account
// with a second factor, an MFAChallenge that POST /auth/login/mfa completes.
export type LoginAnswer = operations['postAuthLogin']['responses'][200]['content']['application/json']['data'];
export type MFAChallenge = Exclude<LoginAnswer, Tokens>;
export type Org = operations['getOrgs']['responses'][200]['content']['application/json']['data'] extends (infer O)[] | Page<infer O> ? O : never;

// rawCall is call for routes this build's generated types do not know yet
// (added by servers newer than the schema it was built from): the same
// authenticated fetch, the same envelopes.
export async function rawCall<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await authedFetch(
      new Request(path, {
        method,
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
  } catch (e) {
    throw new ApiError({ message: 'cannot reach the server: ' + (e instanceof Error ? e.message : String(e)), code: 'NETWORK', status: 0 });
  }
  let parsed: unknown = undefined;
  try {
    parsed = await res.json();
  } catch {
    // An empty or non-JSON answer: the status decides.
  }
  if (res.ok) return (parsed as { data: T } | undefined)?.data as T;
  throw ApiError.from(res, parsed);
}
