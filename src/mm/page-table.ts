/**
 * Page tables: a machine-wide pool of 512-entry tables in one typed array, 8 bytes per entry,
 * and the 4-level walk (PGD → PUD → PMD → PTE, with the P4D folded as on 4-level x86-64).
 * Table 0 is never handed out, so a zero payload never names a table.
 * @module
 */
import type { BufferPool } from './buffer-pool.ts';
import { PTRS_PER_TABLE } from './constants.ts';
import { PTE_KIND_MASK, PTE_LEAF, PTE_NONE, PTE_TABLE } from './pte.ts';

/** Page-table level of an entry: 1 = PTE (4 KiB), 2 = PMD (2 MiB), 3 = PUD (1 GiB), 4 = PGD. */
export type PtLevel = 1 | 2 | 3 | 4;

/** Base pages covered by one entry at each level (index = level). */
export const LEVEL_PAGES = [0, 1, 512, 512 * 512, 512 * 512 * 512] as const;

/** Index of the entry for virtual page number `vpn` in a table of `level`. */
export function levelIndex(vpn: number, level: PtLevel): number {
  return (vpn / LEVEL_PAGES[level]) & (PTRS_PER_TABLE - 1);
}

/** The pool of page-table pages. Entries are addressed by word offset: `lo` at `off`, `hi` at `off + 1`. */
export class PageTablePool {
  /** Two words per entry; re-read after any allocation (the array may grow). */
  words: Uint32Array;
  private capacity: number;
  private next = 1;
  private freeList: number[] = [];
  /** Arrays the pool outgrew, given back by {@link dispose}. */
  private retired: Uint32Array[] = [];
  /** Tables currently allocated. */
  inUse = 0;

  /**
   * @param initialTables tables to reserve before the first growth (few: a small machine stays
   *   cheap to build, and the pool doubles as it fills)
   */
  constructor(
    initialTables = 8,
    private readonly pool: BufferPool | null = null,
  ) {
    this.capacity = Math.max(2, initialTables);
    this.words = tableWords(this.capacity, pool);
  }

  /** Allocates a zeroed table and returns its index. */
  alloc(): number {
    this.inUse++;
    const t = this.freeList.pop();
    if (t !== undefined) return t;
    if (this.next === this.capacity) this.grow();
    return this.next++;
  }

  /** Returns a table to the pool (it must be all none). */
  free(t: number): void {
    const base = t * PTRS_PER_TABLE * 2;
    this.words.fill(0, base, base + PTRS_PER_TABLE * 2);
    this.freeList.push(t);
    this.inUse--;
  }

  /** Word offset of entry `i` of table `t`. */
  entryOffset(t: number, i: number): number {
    return (t * PTRS_PER_TABLE + i) * 2;
  }

  /** True when every entry of table `t` is none. */
  isEmpty(t: number): boolean {
    const w = this.words;
    const base = t * PTRS_PER_TABLE * 2;
    for (let i = base; i < base + PTRS_PER_TABLE * 2; i += 2) if (w[i] !== 0) return false;
    return true;
  }

  /** Bytes of page-table memory per entry. */
  static readonly BYTES_PER_ENTRY = 8;

  private grow(): void {
    const cap = this.capacity * 2;
    const w = tableWords(cap, this.pool);
    w.set(this.words);
    this.retired.push(this.words);
    this.words = w;
    this.capacity = cap;
  }

  /**
   * Gives the pool's memory back to the buffer pool (`Kernel.dispose`, once nothing can touch
   * the machine any more) and leaves an empty array in its place.
   */
  dispose(): void {
    if (this.capacity === 0) return;
    this.pool?.give(`page tables ${this.capacity}`, this.words, this.words.byteLength);
    for (const w of this.retired)
      this.pool?.give(`page tables ${w.length / (PTRS_PER_TABLE * 2)}`, w, w.byteLength);
    this.retired = [];
    this.words = new Uint32Array(0);
    this.capacity = 0;
    this.freeList = [];
  }
}

