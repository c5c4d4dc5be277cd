import { rawCall } from '../api/client';
import { asApiError } from '../api/errors';
import { stepTypes } from './steptypes';

// acceptedTypes asks the server's validation which of the palette's
// `probe` types it knows: a one-step definition of each is validated, and
// a type the engine does not have is named in the answer's
// definition.steps[0].type. Asked once per page load.
let cached: Promise<Set<string>> | null = null;

export function acceptedTypes(): Promise<Set<string>> {
  cached ??= (async () => {
    const ok = new Set<string>();
    await Promise.all(
      stepTypes
        .filter((t) => t.probe)
        .map(async (t) => {
          try {
            await rawCall('POST', '/api/v1/workflows/validate', { trigger: { type: 'manual' }, startStepId: 'a', steps: [{ id: 'a', type: t.type, config: {} }] });
            ok.add(t.type);
          } catch (e) {
            const ae = asApiError(e);
            if (ae.code === 'VALIDATION_ERROR' && !ae.fields['definition.steps[0].type']) ok.add(t.type);
          }
        }),
    );
    return ok;
  })();
  return cached;
}
