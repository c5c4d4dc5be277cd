import { rawCall } from '../api/client';
import { asApiError } from '../api/errors';
import { stepTypes } from './steptypes';

// acceptedTypes asks the server's validation which of the palette's
// `probe` types it knows: one definition with a step of each is
// validated, and every type the engine does not have is named in the
// answer (definition.steps[i].type). Asked once per page load.
let cached: Promise<Set<string>> | null = null;

export function acceptedTypes(): Promise<Set<string>> {
  cached ??= (async () => {
    const probes = stepTypes.filter((t) => t.probe).map((t) => t.type);
    const def = { trigger: { type: 'manual' }, startStepId: 'p0', steps: probes.map((type, i) => ({ id: 'p' + i, type, config: {} })) };
    try {
      await rawCall('POST', '/api/v1/workflows/validate', def);
      return new Set(probes);
    } catch (e) {
      const ae = asApiError(e);
      if (ae.code !== 'VALIDATION_ERROR') return new Set<string>();
      return new Set(probes.filter((_, i) => !ae.fields[`definition.steps[${i}].type`]));
    }
  })();
  return cached;
}