/** Zeroed words for `tables` tables (from the buffer pool when it has some). */
function tableWords(tables: number, pool: BufferPool | null): Uint32Array {
  const pooled = pool?.take<Uint32Array>(`page tables ${tables}`);
  return pooled !== undefined ? pooled.fill(0) : new Uint32Array(tables * PTRS_PER_TABLE * 2);
}

/** Result of the last {@link walkToLeaf}: the level at which the walk stopped. */
export let walkLevel: PtLevel = 4;

/**
 * Walks from `pgd` towards the PTE of `vpn`, stopping at the first entry that is not a table
 * pointer (none, a huge leaf, a non-present huge entry) or at the PTE. Returns that entry's word
 * offset; {@link walkLevel} tells its level.
 */
export function walkToLeaf(pool: PageTablePool, pgd: number, vpn: number): number {
  const w = pool.words;
  let t = pgd;
  let level: PtLevel = 4;
  for (;;) {
    const off = (t * PTRS_PER_TABLE + levelIndex(vpn, level)) * 2;
    if (level === 1) {
      walkLevel = 1;
      return off;
    }
    const lo = w[off]!;
    if ((lo & PTE_KIND_MASK) !== PTE_TABLE || (lo & PTE_LEAF) !== 0) {
      walkLevel = level;
      return off;
    }
    t = w[off + 1]!;
    level = (level - 1) as PtLevel;
  }
}

/**
 * Returns the word offset of the entry of `vpn` at `level`, allocating missing tables above it.
 * Returns -1 when a huge leaf or non-present huge entry above `level` is in the way (the caller
 * must split it first).
 */
export function ensureEntry(pool: PageTablePool, pgd: number, vpn: number, level: PtLevel): number {
  let t = pgd;
  for (let l: PtLevel = 4; ; l = (l - 1) as PtLevel) {
    const off = (t * PTRS_PER_TABLE + levelIndex(vpn, l)) * 2;
    if (l === level) return off;
    const lo = pool.words[off]!;
    const kind = lo & PTE_KIND_MASK;
    if (kind === PTE_NONE) {
      const nt = pool.alloc();
      pool.words[off] = PTE_TABLE;
      pool.words[off + 1] = nt;
      t = nt;
    } else if (kind === PTE_TABLE && (lo & PTE_LEAF) === 0) {
      t = pool.words[off + 1]!;
    } else return -1;
  }
}

/**
 * The word offset of the PTE of `vpn` under the PMD entry at word offset `pmdOff` (the PMD of
 * `vpn`), allocating the PTE table when that PMD is none; -1 when it holds anything but a table.
 * The last step of `ensureEntry(pool, pgd, vpn, 1)`, for a caller that already has the PMD.
 */
export function ensurePteUnderPmd(pool: PageTablePool, pmdOff: number, vpn: number): number {
  const lo = pool.words[pmdOff]!;
  const kind = lo & PTE_KIND_MASK;
  let t: number;
  if (kind === PTE_NONE) {
    t = pool.alloc();
    pool.words[pmdOff] = PTE_TABLE;
    pool.words[pmdOff + 1] = t;
  } else if (kind === PTE_TABLE && (lo & PTE_LEAF) === 0) t = pool.words[pmdOff + 1]!;
  else return -1;
  return (t * PTRS_PER_TABLE + levelIndex(vpn, 1)) * 2;
}

/** Returns the word offset of the entry of `vpn` at `level` without allocating, or -1 if a table is missing or a leaf is in the way. */
export function findEntry(pool: PageTablePool, pgd: number, vpn: number, level: PtLevel): number {
  const w = pool.words;
  let t = pgd;
  for (let l: PtLevel = 4; ; l = (l - 1) as PtLevel) {
    const off = (t * PTRS_PER_TABLE + levelIndex(vpn, l)) * 2;
    if (l === level) return off;
    const lo = w[off]!;
    if ((lo & PTE_KIND_MASK) !== PTE_TABLE || (lo & PTE_LEAF) !== 0) return -1;
    t = w[off + 1]!;
  }
}
