/**
 * Eviction policies: which GPU-resident pages make room when device memory is full.
 *
 * - `root-chunk` — NVIDIA's PMM (`uvm_pmm_gpu.c`, `pick_root_chunk_to_evict`): root chunks in
 *   allocation order; a chunk moves to the tail of the USED list when its VA block allocates in
 *   it (`root_chunk_update_eviction_list`), **not** when the GPU accesses it (Bug 1765193), and
 *   the head is evicted whole. hmmsim maps one VA block to one root chunk.
 * - UVM Smart's `-eviction_policy` choices (`gpu-sim.cc`, `page_eviction_procedure`): `lru-2m`
 *   (0), `tbn` (1), `sl-64k` (2), `random-4k` (3), `lfu-2m` (4), `lru-4k` (5), ordered by GPU
 *   accesses.
 *
 * Lists are intrusive doubly-linked lists in typed arrays (O(1) touch and pop).
 * @module
 */
import type { Prng } from '../../sim/prng.ts';
import * as units from '../units.ts';

// Local copies: imported bindings are read through getters by some loaders, too slow in hot loops.
const { BLOCK_PAGES, BLOCK_SHIFT, BLOCK_WORDS } = units;

/** The eviction policy names (`eviction` parameter). */
export const EVICTION_POLICIES = [
  'root-chunk',
  'lru-2m',
  'lru-4k',
  'tbn',
  'sl-64k',
  'random-4k',
  'lfu-2m',
] as const;
/** One eviction policy name. */
export type EvictionPolicyName = (typeof EVICTION_POLICIES)[number];

/** An LRU list over `n` items in typed arrays; items not in the list have `inList = 0`. */
export class LruList {
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly inList: Uint8Array;
  private head = -1;
  private tail = -1;
  /** Items in the list. */
  size = 0;
  constructor(n: number) {
    this.prev = new Int32Array(n);
    this.next = new Int32Array(n);
    this.inList = new Uint8Array(n);
  }
  /** True when `i` is in the list. */
  has(i: number): boolean {
    return this.inList[i] === 1;
  }
  /** Moves `i` to the tail (most recent), inserting it if absent. */
  touch(i: number): void {
    if (this.inList[i] === 1) {
      if (this.tail === i) return;
      this.unlink(i);
    }
    this.inList[i] = 1;
    this.prev[i] = this.tail;
    this.next[i] = -1;
    if (this.tail >= 0) this.next[this.tail] = i;
    else this.head = i;
    this.tail = i;
    this.size++;
  }
  /** Removes `i` if present. */
  remove(i: number): void {
    if (this.inList[i] === 1) this.unlink(i);
  }
  /** The least recent item that is not `exclude`, or -1. */
  oldest(exclude: (i: number) => boolean): number {
    for (let i = this.head; i >= 0; i = this.next[i]!) if (!exclude(i)) return i;
    return -1;
  }
  private unlink(i: number): void {
    const p = this.prev[i]!;
    const n = this.next[i]!;
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
    this.inList[i] = 0;
    this.size--;
  }
}

/** Chooses victims. The engine reports migrations in and GPU accesses; it asks for a victim. */
export interface Evictor {
  readonly name: EvictionPolicyName;
  /** True when the policy orders by GPU accesses (the engine then reports every resident hit). */
  readonly needsAccess: boolean;
  /** Pages of `block` in `mask` became GPU-resident (an allocation in the block's chunk). */
  onMigrateIn(block: number, mask: Uint32Array, maskOff: number): void;
  /** The GPU accessed `page` (only called when {@link needsAccess}). */
  onAccess(page: number): void;
  /**
   * Picks what to evict, never from block `exclude`: writes the page mask to `out` and returns the
   * block, or returns -1 when nothing is evictable. `resident` is the GPU-resident bitmap.
   */
  pickVictim(exclude: number, resident: Uint32Array, out: Uint32Array): number;
  /**
   * Pages of `block` in `mask` left the GPU (evicted, or migrated back by a CPU fault);
   * `blockNowEmpty` when no page of the block is GPU-resident any more.
   */
  onEvicted(block: number, mask: Uint32Array, maskOff: number, blockNowEmpty: boolean): void;
}

function blockEmpty(resident: Uint32Array, b: number): boolean {
  for (let i = 0; i < BLOCK_WORDS; i++) if (resident[b * BLOCK_WORDS + i] !== 0) return false;
  return true;
}

