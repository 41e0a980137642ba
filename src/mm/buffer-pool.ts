/**
 * Typed arrays of finished machines, kept for the next machines. The race explorer builds a
 * machine per schedule; allocating its typed arrays (frame metadata, allocator, page tables,
 * content chunks) costs several µs each plus the garbage collections they bring. A machine gives
 * its arrays back only through `Kernel.dispose`, when no simulated code can touch them any more,
 * so an array is never shared by two live machines. The pool keeps the arrays themselves (whole
 * sets of views on one buffer), so a new machine creates no view on a long-lived buffer.
 *
 * A pool is an object its owner passes to the machines that share it (`bufferPool` in the
 * machine options; the explorer makes one per exploration), never module state: two explorations
 * in one process, or two workers, each have their own. A machine without one allocates afresh.
 *
 * An entry is an object holding arrays, filed under a key naming its layout (kind and size);
 * the taker zeroes what it needs zeroed. No key keeps more than {@link POOL_MAX_PER_KEY}
 * entries, no entry above {@link POOL_MAX_ENTRY_BYTES} is kept, and no more than
 * {@link POOL_MAX_BYTES} in all.
 * @module
 */

/** Entries kept per key. */
export const POOL_MAX_PER_KEY = 8;
/** Largest entry kept, bytes. */
export const POOL_MAX_ENTRY_BYTES = 4 * 1024 * 1024;
/** Bytes kept in all. */
export const POOL_MAX_BYTES = 32 * 1024 * 1024;

interface Pooled {
  readonly entry: object;
  readonly bytes: number;
}

/** Typed arrays of disposed machines, for the next machines built with the same pool. */
export class BufferPool {
  /** Key → entries filed under it. */
  private readonly entries = new Map<string, Pooled[]>();
  private held = 0;

  /** An entry filed under `key`, or undefined when there is none. */
  take<T extends object>(key: string): T | undefined {
    const list = this.entries.get(key);
    if (list === undefined || list.length === 0) return undefined;
    const p = list.pop()!;
    this.held -= p.bytes;
    return p.entry as T;
  }

  /** Files `entry` (arrays of `bytes` bytes in all) under `key`; its owner must never use it again. */
  give(key: string, entry: object, bytes: number): void {
    if (bytes > POOL_MAX_ENTRY_BYTES || this.held + bytes > POOL_MAX_BYTES) return;
    let list = this.entries.get(key);
    if (list === undefined) {
      list = [];
      this.entries.set(key, list);
    }
    if (list.length >= POOL_MAX_PER_KEY) return;
    // Given twice, an entry would go to two machines: keep one copy.
    for (let i = 0; i < list.length; i++) if (list[i]!.entry === entry) return;
    list.push({ entry, bytes });
    this.held += bytes;
  }

  /** Bytes held by the pool (a statistic, for tests). */
  get bytes(): number {
    return this.held;
  }

  /** Drops every entry. */
  clear(): void {
    this.entries.clear();
    this.held = 0;
  }
}
