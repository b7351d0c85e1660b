// A map of at most `maxKeys` entries that forgets the least recently written (or, through getRecent, read)
// key when full: what every per-client table of the token server and its decision cache use, so a client
// spraying keys can only evict, never grow memory.

export class BoundedMap<V> {
  private readonly map = new Map<string, V>();

  constructor(private readonly maxKeys: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  /**
   * `get`, and the key counts as the most recently used (an LRU read) once the map is half full. Below
   * that nothing is near eviction, and moving the key (a delete and a set) was a tenth of the token
   * server's own work with a thousand users (bench (b)): keys read then keep their insertion order, and
   * the reads from half full on decide what goes first.
   */
  getRecent(key: string): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined && this.map.size * 2 >= this.maxKeys) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.map.delete(key);
    while (this.map.size >= this.maxKeys) {
      const oldest = this.map.keys().next();
      if (oldest.done === true) break;
      this.map.delete(oldest.value);
    }
    this.map.set(key, value);
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }
}
