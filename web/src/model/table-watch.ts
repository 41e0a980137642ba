/**
 * Cheap change detection for the recorder. A CPU page state can only change when a page-table
 * word under it changes, so the recorder keeps a copy of the raw words it last decoded — per
 * 2 MiB stretch, the entry that covers it one level up (PMD, or PUD when there is no PMD table)
 * and, under a PMD table, the 512 PTEs — and decodes a stretch again only when a word differs.
 * A device entry can only change when the dmirror file's table is written, so the recorder
 * counts writes to that table. Nothing here trusts what the simulator says it changed: the words
 * and the table are compared or watched themselves.
 *
 * DOM-free and Node-free: it runs in the page's worker and in the Node tests.
 * @module
 */
import { PAGE_SIZE, PTRS_PER_TABLE } from '../../../src/mm/constants.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import { findEntry } from '../../../src/mm/page-table.ts';
import { PTE_KIND_MASK, PTE_LEAF, PTE_TABLE } from '../../../src/mm/pte.ts';

/** A stretch of a region inside one PTE table's span: `n` pages from `vpn`, flat index `o`. */
export interface Stretch {
  readonly vpn: number;
  readonly n: number;
  readonly o: number;
}

/** Splits `pages` pages from `addr` (flat index `at`) at 2 MiB boundaries. */
export function stretches(addr: number, pages: number, at: number): Stretch[] {
  const out: Stretch[] = [];
  const vpn0 = addr / PAGE_SIZE;
  let vpn = vpn0;
  const last = vpn0 + pages;
  while (vpn < last) {
    const n = Math.min(last - vpn, PTRS_PER_TABLE - (vpn % PTRS_PER_TABLE));
    out.push({ vpn, n, o: at + vpn - vpn0 });
    vpn += n;
  }
  return out;
}

/**
 * The raw words last seen under each stretch of the flat page array: three words per stretch
 * (level, entry lo, entry hi) and one 64-bit entry (PTE lo and hi) per page. The PTEs are
 * compared 64 bits at a time through a Float64Array view of the pool's words: two entries that
 * compare equal as doubles either have the same bits or are 0 and −0, which differ only in the
 * hi word of an entry whose lo word is 0 (none) — decoded the same; a NaN never compares equal,
 * so it only causes a needless decode.
 */
export class RawWords {
  private upper = new Uint32Array(0);
  private ptes = new Float64Array(0);
  private words: Uint32Array | null = null;
  private view: Float64Array | null = null;

  /** Makes room for `pages` flat pages and forgets everything seen (the next look differs). */
  reset(pages: number): void {
    this.upper = new Uint32Array(pages * 3).fill(0xffffffff);
    this.ptes = new Float64Array(pages);
  }

  /** Forgets everything seen. */
  forget(): void {
    this.upper.fill(0xffffffff);
  }

  /**
   * After {@link changed} returned true: the pages `[lo, hi)` of the stretch (offsets from its
   * first page) whose words may differ — the whole stretch when the entry above changed, else
   * the first to the last PTE that differs. Decoding only them is exact: a page's state depends
   * on its own PTE and the entries above it (and on the VMAs, whose changes force a full read).
   */
  lo = 0;
  hi = 0;

