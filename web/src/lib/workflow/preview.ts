// The live preview of expression fields: the studio provides the data an
// expression would see (the latest run, or the test run just made, and the
// editor's variables), and each field asks the server's own evaluator
// (POST /workflows/expressions/preview) what its text gives over it.
import { getContext, setContext } from 'svelte';
import { rawCall } from '../api/client';

export interface PreviewSource {
  // The run whose data expressions see (none: only the variables).
  runId: () => string;
  variables: () => unknown;
}

export interface PreviewResult {
  ok: boolean;
  value?: unknown;
  error?: string;
}

const key = Symbol('expr-preview');

export function providePreview(src: PreviewSource): void {
  setContext(key, src);
}

export function previewSource(): PreviewSource | undefined {
  return getContext<PreviewSource | undefined>(key);
}

export function previewExpression(expression: string, mode: string, src: PreviewSource): Promise<PreviewResult> {
  const runId = src.runId();
  return rawCall<PreviewResult>('POST', '/api/v1/workflows/expressions/preview', {
    expression,
    mode,
    runId: runId || undefined,
    data: { variables: src.variables() ?? {} },
  });
}

// show is a value as the preview line prints it.
export function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v ?? null, null, 1);
  return s.length > 400 ? s.slice(0, 400) + '…' : s;
}
