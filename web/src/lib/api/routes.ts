// routeExists tells whether the server's OpenAPI document lists a route,
// so the dashboard can offer what a newer server adds (layout, test runs,
// schedule previews) without calling routes an older one would answer
// 404 to. The document is read once per page load.
let doc: Promise<Record<string, Record<string, unknown>>> | null = null;

export async function routeExists(method: string, path: string): Promise<boolean> {
  doc ??= fetch('/api/v1/openapi.json')
    .then((r) => (r.ok ? r.json() : {}))
    .then((d: { paths?: Record<string, Record<string, unknown>> }) => d.paths ?? {})
    .catch(() => ({}));
  const p = (await doc)[path];
  return !!p && method.toLowerCase() in p;
}
