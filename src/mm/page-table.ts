/**
 * Page tables: a machine-wide pool of 512-entry tables in one typed array, 8 bytes per entry,
 * and the 4-level walk (PGD → PUD → PMD → PTE, with the P4D folded as on 4-level x86-64).
 * Table 0 is never handed out, so a zero payload never names a table.
 * @module
 */
import type { BufferPool } from './buffer-pool.ts';
import { PTRS_PER_TABLE } from './constants.ts';
import { PtWasm, ptWasmAvailable } from './pt-wasm/pt-walk.ts';
import { PTE_KIND_MASK, PTE_LEAF, PTE_NONE, PTE_TABLE } from './pte.ts';

/** Page-table level of an entry: 1 = PTE (4 KiB), 2 = PMD (2 MiB), 3 = PUD (1 GiB), 4 = PGD. */
export type PtLevel = 1 | 2 | 3 | 4;

/** Base pages covered by one entry at each level (index = level). */
export const LEVEL_PAGES = [0, 1, 512, 512 * 512, 512 * 512 * 512] as const;

/** Index of the entry for virtual page number `vpn` in a table of `level`. */
export function levelIndex(vpn: number, level: PtLevel): number {
  return (vpn * LEVEL_SCALE[level]) & (PTRS_PER_TABLE - 1);
}

/**
 * `1 / LEVEL_PAGES[level]`: exact (powers of two), so multiplying by it gives the quotient
 * bit for bit while costing a multiplication instead of a division on every step of a walk.
 */
const LEVEL_SCALE = [0, 1, 1 / 512, 1 / (512 * 512), 1 / (512 * 512 * 512)] as const;

/**
 * Tables a pool holds before it moves into WebAssembly memory as it grows: creating a memory and
 * an instance costs ~23 µs, more than a small machine (the explorer's) ever saves with it.
 */
export const PT_WASM_MIN_TABLES = 64;

/** The pool of page-table pages. Entries are addressed by word offset: `lo` at `off`, `hi` at `off + 1`. */
export class PageTablePool {
  /** Two words per entry; re-read after any allocation (the array may grow). */
  words: Uint32Array;
  /**
   * The WebAssembly memory holding {@link words} with the walk bound to it, or null while the
   * words are a plain array (a small pool, a host without WebAssembly SIMD, or `useWasm(false)`).
   */
  wasm: PtWasm | null = null;
  /** 'auto': move into WebAssembly memory when growing to PT_WASM_MIN_TABLES; else as `useWasm` said. */
  private wasmPolicy: 'auto' | 'always' | 'never' = 'auto';
  /** Bytes of the arena of `hmm_pfns` arrays each new WebAssembly memory gets. */
  private arenaBytes = 0;
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
    // Four entries per step, one test each (exit asks this of every table it frees).
    for (let i = base; i < base + PTRS_PER_TABLE * 2; i += 8)
      if ((w[i]! | w[i + 2]! | w[i + 4]! | w[i + 6]!) !== 0) return false;
    return true;
  }

  /** Bytes of page-table memory per entry. */
  static readonly BYTES_PER_ENTRY = 8;

  private grow(): void {
    this.moveTo(this.capacity * 2, this.wasmPolicy === 'always' || this.wantsWasm(this.capacity * 2));
  }

  private wantsWasm(tables: number): boolean {
    return this.wasmPolicy === 'auto' && tables >= PT_WASM_MIN_TABLES && ptWasmAvailable();
  }

  /**
   * Copies the words into new storage of `cap` tables: a new WebAssembly memory or a plain
   * array. Never grows a memory in place, which would detach views a parked thread may hold; the
   * old storage stays readable until {@link dispose}.
   */
  private moveTo(cap: number, wasm: boolean): void {
    const next = wasm ? new PtWasm(cap * PTRS_PER_TABLE * 2, this.arenaBytes) : null;
    const w = next !== null ? next.words : tableWords(cap, this.pool);
    w.set(this.words);
    if (this.wasm === null) this.retired.push(this.words);
    this.wasm = next;
    this.words = w;
    this.capacity = cap;
  }

  /**
   * An array of `n` zeroed `hmm_pfns` words for a driver: in the pool's WebAssembly memory when
   * the tables are there, so a snapshot walk writes it without copying; a plain array otherwise
   * (a small machine, or a host without WebAssembly SIMD). When the arena is full the pool moves
   * into a new memory with a larger one; arrays handed out before stay valid (their walks copy).
   */
  allocHmmPfns(n: number): BigUint64Array {
    if (this.wasm === null || n === 0) return new BigUint64Array(n);
    const a = this.wasm.allocWords(n);
    if (a !== null) return a;
    this.arenaBytes = Math.max(2 * this.arenaBytes, 2 * n * 8, 65536);
    this.moveTo(this.capacity, true);
    return this.wasm.allocWords(n)!;
  }

  /** Gives back an array of {@link allocHmmPfns} (plain arrays are left to the garbage collector). */
  freeHmmPfns(a: BigUint64Array): void {
    this.wasm?.freeWords(a);
  }

  /**
   * Moves the tables into WebAssembly memory (`true`, when the host has WebAssembly SIMD) or into
   * a plain array (`false`) now, and keeps them there as the pool grows; returns whether they
   * are in WebAssembly memory. Both walks describe every entry alike (the differential test of
   * hmmRangeFault); benchmarks and tests use this to compare them.
   */
  useWasm(on: boolean): boolean {
    if (this.capacity === 0) return false;
    const wasm = on && ptWasmAvailable();
    this.wasmPolicy = wasm ? 'always' : 'never';
    if (wasm !== (this.wasm !== null)) this.moveTo(this.capacity, wasm);
    return wasm;
  }

  /**
   * Gives the pool's memory back to the buffer pool (`Kernel.dispose`, once nothing can touch
   * the machine any more) and leaves an empty array in its place.
   */
  dispose(): void {
    if (this.capacity === 0) return;
    // A WebAssembly memory is not pooled: it is dropped with its instance.
    if (this.wasm === null)
      this.pool?.give(`page tables ${this.capacity}`, this.words, this.words.byteLength);
    this.wasm = null;
    for (const w of this.retired)
      this.pool?.give(`page tables ${w.length / (PTRS_PER_TABLE * 2)}`, w, w.byteLength);
    this.retired = [];
    this.words = NO_WORDS;
    this.capacity = 0;
    this.freeList = [];
  }
}

