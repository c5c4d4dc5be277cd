// The palette is data: each step type the studio knows, how it looks, the
// config a new step of it starts with and which outgoing links it has. A
// type the engine gains later is one more entry here (and, for a form of
// its own, a case in StepPanel.svelte; without one the panel edits its
// config as JSON). Entries marked `probe` are offered only when the
// server's validation accepts the type (see acceptedTypes), so the palette
// never offers a step the server would refuse.

// outputs: 'next' is one plain next step; 'branches' names the
// conditionalNext keys in `branches` (a condition's true/false, a wait's
// reply/timeout); 'loop' is a next step ("done") and a body start in
// config.bodyStartStepId ("each"); 'parallel' is the list of branch starts
// in config.branches.
export type Outputs = 'next' | 'branches' | 'loop' | 'parallel' | 'none';

export interface StepType {
  type: string;
  label: string;
  // glyph is a short symbol drawn on the node and the palette button.
  glyph: string;
  description: string;
  outputs: Outputs;
  branches?: string[];
  config: () => Record<string, unknown>;
  probe?: boolean;
}

export const stepTypes: StepType[] = [
  { type: 'plugin', label: 'Plugin', glyph: '⚙', description: 'Run a built-in plugin or an installation', outputs: 'next',
    config: () => ({ plugin: 'template', input: {} }) },
  { type: 'gateway', label: 'Send message', glyph: '✉', description: 'Queue a message on a gateway', outputs: 'next',
    config: () => ({ gatewayId: '', text: '' }) },
  { type: 'condition', label: 'Condition', glyph: '◇', description: 'Branch on an expression (true / false)', outputs: 'branches', branches: ['true', 'false'],
    config: () => ({ expression: 'true' }) },
  { type: 'transform', label: 'Transform', glyph: 'ƒ', description: 'Reshape data with JMESPath', outputs: 'next',
    config: () => ({ expression: 'trigger' }) },
  { type: 'delay', label: 'Delay', glyph: '◷', description: 'Wait for a while or until a time', outputs: 'next',
    config: () => ({ seconds: 60 }) },
  // Coming with the expressive-workflow steps: offered once the server
  // accepts them.
  { type: 'code', label: 'Code', glyph: '{}', description: 'Run a snippet of JavaScript', outputs: 'next', probe: true,
    config: () => ({ language: 'javascript', source: 'return previous;' }) },
  { type: 'forEach', label: 'For each', glyph: '↻', description: 'Repeat steps for each item of a list', outputs: 'loop', probe: true,
    config: () => ({ items: 'trigger.items', concurrency: 1, bodyStartStepId: '' }) },
  { type: 'parallel', label: 'Parallel', glyph: '⇉', description: 'Run branches at the same time', outputs: 'parallel', probe: true,
    config: () => ({ branches: [] }) },
  { type: 'merge', label: 'Merge', glyph: '⇊', description: 'Wait for branches and join them', outputs: 'next', probe: true,
    config: () => ({ wait: 'all' }) },
  { type: 'subWorkflow', label: 'Sub-workflow', glyph: '▣', description: 'Run another workflow', outputs: 'next', probe: true,
    config: () => ({ workflowId: '', wait: true }) },
  { type: 'waitForReply', label: 'Wait for reply', glyph: '…', description: 'Pause until a chat answers', outputs: 'branches', branches: ['reply', 'timeout'], probe: true,
    config: () => ({ chat: 'trigger.payload.chatId', timeoutSeconds: 900 }) },
];

export function typeOf(t: string): StepType {
  return stepTypes.find((s) => s.type === t) ?? { type: t, label: t, glyph: '?', description: '', outputs: 'next', config: () => ({}) };
}

export const triggerTypes = [
  { type: 'manual', label: 'Manual' },
  { type: 'webhook', label: 'Webhook' },
  { type: 'schedule', label: 'Schedule' },
  { type: 'event', label: 'Gateway event' },
];
