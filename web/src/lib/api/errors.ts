// ApiError is every failed call as the dashboard shows it: the API's
// message and code, the request id to quote to support, the per-field
// messages of a VALIDATION_ERROR, and the wait of a 429.
export class ApiError extends Error {
  code: string;
  status: number;
  requestId: string;
  fields: Record<string, string>;
  retryAfter: number | null;

  constructor(opts: {
    message: string;
    code: string;
    status: number;
    requestId?: string;
    fields?: Record<string, string>;
    retryAfter?: number | null;
  }) {
    super(opts.message);
    this.code = opts.code;
    this.status = opts.status;
    this.requestId = opts.requestId ?? '';
    this.fields = opts.fields ?? {};
    this.retryAfter = opts.retryAfter ?? null;
  }

  static from(response: Response | undefined, body: unknown): ApiError {
    const env = (body ?? {}) as { error?: { code?: string; message?: string; details?: unknown } };
    const fields: Record<string, string> = {};
    const details = env.error?.details as { fields?: { field?: string; message?: string }[] } | undefined;
    for (const f of details?.fields ?? []) {
      if (f.field && f.message && !(f.field in fields)) fields[f.field] = f.message;
    }
    const ra = response?.headers.get('Retry-After');
    const retryAfter = ra && /^\d+$/.test(ra) ? Number(ra) : null;
    return new ApiError({
      message: env.error?.message ?? (response ? `the server answered ${response.status}` : 'no answer from the server'),
      code: env.error?.code ?? (response ? 'HTTP_' + response.status : 'NETWORK'),
      status: response?.status ?? 0,
      requestId: response?.headers.get('X-Request-Id') ?? '',
      fields,
      retryAfter,
    });
  }
}

// asApiError turns anything thrown into an ApiError for display.
export function asApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError({ message: e instanceof Error ? e.message : String(e), code: 'CLIENT', status: 0 });
}
