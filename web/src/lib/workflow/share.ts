// Sharing workflows from the dashboard: export as a JSON file, duplicate,
// and the documents an import takes (an export, or a gallery template).
import { rawCall } from '../api/client';

export interface Reference {
  field?: string;
  kind: string;
  id: string;
  label?: string;
}

// ImportDoc is what the import dialog offers: a document and the foreign
// ids it names, each to map to one of this workspace's resources or clear.
export interface ImportDoc {
  name: string;
  description?: string;
  definition: unknown;
  layout?: unknown;
  references: Reference[];
  // A sample input kept as the new workflow's draft (templates).
  sampleInput?: unknown;
}

export interface Template {
  slug: string;
  name: string;
  description: string;
  source: string;
  triggerType: string;
  stepTypes: string[];
  needs: { kind: string; id: string; label: string }[];
  sampleInput: unknown;
  sampleOutput?: unknown;
  sampleReply?: string;
  definition: unknown;
}

// exportWorkflow downloads GET /workflows/{id}/export as <name>.workflow.json.
export async function exportWorkflow(id: string): Promise<void> {
  const doc = await rawCall<{ name: string }>('GET', `/api/v1/workflows/${encodeURIComponent(id)}/export`);
  const blob = new Blob([JSON.stringify(doc, null, 2) + '\n'], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = (doc.name || 'workflow').replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') + '.workflow.json';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

export function duplicateWorkflow(id: string): Promise<{ id: string; name: string }> {
  return rawCall('POST', `/api/v1/workflows/${encodeURIComponent(id)}/duplicate`, {});
}

// readExport reads an export file; the error says what is wrong with it.
export async function readExport(file: File): Promise<ImportDoc> {
  if (file.size > 1 << 20) throw new Error('The file is larger than 1 MiB.');
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(await file.text());
  } catch {
    throw new Error(`${file.name} is not JSON.`);
  }
  if (!doc || typeof doc !== 'object' || !doc.definition) throw new Error(`${file.name} has no workflow definition (export one with "Export").`);
  const refs = Array.isArray(doc.references) ? (doc.references as Reference[]) : [];
  return {
    name: typeof doc.name === 'string' ? doc.name : file.name.replace(/\.workflow\.json$|\.json$/, ''),
    description: typeof doc.description === 'string' ? doc.description : '',
    definition: doc.definition,
    layout: doc.layout ?? undefined,
    references: refs,
  };
}

export function templateDoc(t: Template): ImportDoc {
  return {
    name: t.name,
    description: t.description,
    definition: t.definition,
    references: t.needs.map((n) => ({ kind: n.kind, id: n.id, label: n.label })),
    sampleInput: t.sampleInput,
  };
}

// importWorkflow creates the workflow (disabled) with the ids replaced,
// and keeps a sample input as its draft's, for the studio's Run.
export async function importWorkflow(doc: ImportDoc, name: string, replace: Record<string, string>): Promise<{ id: string }> {
  const w = await rawCall<{ id: string; definition: unknown }>('POST', '/api/v1/workflows/import', {
    name,
    description: doc.description || undefined,
    definition: doc.definition,
    layout: doc.layout ?? undefined,
    replace,
  });
  if (doc.sampleInput !== undefined) {
    try {
      await rawCall('PUT', `/api/v1/workflows/${encodeURIComponent(w.id)}/draft`, { definition: w.definition, input: doc.sampleInput });
    } catch {
      // The workflow exists; only the sample input is not kept.
    }
  }
  return w;
}