/** Whole-block eviction ordered by a block LRU (root-chunk: by allocation; lru-2m: by access). */
class BlockLruEvictor implements Evictor {
  private readonly lru: LruList;
  constructor(
    readonly name: EvictionPolicyName,
    readonly needsAccess: boolean,
    blocks: number,
  ) {
    this.lru = new LruList(blocks);
  }
  onMigrateIn(block: number): void {
    this.lru.touch(block);
  }
  onAccess(page: number): void {
    // NVIDIA's root chunks move only on allocation (Bug 1765193: not when mapped or accessed).
    if (this.needsAccess) this.lru.touch(page >>> BLOCK_SHIFT);
  }
  pickVictim(exclude: number, resident: Uint32Array, out: Uint32Array): number {
    const b = this.lru.oldest((i) => i === exclude || blockEmpty(resident, i));
    if (b < 0) return -1;
    for (let i = 0; i < BLOCK_WORDS; i++) out[i] = resident[b * BLOCK_WORDS + i]!;
    return b;
  }
  onEvicted(block: number, _mask: Uint32Array, _off: number, blockNowEmpty: boolean): void {
    if (blockNowEmpty) this.lru.remove(block);
  }
}

/** LFU over 2 MiB blocks: the resident block with the fewest GPU accesses. */
class LfuEvictor implements Evictor {
  readonly name = 'lfu-2m';
  readonly needsAccess = true;
  private readonly count: Float64Array;
  private readonly present: Uint8Array;
  constructor(blocks: number) {
    this.count = new Float64Array(blocks);
    this.present = new Uint8Array(blocks);
  }
  onMigrateIn(block: number): void {
    this.present[block] = 1;
  }
  onAccess(page: number): void {
    this.count[page >>> BLOCK_SHIFT]!++;
  }
  pickVictim(exclude: number, resident: Uint32Array, out: Uint32Array): number {
    let best = -1;
    for (let b = 0; b < this.present.length; b++) {
      if (this.present[b] === 0 || b === exclude || blockEmpty(resident, b)) continue;
      if (best < 0 || this.count[b]! < this.count[best]!) best = b;
    }
    if (best < 0) return -1;
    for (let i = 0; i < BLOCK_WORDS; i++) out[i] = resident[best * BLOCK_WORDS + i]!;
    return best;
  }
  onEvicted(block: number, _mask: Uint32Array, _off: number, blockNowEmpty: boolean): void {
    if (!blockNowEmpty) return;
    this.present[block] = 0;
    this.count[block] = 0;
  }
}

/** LRU over units of `unitPages` pages (4 KiB pages or 64 KiB basic blocks), by GPU access. */
class UnitLruEvictor implements Evictor {
  readonly needsAccess = true;
  private readonly lru: LruList;
  private readonly shift: number;
  constructor(
    readonly name: EvictionPolicyName,
    pages: number,
    readonly unitPages: number,
    private readonly tbn: boolean,
  ) {
    this.shift = Math.log2(unitPages);
    this.lru = new LruList(Math.ceil(pages / unitPages));
  }
  onMigrateIn(block: number, mask: Uint32Array, off: number): void {
    for (let p = 0; p < BLOCK_PAGES; p += this.unitPages) {
      if (anyInRange(mask, off, p, this.unitPages))
        this.lru.touch(((block << BLOCK_SHIFT) + p) >>> this.shift);
    }
  }
  onAccess(page: number): void {
    this.lru.touch(page >>> this.shift);
  }
  pickVictim(exclude: number, resident: Uint32Array, out: Uint32Array): number {
    const u = this.lru.oldest((i) => {
      const g = i << this.shift;
      const b = g >>> BLOCK_SHIFT;
      return b === exclude || !anyInRange(resident, b * BLOCK_WORDS, g & (BLOCK_PAGES - 1), this.unitPages);
    });
    if (u < 0) return -1;
    const page = u << this.shift;
    const b = page >>> BLOCK_SHIFT;
    out.fill(0);
    const first = page & (BLOCK_PAGES - 1);
    for (let p = first; p < first + this.unitPages; p++) out[p >>> 5]! |= 1 << (p & 31);
    if (this.tbn) tbnRemove(resident, b, out);
    for (let i = 0; i < BLOCK_WORDS; i++) out[i]! &= resident[b * BLOCK_WORDS + i]!;
    return b;
  }
  onEvicted(block: number, mask: Uint32Array, off: number): void {
    for (let p = 0; p < BLOCK_PAGES; p += this.unitPages) {
      if (anyInRange(mask, off, p, this.unitPages))
        this.lru.remove(((block << BLOCK_SHIFT) + p) >>> this.shift);
    }
  }
}

