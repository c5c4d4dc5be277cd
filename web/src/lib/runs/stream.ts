import { authedFetch } from '../api/client';

// followRun reads GET /api/v1/runs/{id}/stream with fetch streaming
// (EventSource cannot send the bearer token): onRun gets the run at the
// start and after each checkpoint. A dropped connection is opened again
// with Last-Event-ID, so nothing is missed and nothing repeated; the
// stream ends by itself after the run's final state. The returned
// function stops following.
export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'ended';

export function followRun<R extends { checkpoint: number; status: string }>(
  id: string,
  onRun: (run: R) => void,
  onState: (s: StreamState) => void = () => {},
): () => void {
  const ctl = new AbortController();
  let lastId = '';
  let ended = false;

  async function once(): Promise<boolean> {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (lastId) headers['Last-Event-ID'] = lastId;
    const res = await authedFetch(new Request(`/api/v1/runs/${encodeURIComponent(id)}/stream`, { headers, signal: ctl.signal }));
    // 404: gone or not this workspace's; 401/403: signed out. Neither
    // gets better by trying again.
    if (res.status >= 400 && res.status < 500) return true;
    if (!res.ok || !res.body) return false;
    onState('live');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let final = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let ev = 'message';
        let data = '';
        let eid = '';
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue; // heartbeat
          const c = line.indexOf(':');
          const field = c < 0 ? line : line.slice(0, c);
          const val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
          if (field === 'event') ev = val;
          else if (field === 'data') data += (data ? '\n' : '') + val;
          else if (field === 'id') eid = val;
        }
        if (eid) lastId = eid;
        if (ev === 'run' && data) {
          const run = JSON.parse(data) as R;
          onRun(run);
          if (['completed', 'failed', 'cancelled'].includes(run.status)) final = true;
        }
      }
    }
    // The server ends the stream after a run's final state; any other
    // end (a node shutting down, a proxy) is resumed.
    return final;
  }

  void (async () => {
    let delay = 250;
    onState('connecting');
    while (!ctl.signal.aborted) {
      try {
        if (await once()) break;
        delay = 250;
      } catch {
        if (ctl.signal.aborted) break;
      }
      onState('reconnecting');
      await new Promise((ok) => setTimeout(ok, delay));
      delay = Math.min(delay * 2, 5000);
    }
    ended = true;
    if (!ctl.signal.aborted) onState('ended');
  })();

  return () => {
    if (!ended) ctl.abort();
  };
}