/** What a disposed pool holds: no table (shared; a zero-length typed array costs ~0.7 µs to create). */
const NO_WORDS = new Uint32Array(0);

/** Zeroed words for `tables` tables (from the buffer pool when it has some). */
function tableWords(tables: number, pool: BufferPool | null): Uint32Array {
  const pooled = pool?.take<Uint32Array>(`page tables ${tables}`);
  return pooled !== undefined ? pooled.fill(0) : new Uint32Array(tables * PTRS_PER_TABLE * 2);
}

/**
 * Walks from `pgd` towards the PTE of `vpn`, stopping at the first entry that is not a table
 * pointer (none, a huge leaf, a non-present huge entry) or at the PTE. Returns where it stopped
 * as one number, `offset * 8 + level` (read it with {@link leafOffset} and {@link leafLevel}), so
 * the result belongs to the caller and no state outlives the call. Offsets stay below 2^29 words
 * (2 GiB of page tables), so the packed value fits the 32 bits `leafOffset` reads.
 */
export function walkLeaf(pool: PageTablePool, pgd: number, vpn: number): number {
  const w = pool.words;
  let t = pgd;
  let level: PtLevel = 4;
  for (;;) {
    const off = (t * PTRS_PER_TABLE + levelIndex(vpn, level)) * 2;
    if (level === 1) return off * 8 + 1;
    const lo = w[off]!;
    if ((lo & PTE_KIND_MASK) !== PTE_TABLE || (lo & PTE_LEAF) !== 0) return off * 8 + level;
    t = w[off + 1]!;
    level = (level - 1) as PtLevel;
  }
}

/** The word offset of the entry a {@link walkLeaf} stopped at. */
export function leafOffset(leaf: number): number {
  return leaf >>> 3;
}

/** The level of the entry a {@link walkLeaf} stopped at. */
export function leafLevel(leaf: number): PtLevel {
  return (leaf & 7) as PtLevel;
}

/** The word offset of the entry {@link walkLeaf} stops at, for callers that need no level. */
export function walkToLeaf(pool: PageTablePool, pgd: number, vpn: number): number {
  return walkLeaf(pool, pgd, vpn) >>> 3;
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