  /**
   * Whether the words under stretch `s` of `mm` differ from the last look (the first look
   * always differs); keeps the current words either way. The stretch's key is its flat index.
   */
  changed(mm: MmStruct, s: Stretch): boolean {
    this.lo = 0;
    this.hi = s.n;
    const pool = mm.kernel.pt;
    const w = pool.words;
    const u = s.o * 3;
    let level = 2;
    let off = findEntry(pool, mm.pgd, s.vpn, 2);
    if (off < 0) {
      level = 3;
      off = findEntry(pool, mm.pgd, s.vpn, 3);
    }
    const lo = off < 0 ? 0 : w[off]!;
    const hi = off < 0 ? 0 : w[off + 1]!;
    const up = this.upper;
    const differs = up[u] !== level || up[u + 1] !== lo || up[u + 2] !== hi;
    up[u] = level;
    up[u + 1] = lo;
    up[u + 2] = hi;
    if (level !== 2 || (lo & PTE_KIND_MASK) !== PTE_TABLE || (lo & PTE_LEAF) !== 0) return differs;
    if (w !== this.words) {
      // The pool grew (a new array): a fresh view, when its entries are 8-byte aligned.
      this.words = w;
      this.view = w.byteOffset % 8 === 0 ? new Float64Array(w.buffer, w.byteOffset, w.length >>> 1) : null;
    }
    const e = hi * PTRS_PER_TABLE + (s.vpn % PTRS_PER_TABLE);
    const p = this.ptes;
    const v = this.view;
    if (v === null) {
      // Unaligned words: always decode (correct, only slower).
      return true;
    }
    const n = s.n;
    const o = s.o;
    if (differs) {
      p.set(v.subarray(e, e + n), o);
      return true;
    }
    const first = firstDiff(v, e, p, o, n);
    if (first === n) return false;
    const last = lastDiff(v, e, p, o, n);
    // Only the PTEs between the first and the last difference need decoding (and keeping).
    p.set(v.subarray(e + first, e + last + 1), o + first);
    this.lo = first;
    this.hi = last + 1;
    return true;
  }
}

/** The first k < n with `a[i+k] !== b[j+k]`, or n (a tight loop the JIT keeps monomorphic). */
function firstDiff(a: Float64Array, i: number, b: Float64Array, j: number, n: number): number {
  let k = 0;
  while (k < n && a[i + k] === b[j + k]) k++;
  return k;
}

/** The last k < n with `a[i+k] !== b[j+k]` (there is one). */
function lastDiff(a: Float64Array, i: number, b: Float64Array, j: number, n: number): number {
  let k = n - 1;
  while (k > 0 && a[i + k] === b[j + k]) k--;
  return k;
}

/** The keys written to a watched table. */
export interface TableWrites {
  /** Lowest and highest key written between the last two {@link take}s (lo > hi: none). */
  readonly lo: number;
  readonly hi: number;
  /** Ends a period: {@link lo}/{@link hi} now cover the writes since the previous take. */
  take(): void;
  /** Removes the watch. */
  unwatch(): void;
}

/** A table keyed by numbers whose writes go through these methods (a Map, or `DmirrorPt`). */
export interface WatchableTable<V> {
  set(k: number, v: V): unknown;
  delete(k: number): boolean;
  clear(): void;
}

/**
 * Watches writes (`set`, `delete`, `clear`) to a Map keyed by numbers by wrapping those methods
 * on the instance, keeping the range of keys written (`clear`: all). The recorder watches each
 * dmirror file's device table (`dmirror->pt`, keyed by virtual page number) this way.
 */
export function watchMapWrites<V>(map: WatchableTable<V>): TableWrites {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  const out = { lo, hi } as { lo: number; hi: number } & TableWrites;
  const own = map as WatchableTable<V> & Record<'set' | 'delete' | 'clear', unknown>;
  const set = map.set;
  const del = map.delete;
  const clear = map.clear;
  own.set = (k: number, v: V) => {
    if (k < lo) lo = k;
    if (k > hi) hi = k;
    return set.call(map, k, v);
  };
  own.delete = (k: number) => {
    if (k < lo) lo = k;
    if (k > hi) hi = k;
    return del.call(map, k);
  };
  own.clear = () => {
    lo = Number.NEGATIVE_INFINITY;
    hi = Number.POSITIVE_INFINITY;
    clear.call(map);
  };
  out.take = () => {
    out.lo = lo;
    out.hi = hi;
    lo = Number.POSITIVE_INFINITY;
    hi = Number.NEGATIVE_INFINITY;
  };
  out.unwatch = () => {
    delete (own as Partial<typeof own>).set;
    delete (own as Partial<typeof own>).delete;
    delete (own as Partial<typeof own>).clear;
  };
  return out;
}
