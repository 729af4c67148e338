/** Small bounded memories of the Telegram channel (handled updates, questions being answered). */

/** A set that remembers only its most recent `capacity` entries. */
export class RecentSet<T> {
  private readonly items = new Set<T>();
  constructor(private readonly capacity: number) {}
  has(item: T): boolean {
    return this.items.has(item);
  }
  add(item: T): void {
    this.items.add(item);
    if (this.items.size > this.capacity) {
      const oldest = this.items.values().next();
      if (!oldest.done) this.items.delete(oldest.value);
    }
  }
}

/** A map that remembers only its most recent `capacity` entries. */
export class RecentMap<K, V> {
  private readonly items = new Map<K, V>();
  constructor(private readonly capacity: number) {}
  get(key: K): V | undefined {
    return this.items.get(key);
  }
  set(key: K, value: V): void {
    this.items.delete(key);
    this.items.set(key, value);
    if (this.items.size > this.capacity) {
      const oldest = this.items.keys().next();
      if (!oldest.done) this.items.delete(oldest.value);
    }
  }
}
