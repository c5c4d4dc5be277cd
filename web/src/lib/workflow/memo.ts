// Memo keeps the node and edge objects handed to the canvas while what
// they show is unchanged. Svelte Flow then keeps an unchanged node's
// measured size and skips it; a new object for the same node is hidden
// until measured again, so rebuilding every node on each update makes
// the whole canvas blink.
export class Memo<T extends { id: string }> {
  #entries = new Map<string, { key: string; value: T }>();
  #used = new Set<string>();

  // get returns the object kept for id if it was made from the same key,
  // or makes, keeps and returns a new one.
  get(id: string, key: string, make: () => T): T {
    this.#used.add(id);
    const e = this.#entries.get(id);
    if (e && e.key === key) return e.value;
    const value = make();
    this.#entries.set(id, { key, value });
    return value;
  }

  // adopt takes the canvas's current objects in place of the kept ones:
  // once it has measured a node, Svelte Flow replaces it with a copy that
  // carries its size, and only that copy is recognised as unchanged. Call
  // it before a rebuild with the bound nodes (untracked in an effect).
  adopt(current: T[]) {
    for (const v of current) {
      const e = this.#entries.get(v.id);
      if (e) e.value = v;
    }
  }

  // sweep forgets the objects not asked for since the last sweep (nodes
  // and links that are gone). Call it after each rebuild.
  sweep() {
    for (const id of this.#entries.keys()) if (!this.#used.has(id)) this.#entries.delete(id);
    this.#used.clear();
  }
}