function anyInRange(m: Uint32Array, off: number, first: number, n: number): boolean {
  for (let p = first; p < first + n; p++) if ((m[off + (p >>> 5)]! >>> (p & 31)) & 1) return true;
  return false;
}

/**
 * UVM Smart's TBN eviction (`traverse_and_remove_lp_tree`): after taking the victim 64 KiB leaf,
 * every subtree of the block whose remaining valid size is non-zero and below half its size is
 * emptied too, bottom-up.
 */
function tbnRemove(resident: Uint32Array, b: number, out: Uint32Array): void {
  const base = b * BLOCK_WORDS;
  for (let size = 32; size <= BLOCK_PAGES; size <<= 1) {
    for (let first = 0; first < BLOCK_PAGES; first += size) {
      let valid = 0;
      for (let p = first; p < first + size; p++) {
        const r = (resident[base + (p >>> 5)]! >>> (p & 31)) & 1;
        const gone = (out[p >>> 5]! >>> (p & 31)) & 1;
        if (r === 1 && gone === 0) valid++;
      }
      if (valid !== 0 && valid * 2 < size) {
        for (let p = first; p < first + size; p++) out[p >>> 5]! |= 1 << (p & 31);
      }
    }
  }
}

/** Random 4 KiB pages. */
class RandomEvictor implements Evictor {
  readonly name = 'random-4k';
  readonly needsAccess = false;
  private readonly pos: Int32Array;
  private readonly items: Int32Array;
  private n = 0;
  constructor(
    pages: number,
    private readonly rng: Prng,
  ) {
    this.pos = new Int32Array(pages).fill(-1);
    this.items = new Int32Array(pages);
  }
  onMigrateIn(block: number, mask: Uint32Array, off: number): void {
    for (let p = 0; p < BLOCK_PAGES; p++) {
      if (((mask[off + (p >>> 5)]! >>> (p & 31)) & 1) === 0) continue;
      const g = (block << BLOCK_SHIFT) + p;
      if (g >= this.pos.length || this.pos[g] !== -1) continue;
      this.pos[g] = this.n;
      this.items[this.n++] = g;
    }
  }
  onAccess(): void {}
  pickVictim(exclude: number, resident: Uint32Array, out: Uint32Array): number {
    for (let tries = 0; tries < 64 && this.n > 0; tries++) {
      const g = this.items[this.rng.nextInt(this.n)]!;
      const b = g >>> BLOCK_SHIFT;
      if (b === exclude) continue;
      const p = g & (BLOCK_PAGES - 1);
      if (((resident[b * BLOCK_WORDS + (p >>> 5)]! >>> (p & 31)) & 1) === 0) continue;
      out.fill(0);
      out[p >>> 5] = 1 << (p & 31);
      return b;
    }
    return -1;
  }
  onEvicted(block: number, mask: Uint32Array, off: number): void {
    for (let p = 0; p < BLOCK_PAGES; p++) {
      if (((mask[off + (p >>> 5)]! >>> (p & 31)) & 1) === 0) continue;
      const g = (block << BLOCK_SHIFT) + p;
      const i = this.pos[g]!;
      if (i < 0) continue;
      const last = this.items[--this.n]!;
      this.items[i] = last;
      this.pos[last] = i;
      this.pos[g] = -1;
    }
  }
}

/** Creates the evictor for a policy over `pages` pages. */
export function createEvictor(name: EvictionPolicyName, pages: number, rng: Prng): Evictor {
  const blocks = Math.ceil(pages / BLOCK_PAGES);
  switch (name) {
    case 'root-chunk':
      return new BlockLruEvictor('root-chunk', false, blocks);
    case 'lru-2m':
      return new BlockLruEvictor('lru-2m', true, blocks);
    case 'lfu-2m':
      return new LfuEvictor(blocks);
    case 'lru-4k':
      return new UnitLruEvictor('lru-4k', pages, 1, false);
    case 'sl-64k':
      return new UnitLruEvictor('sl-64k', pages, 16, false);
    case 'tbn':
      return new UnitLruEvictor('tbn', pages, 16, true);
    case 'random-4k':
      return new RandomEvictor(pages, rng);
  }
}
